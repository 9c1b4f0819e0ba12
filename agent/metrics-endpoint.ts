// The metrics endpoint: a thin HTTP face over agent/metrics.ts, on a TCP address or a unix socket, that exists
// only when the config has `metrics.listen`. GET /metrics answers the OpenMetrics text; nothing else is served.
// A unix socket left by an agent that did not stop cleanly is replaced; one that something answers on, or a file
// that is not a socket, is not.
import { chmodSync, existsSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createConnection } from "node:net";
import { describeListen, type AgentMetrics, type ListenAddress } from "./metrics.ts";
import { errorText, type Logger } from "./log.ts";

export class MetricsEndpoint {
  private constructor(
    private readonly server: Server,
    readonly listen: ListenAddress,
  ) {}

  /** Listens on `listen`; resolves undefined (and says why in the log) when it cannot. */
  static async open(listen: ListenAddress, metrics: AgentMetrics, log: Logger): Promise<MetricsEndpoint | undefined> {
    const server = createServer((request, response) => {
      const path = (request.url ?? "/").split("?")[0];
      if (path !== "/metrics") {
        response.writeHead(404, { "content-type": "text/plain" }).end("metrics are at /metrics\n");
        return;
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      metrics.exposition().then(
        (text) => response.writeHead(200, { "content-type": metrics.contentType }).end(request.method === "HEAD" ? undefined : text),
        (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${errorText(error)}\n`),
      );
    });
    try {
      await listenOn(server, listen);
    } catch (error) {
      // Only a socket file is ever replaced: a listen path that names anything else is a mistake in the config.
      const stale =
        "socket" in listen && (error as NodeJS.ErrnoException).code === "EADDRINUSE" && statSync(listen.socket).isSocket() && !(await answers(listen.socket));
      if (!stale) {
        log.error("metrics endpoint off: cannot listen", { listen: describeListen(listen), error: errorText(error) });
        return undefined;
      }
      unlinkSync(listen.socket);
      await listenOn(server, listen);
    }
    if ("socket" in listen) chmodSync(listen.socket, 0o660);
    log.info("metrics endpoint listening", { listen: describeListen(listen) });
    return new MetricsEndpoint(server, listen);
  }

  /** Stops answering (open scrapes are cut) and removes a unix socket file. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
    if ("socket" in this.listen && existsSync(this.listen.socket)) unlinkSync(this.listen.socket);
  }
}

function listenOn(server: Server, listen: ListenAddress): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once("error", reject);
    const listening = () => {
      server.off("error", reject);
      resolveListen();
    };
    if ("socket" in listen) server.listen(listen.socket, listening);
    else server.listen(listen.port, listen.host, listening);
  });
}

/** Whether something accepts connections on the unix socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolveAnswers) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.destroy();
      resolveAnswers(true);
    });
    socket.once("error", () => resolveAnswers(false));
  });
}

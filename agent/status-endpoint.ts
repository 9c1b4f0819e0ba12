// The running agent's local status endpoint: a unix socket (in systemd's RuntimeDirectory, /run/xedge) that
// answers every connection with one JSON document and closes it. `xedge status` asks it first, so it can say
// whether the agent runs and is online; only the service user's group and root may connect (mode 0660 in a 0750
// folder). A socket file left by a crashed agent is replaced; one that another live agent answers on is not.
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "./log.ts";
import { errorText } from "./log.ts";

export class StatusEndpoint {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  /**
   * Listens on `path`, answering each connection with `report()` as JSON. Resolves undefined (and says why in
   * the log) when it cannot: no folder for the socket, or another agent already answering there.
   */
  static async open(path: string, report: () => unknown, log: Logger): Promise<StatusEndpoint | undefined> {
    if (!existsSync(dirname(path))) {
      log.info("status endpoint off: its folder does not exist (systemd's RuntimeDirectory makes it; or set status.socket)", { socket: path });
      return undefined;
    }
    const server = createServer((socket) => {
      socket.on("error", () => undefined); // a client that hangs up early is its own business
      let answer: string;
      try {
        answer = `${JSON.stringify(report())}\n`;
      } catch (error) {
        answer = `${JSON.stringify({ error: errorText(error) })}\n`;
      }
      socket.end(answer);
    });
    try {
      await listen(server, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") {
        log.warn("status endpoint off: cannot listen", { socket: path, error: errorText(error) });
        return undefined;
      }
      if (await answers(path)) {
        log.error("status endpoint off: another agent answers on its socket (two agents on one config?)", { socket: path });
        return undefined;
      }
      unlinkSync(path); // left by an agent that did not stop cleanly
      await listen(server, path);
    }
    chmodSync(path, 0o660);
    return new StatusEndpoint(server, path);
  }

  /** Stops answering and removes the socket file. */
  async close(): Promise<void> {
    await new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
}

async function answers(path: string): Promise<boolean> {
  try {
    await queryStatus(path, 1000);
    return true;
  } catch {
    return false;
  }
}

/** Why the agent did not answer, in words for `xedge status`. */
export class NoAnswer extends Error {}

/** Asks the endpoint at `path` for its document; rejects with NoAnswer when nothing answers in time. */
export function queryStatus(path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolveQuery, reject) => {
    const socket = createConnection(path);
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NoAnswer(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const reason: Record<string, string> = { ENOENT: "no socket", ECONNREFUSED: "nothing listens on the socket", EACCES: "permission denied (run as root or the service user)" };
      reject(new NoAnswer(reason[error.code ?? ""] ?? error.message));
    });
    socket.on("end", () => {
      clearTimeout(timer);
      try {
        resolveQuery(JSON.parse(text));
      } catch {
        reject(new NoAnswer("the answer was not JSON"));
      }
    });
  });
}

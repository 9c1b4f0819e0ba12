// The metrics endpoint on a unix socket in a temp folder: what it answers, and the socket file's life.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MetricsEndpoint } from "./metrics-endpoint.ts";
import { AgentMetrics } from "./metrics.ts";
import { createLogger } from "./log.ts";

const logged: string[] = [];
const log = createLogger({ level: "info", json: true, write: (line) => logged.push(line) });

function ask(socketPath: string, method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolveAsk, reject) => {
    request({ socketPath, method, path }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolveAsk({ status: response.statusCode ?? 0, type: String(response.headers["content-type"]), body }));
    })
      .on("error", reject)
      .end();
  });
}

describe("MetricsEndpoint", () => {
  let dir: string;
  let metrics: AgentMetrics;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "xedge-metrics-endpoint-"));
    metrics = await AgentMetrics.create(["boiler"], { buffered: () => 0, online: () => false, failing: () => [], held: () => 0 });
  });
  after(() => {
    metrics.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers GET /metrics with the text, 404 elsewhere, 405 to other methods; removes its socket at close", async () => {
    const socket = join(dir, "a.sock");
    const endpoint = await MetricsEndpoint.open({ socket }, metrics, log);
    assert.ok(endpoint);
    try {
      assert.equal(statSync(socket).mode & 0o777, 0o660);
      const scraped = await ask(socket, "GET", "/metrics");
      assert.equal(scraped.status, 200);
      assert.equal(scraped.type, metrics.contentType);
      assert.match(scraped.body, /^xedge_readings_published_total\{sensor="boiler"\} 0$/m);
      assert.equal((await ask(socket, "GET", "/")).status, 404);
      assert.equal((await ask(socket, "POST", "/metrics")).status, 405);
    } finally {
      await endpoint.close();
    }
    assert.equal(existsSync(socket), false);
  });

  it("replaces a socket file nothing answers on; leaves one that something answers on, and any other file", async () => {
    const stale = join(dir, "stale.sock");
    // A socket bound and closed without unlinking, as a killed agent leaves it.
    execFileSync("/usr/bin/python3", ["-c", `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`]);
    assert.ok(statSync(stale).isSocket());
    const replaced = await MetricsEndpoint.open({ socket: stale }, metrics, log);
    assert.ok(replaced);
    assert.equal((await ask(stale, "GET", "/metrics")).status, 200);
    await replaced.close();

    const notASocket = join(dir, "xedge.yaml");
    writeFileSync(notASocket, "hardware: sim\n");
    assert.equal(await MetricsEndpoint.open({ socket: notASocket }, metrics, log), undefined);
    assert.equal(readFileSync(notASocket, "utf8"), "hardware: sim\n");

    const taken = join(dir, "taken.sock");
    const other = createServer();
    await new Promise<void>((resolveListen) => other.listen(taken, resolveListen));
    try {
      assert.equal(await MetricsEndpoint.open({ socket: taken }, metrics, log), undefined);
      assert.ok(logged.some((line) => line.includes("metrics endpoint off: cannot listen")));
      assert.ok(existsSync(taken), "the other listener's socket stays");
    } finally {
      await new Promise((resolveClose) => other.close(resolveClose));
    }
  });
});

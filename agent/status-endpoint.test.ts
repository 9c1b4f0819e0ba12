import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "./log.ts";
import { NoAnswer, queryStatus, StatusEndpoint } from "./status-endpoint.ts";

function recordingLog() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "info", json: true, write: (line) => lines.push(line) }) };
}

/** What a crash leaves: a process listening on `path`, killed with SIGKILL, so its socket file stays. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`]);
  await new Promise<void>((up) => child.stdout.once("data", () => up()));
  child.kill("SIGKILL");
  await once(child, "exit");
}

const folder = () => mkdtempSync(join(tmpdir(), "xedge-status-sock-"));

describe("StatusEndpoint", () => {
  it("answers each connection with the current report, on a socket only its group may use, removed on close", async () => {
    const path = join(folder(), "status.sock");
    let calls = 0;
    const endpoint = await StatusEndpoint.open(path, () => ({ online: true, calls: ++calls }), recordingLog().log);
    assert.ok(endpoint);
    assert.equal(statSync(path).mode & 0o777, 0o660);
    assert.deepEqual(await queryStatus(path, 2000), { online: true, calls: 1 });
    assert.deepEqual(await queryStatus(path, 2000), { online: true, calls: 2 }, "asked afresh each time");
    await endpoint.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(queryStatus(path, 2000), (error: unknown) => error instanceof NoAnswer && error.message === "no socket");
  });

  it("replaces a socket file left by an agent that died, but not one a live agent answers on", async () => {
    const dir = folder();
    const stale = join(dir, "stale.sock");
    await leaveStaleSocket(stale);
    assert.ok(existsSync(stale), "a killed process leaves its socket file behind");
    const replacing = await StatusEndpoint.open(stale, () => ({ who: "new" }), recordingLog().log);
    assert.ok(replacing, "the stale socket was replaced");
    assert.deepEqual(await queryStatus(stale, 2000), { who: "new" });

    const { lines, log } = recordingLog();
    assert.equal(await StatusEndpoint.open(stale, () => ({ who: "second" }), log), undefined);
    assert.match(lines.join("\n"), /another agent answers on its socket/);
    assert.deepEqual(await queryStatus(stale, 2000), { who: "new" }, "the first agent keeps its endpoint");
    await replacing.close();
  });

  it("stays off, saying why, when the socket's folder does not exist", async () => {
    const { lines, log } = recordingLog();
    assert.equal(await StatusEndpoint.open(join(folder(), "absent", "status.sock"), () => ({}), log), undefined);
    assert.match(lines.join("\n"), /status endpoint off: its folder does not exist/);
  });

  it("tells a client why nothing answered: a file that is no socket, nothing listening", async () => {
    const dir = folder();
    const plain = join(dir, "plain");
    writeFileSync(plain, "");
    await assert.rejects(queryStatus(plain, 2000), (error: unknown) => error instanceof NoAnswer && error.message === "nothing listens on the socket");
  });
});

// SIGHUP reloads the config of a running agent (the real bundle against a real Prosody): sensors come and go
// without a restart and without losing a buffered reading; a bad config is refused and the running one stays.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, runCli, writeAgentConfig, type LogLine } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { NotifySocket } from "../support/notify-socket.ts";
import { xml } from "../../agent/xmpp/client.ts";
import { Store, type StoreStatus } from "../../agent/store.ts";

const FAST_LINK = "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 1s }";
const AGENT = "gw1@localhost/edge";
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

const sensorLine = (id: string, driver: string, address: string, interval: string) =>
  `  - { id: ${id}, driver: ${driver}, i2c: { bus: 1, address: ${address} }, interval: ${interval} }`;

async function status(configFile: string): Promise<StoreStatus> {
  const result = await runCli(["status", "--json", "--config", configFile]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StoreStatus;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const lastSeq = (s: StoreStatus, sensorId: string) => s.sensors.find((sensor) => sensor.sensorId === sensorId)?.lastSeq ?? 0;

/** Sends SIGHUP and resolves with the log line that ends the reload ("config reloaded" or the refusal). */
async function hangUp(agent: AgentProcess): Promise<{ outcome: LogLine; lines: LogLine[] }> {
  const mark = agent.logs.length;
  agent.child.kill("SIGHUP");
  const outcome = await agent.waitForLog((line) => /^config reload(ed| refused; )/.test(line.message), 20_000, mark);
  return { outcome, lines: agent.logs.slice(mark) };
}

describe("config reload (SIGHUP) on prosody", () => {
  let server: XmppTestServer;
  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret", newop: "newop-secret" }, pubsubAdmins: ["gw1@localhost"] });
  });
  after(async () => {
    await server?.stop();
  });

  it("adds, removes and changes sensors without a restart, and publishes every buffered reading", async () => {
    const v1 = [
      sensorLine("stays", "bme280", "0x76", "200ms"),
      sensorLine("leaves", "sht3x", "0x44", "200ms"),
      sensorLine("changes", "bme280", "0x77", "1s"),
    ];
    const { file, dir } = writeAgentConfig(server, { xmppExtra: FAST_LINK, sensors: v1.join("\n") });
    const agent = AgentProcess.start(file);
    let ops = await Observer.connect(server, "ops", "ops-secret");
    try {
      await agent.waitForMessage("online", 30_000);
      await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/leaves"), (items) => items.length > 0, 20_000, "the first published readings");

      // Offline: readings pile up in the outbox, those of the sensor about to be removed among them.
      await server.stop({ keepData: true });
      await agent.waitForMessage("link lost", 20_000);
      const offlineAt = await status(file);
      await waitUntil(async () => lastSeq(await status(file), "leaves") >= lastSeq(offlineAt, "leaves") + 10, "a backlog", 20_000);

      const v2 = [sensorLine("newcomer", "sht3x", "0x45", "200ms"), v1[0]!, sensorLine("changes", "bme280", "0x77", "200ms")];
      writeAgentConfig(server, { xmppExtra: FAST_LINK, sensors: v2.join("\n") }, dir);
      const { outcome } = await hangUp(agent);
      assert.equal(outcome.message, "config reloaded");
      assert.equal(outcome.changes, "sensors added: newcomer; sensors removed: leaves; sensors changed: changes");
      assert.equal(agent.child.exitCode, null, "the agent did not restart");
      const reloadedAt = await status(file);
      assert.ok(reloadedAt.unsent > 0, "readings were still buffered at the reload");

      await waitUntil(async () => lastSeq(await status(file), "newcomer") >= 3, "the new sensor's readings", 20_000);
      const changesBefore = lastSeq(reloadedAt, "changes");
      await waitUntil(async () => lastSeq(await status(file), "changes") >= changesBefore + 5, "the changed sensor at its new interval", 20_000);

      const mark = agent.logs.length;
      await server.restart();
      ops = await Observer.connect(server, "ops", "ops-secret");
      await agent.waitForMessage("online", 30_000, mark);
      // Removing every sensor stops production, so the outbox can drain to empty while the agent runs on.
      writeAgentConfig(server, { xmppExtra: FAST_LINK, devices: "sensors: []" }, dir);
      assert.equal((await hangUp(agent)).outcome.changes, "sensors removed: newcomer, stays, changes");
      await waitUntil(async () => (await status(file)).unsent === 0, "the backlog to drain", 60_000);
      assert.equal(await agent.stop(), 0);

      const final = await status(file);
      assert.equal(lastSeq(final, "leaves"), lastSeq(reloadedAt, "leaves"), "the removed sensor stored nothing after the reload");
      assert.equal(final.unsent, 0);
      // Every reading each sensor ever committed is on its node exactly once: the removed sensor's backlog too.
      const store = await Store.open(join(dir, "xedge.db"), { commitIntervalMs: 60_000 });
      try {
        for (const sensorId of ["stays", "leaves", "changes", "newcomer"]) {
          const items = await ops.items(server.pubsubService, `xedge/gw1/${sensorId}`);
          const ids = items.map((item) => Number(item.id)).sort((a, b) => a - b);
          const committed = (await store.history(sensorId)).map((reading) => reading.seq).sort((a, b) => a - b);
          assert.ok(committed.length > 0, `${sensorId} has readings`);
          assert.deepEqual(ids, committed, `${sensorId}: every committed reading on its node, once`);
          assert.deepEqual(committed, Array.from({ length: committed.length }, (_, i) => i + 1), `${sensorId}: no gap in its sequence`);
        }
      } finally {
        await store.close();
      }
    } finally {
      await ops.close();
      await agent.stop();
    }
  });

  it("refuses a bad config with every problem, keeps running the old one, and applies new operators", async () => {
    const sensors = sensorLine("boiler", "bme280", "0x76", "200ms");
    const operators = [{ jid: "ops@localhost", role: "control" as const }];
    const { file, dir } = writeAgentConfig(server, { sensors, operators });
    // `xedge status` reads a config too: a good copy keeps it working while the agent's file is broken.
    const goodCopy = join(dir, "good.yaml");
    copyFileSync(file, goodCopy);
    const agent = AgentProcess.start(file);
    const newop = await Observer.connect(server, "newop", "newop-secret");
    try {
      await agent.waitForMessage("online", 30_000);
      const readout = () => newop.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr: "1", momentary: "true" }));
      await assert.rejects(readout(), (error: { condition?: string }) => error.condition === "forbidden", "not an operator yet");

      writeFileSync(
        file,
        [
          "hardware: sim",
          "xmpp: { jid: gw1@localhost, password: gw1-secret }",
          `store: { path: ${join(dir, "xedge.db")} }`,
          "sensors:",
          "  - { id: boiler, driver: bme999, interval: 200ms }",
          "  - { id: cellar, driver: sht3x, i2c: { bus: 1, address: 0x90 }, interval: 2 seconds }",
          "",
        ].join("\n"),
      );
      const refused = await hangUp(agent);
      assert.equal(refused.outcome.message, "config reload refused; the running config stays");
      const problems = refused.lines.filter((line) => line.level === "error" && line.message.startsWith("config reload refused: ")).map((line) => line.message);
      assert.ok(problems.some((p) => p.includes("sensors[0].driver")), problems.join("\n"));
      assert.ok(problems.some((p) => p.includes("sensors[1].i2c.address")), problems.join("\n"));
      assert.ok(problems.some((p) => p.includes("sensors[1].interval")), problems.join("\n"));
      assert.equal(refused.outcome.problems, problems.length);
      assert.ok(!refused.lines.some((line) => JSON.stringify(line).includes("gw1-secret")), "the password is never logged");

      const before = lastSeq(await status(goodCopy), "boiler");
      await waitUntil(async () => lastSeq(await status(goodCopy), "boiler") >= before + 5, "the old config still sampling", 20_000);
      assert.equal(agent.child.exitCode, null);

      writeAgentConfig(server, { sensors, operators: [...operators, { jid: "newop@localhost", role: "read" }] }, dir);
      const reloaded = await hangUp(agent);
      assert.equal(reloaded.outcome.message, "config reloaded");
      assert.equal(reloaded.outcome.changes, "operators: 2");
      const accepted = await readout();
      assert.ok(accepted.getChild("accepted", NS_SENSORDATA), `the new operator's readout is accepted: ${String(accepted)}`);
    } finally {
      await newop.close();
      await agent.stop();
    }
  });

  it("tells systemd RELOADING=1, then READY=1 once the reload is over, applied or refused", async () => {
    const { file, dir } = writeAgentConfig(server);
    const socket = await NotifySocket.listen(join(dir, "notify"));
    const agent = AgentProcess.start(file, { NOTIFY_SOCKET: socket.address });
    try {
      await socket.waitFor("READY=1", 30_000);
      assert.equal((await hangUp(agent)).outcome.message, "config reloaded");
      await socket.waitFor("READY=1", 10_000, 2);
      writeFileSync(file, "hardware: sim\nxmpp: {}\n");
      assert.equal((await hangUp(agent)).outcome.message, "config reload refused; the running config stays");
      await socket.waitFor("READY=1", 10_000, 3);
      const states = socket.assignments.filter((line) => /^(READY|RELOADING|STOPPING)=/.test(line));
      assert.deepEqual(states, ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1"]);
      // systemd 253 and later ignore RELOADING=1 without the monotonic time the reload started at.
      assert.equal(socket.assignments.filter((line) => /^MONOTONIC_USEC=\d+$/.test(line)).length, 2, JSON.stringify(socket.datagrams));
    } finally {
      await agent.stop();
      socket.close();
    }
  });
});

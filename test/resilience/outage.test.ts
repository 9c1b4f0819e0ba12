// Store-and-forward against the real servers: zero loss and zero duplicates across server crashes, agent
// crashes, a full store and a long outage.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer, type Item } from "../support/observer.ts";
import { assertNodeMatchesStore, bme280s, range, readHistory, status, waitUntil } from "../support/accounting.ts";
import { Store } from "../../agent/store.ts";

const FAST_LINK = "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 2s }";

for (const kind of serverKinds) {
  describe(`store-and-forward on ${kind}`, () => {
    // Items survive a server restart (Prosody: SQL storage on SQLite; ejabberd: mnesia).
    let server: XmppTestServer;
    before(async () => {
      server = await startServer(kind, { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    });
    after(async () => {
      await server?.stop();
    });

    it("loses and duplicates nothing when the server is killed mid-stream and restarted 10 s later", async () => {
      const { file, dir } = writeAgentConfig(server, { xmppExtra: FAST_LINK, sensors: bme280s("s", 2, "100ms", "20s") });
      const agent = AgentProcess.start(file);
      let ops = await Observer.connect(server, "ops", "ops-secret");
      const notified: Item[][] = [];
      try {
        await agent.waitForMessage("online", 30_000);
        for (const sensor of ["s1", "s2"]) {
          await ops.until(() => ops.items(server.pubsubService, `xedge/gw1/${sensor}`), (items) => items.length > 0, 20_000, `node ${sensor}`);
          await ops.subscribe(server.pubsubService, `xedge/gw1/${sensor}`);
        }
        await ops.until(() => ops.notifications.length, (n) => n >= 20, 20_000, "a stream of notifications");
        server.signal("SIGKILL");
        const killedAt = Date.now();
        notified.push(ops.notifications);
        await agent.waitForMessage("link lost", 20_000);
        await new Promise((r) => setTimeout(r, 10_000));
        // Hold the agent while the server comes back, so the subscriber is listening before the replay starts.
        agent.child.kill("SIGSTOP");
        await server.restart();
        ops = await Observer.connect(server, "ops", "ops-secret");
        agent.child.kill("SIGCONT");
        const mark = agent.logs.length;
        await agent.waitForMessage("online", 30_000, mark);
        await waitUntil(async () => (await status(file)).unsent === 0, "the backlog to drain", 60_000);
        assert.equal(await agent.stop(), 0);
        notified.push(ops.notifications);
        const history = await readHistory(join(dir, "xedge.db"));
        for (const sensor of ["s1", "s2"]) {
          const last = await assertNodeMatchesStore(ops, server, join(dir, "xedge.db"), sensor);
          // The subscriber saw the readings in order; re-sent items may repeat an id. The only ids it may have
          // missed are ones the server accepted just before it was killed: it died before notifying them.
          const stream = notified.flat().filter((item) => item.payload?.getChild("node")?.attrs.nodeId === sensor).map((item) => Number(item.id));
          const firstSeen = stream.filter((id, i) => stream.indexOf(id) === i);
          assert.deepEqual(firstSeen, [...firstSeen].sort((a, b) => a - b), `${sensor}: notifications in order`);
          const missed = range(firstSeen[0]!, last).filter((id) => !firstSeen.includes(id));
          const acceptedBeforeKill = (id: number) => (history.get(`${sensor}/${id}`)?.getTime() ?? Infinity) <= killedAt;
          assert.deepEqual(missed.filter((id) => !acceptedBeforeKill(id)), [], `${sensor}: every reading published after the restart was notified`);
          assert.ok(missed.length <= 5, `${sensor}: only the last moments before the kill may go unnotified (${missed.join(",")})`);
        }
      } finally {
        agent.child.kill("SIGCONT");
        await agent.stop();
        await ops.close();
      }
    });

    it("loses and duplicates nothing when the agent is killed -9 at random moments, eleven times", async () => {
      const { file, dir } = writeAgentConfig(server, { xmppExtra: FAST_LINK, sensors: bme280s("k", 2, "50ms", "3s") });
      for (let round = 0; round < 11; round++) {
        const agent = AgentProcess.start(file);
        await agent.waitForMessage("agent started", 10_000);
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 2200));
        assert.equal(await agent.stop("SIGKILL"), null);
      }
      const agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
      await waitUntil(async () => (await status(file)).unsent === 0, "the backlog to drain", 60_000);
      assert.equal(await agent.stop(), 0);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        for (const sensor of ["k1", "k2"]) {
          const last = await assertNodeMatchesStore(ops, server, join(dir, "xedge.db"), sensor);
          assert.ok(last > 30, `${sensor}: ${last} readings over the rounds`);
        }
      } finally {
        await ops.close();
      }
    });

    it("drops the oldest unsent readings past maxReadings while offline, counts them, and drains the rest", async () => {
      const { file, dir } = writeAgentConfig(server, {
        xmppExtra: FAST_LINK,
        sensors: bme280s("full", 1, "20ms", "4s"),
      });
      // The agent starts while the server is down: everything it samples stays in the outbox.
      await server.stop({ keepData: true });
      writeFileSync(file, readFileSync(file, "utf8").replace("store:\n", "store:\n  maxReadings: 50\n"));
      const offline = AgentProcess.start(file);
      await offline.waitForLog((line) => line.message === "store full: dropped the oldest unsent readings" && Number(line.total) >= 100, 30_000);
      assert.equal(await offline.stop(), 0, "the agent kept running while dropping");
      const full = await status(file);
      const lastSeq = full.sensors[0]!.lastSeq;
      assert.equal(full.unsent, 50);
      assert.equal(full.dropped, lastSeq - 50, "every reading past the bound is counted");

      await server.restart();
      // This time the sensor is unplugged from the start: the run only drains what the offline run kept.
      writeFileSync(file, readFileSync(file, "utf8").replace("at: 4s", "at: 0s"));
      const online = AgentProcess.start(file);
      await online.waitForMessage("online", 30_000);
      await waitUntil(async () => (await status(file)).unsent === 0, "the outbox to drain", 60_000);
      assert.equal(await online.stop(), 0);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        await assertNodeMatchesStore(ops, server, join(dir, "xedge.db"), "full1", lastSeq - 49);
        assert.equal((await status(file)).dropped, lastSeq - 50, "the counter survives restarts");
      } finally {
        await ops.close();
      }
    });

    it("drains a 10-minute outage of 20 sensors at 1 Hz (12,000 readings): all present, none twice", async () => {
      const { file, dir } = writeAgentConfig(server, { xmppExtra: FAST_LINK, sensors: bme280s("o", 20, "1s", "0s") });
      // The backlog a 10-minute outage leaves: 600 readings per sensor, one per second, committed unsent.
      const store = await Store.open(join(dir, "xedge.db"), { commitIntervalMs: 60_000 });
      const start = Date.now() - 600_000;
      for (let second = 0; second < 600; second++) {
        for (let sensor = 1; sensor <= 20; sensor++) {
          store.append({
            sensorId: `o${sensor}`,
            timestamp: new Date(start + second * 1000),
            fields: [{ type: "numeric", name: "temperature", value: 20 + sensor + second / 600, unit: "°C", decimals: 2 }],
          });
        }
      }
      await store.close();
      assert.equal((await status(file)).unsent, 12_000);
      const agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
      // A ceiling, not a speed test (the drain's speed is a benchmark figure): 34-55 s on a quiet machine, over
      // 120 s when other builds share the two cores.
      await waitUntil(async () => (await status(file)).unsent === 0, "12,000 readings to drain", 300_000);
      assert.equal(await agent.stop(), 0);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        for (let sensor = 1; sensor <= 20; sensor++) {
          const last = await assertNodeMatchesStore(ops, server, join(dir, "xedge.db"), `o${sensor}`);
          assert.ok(last >= 600);
        }
      } finally {
        await ops.close();
      }
    });
  });
}

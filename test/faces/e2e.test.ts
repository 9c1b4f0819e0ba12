// One reading end to end, on the real servers: sim BME280 → sampler → SQLite → pubsub node, read back by an
// operator's client. Also the link's behaviour: restart, frozen server, untrusted certificate.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer, type Item } from "../support/observer.ts";
import { createUntrustedCa } from "../support/tls.ts";
import { xml } from "../../agent/xmpp/client.ts";

const NODE = "xedge/gw1/boiler";
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

function ids(items: Item[]): number[] {
  return items.map((item) => Number(item.id));
}

function assertConsecutiveFromOne(values: number[], what: string): void {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  assert.deepEqual(sorted, sorted.map((_, i) => i + 1), `${what} should be 1..N without gaps: ${sorted.join(",")}`);
}

for (const kind of serverKinds) {
  describe(`end to end on ${kind}`, () => {
    let server: XmppTestServer;

    before(async () => {
      // No stream management on this server: dead-link detection must not depend on it.
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", ops: "ops-secret" },
        pubsubAdmins: ["gw1@localhost"],
        streamManagement: false,
      });
    });
    after(async () => {
      await server?.stop();
    });

    it("publishes readings whose item ids are consecutive and continue, never reused, after a restart", async () => {
      const { file } = writeAgentConfig(server);
      const first = AgentProcess.start(file);
      await first.waitForMessage("online", 30_000);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        await ops.until(() => ops.items(server.pubsubService, NODE), (items) => items.length >= 2, 20_000, "the node's first items");
        await ops.subscribe(server.pubsubService, NODE);
        await ops.until(() => ops.notifications.length, (n) => n >= 5, 20_000, "five notifications");
        assert.equal(await first.stop("SIGTERM"), 0, "SIGTERM ends the agent with exit code 0");
        const beforeRestart = await ops.items(server.pubsubService, NODE);
        const lastBefore = Math.max(...ids(beforeRestart));

        const second = AgentProcess.start(file);
        await second.waitForMessage("online", 30_000);
        await ops.until(() => ids(ops.notifications), (seen) => seen.some((id) => id >= lastBefore + 5), 20_000, "notifications after the restart");
        assert.equal(await second.stop("SIGTERM"), 0);

        const items = await ops.items(server.pubsubService, NODE);
        assertConsecutiveFromOne(ids(items), "item ids on the node");
        assert.equal(new Set(ids(items)).size, items.length, "no item id appears twice on the node");
        assertConsecutiveFromOne(ids(ops.notifications).concat(ids(items).filter((id) => id < Number(ops.notifications[0]?.id))), "notified ids");
        // The ids seen before the restart still hold the same readings: nothing was reused for a new one.
        for (const old of beforeRestart) {
          const now = items.find((item) => item.id === old.id);
          assert.equal(now?.payload?.toString(), old.payload?.toString(), `item ${old.id} unchanged after the restart`);
        }
        // The payload is the XEP-0323 rendering of the reading (docs/protocols.md).
        const sample = items.at(-1)?.payload;
        if (!sample?.is("fields", NS_SENSORDATA)) assert.fail(`payload is <fields xmlns='urn:xmpp:iot:sensordata'>: ${String(sample)}`);
        assert.equal(sample.attrs.seqnr, items.at(-1)?.id);
        assert.equal(sample.attrs.done, "true");
        const node = sample.getChild("node");
        assert.equal(node?.attrs.nodeId, "boiler");
        const timestamp = node?.getChild("timestamp");
        assert.match(String(timestamp?.attrs.value), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        const names = timestamp?.getChildren("numeric").map((field) => String(field.attrs.name));
        assert.deepEqual(names?.sort(), ["humidity", "pressure", "temperature"]);
        const temperature = timestamp?.getChildren("numeric").find((field) => field.attrs.name === "temperature");
        assert.equal(temperature?.attrs.unit, "°C");
        assert.ok(Math.abs(Number(temperature?.attrs.value) - 21) <= 3.2, `simulated temperature ${String(temperature?.attrs.value)} is near 21 °C`);
      } finally {
        await ops.close();
      }
    });

    it("answers disco#info and XEP-0199 ping on its full JID", async () => {
      const { file } = writeAgentConfig(server);
      const agent = AgentProcess.start(file);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        await agent.waitForMessage("online", 30_000);
        const info = await ops.iq("get", "gw1@localhost/edge", xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
        const query = info.getChild("query", "http://jabber.org/protocol/disco#info");
        const features = query?.getChildren("feature").map((f) => String(f.attrs.var));
        assert.ok(features?.includes("urn:xmpp:ping"), `features: ${features?.join(", ")}`);
        assert.ok(features?.includes("http://jabber.org/protocol/disco#info"));
        assert.deepEqual(query?.getChild("identity")?.attrs, { category: "client", type: "bot", name: "xedge" });
        const pong = await ops.iq("get", "gw1@localhost/edge", xml("ping", { xmlns: "urn:xmpp:ping" }));
        assert.equal(pong.attrs.type, "result");
        assert.equal(pong.attrs.from, "gw1@localhost/edge");
      } finally {
        await ops.close();
        assert.equal(await agent.stop(), 0);
      }
    });

    it("reconnects after the server is restarted, backing off more while it is down", async () => {
      const { file } = writeAgentConfig(server, { xmppExtra: "  reconnect: { initialDelay: 200ms, maxDelay: 5s }" });
      const agent = AgentProcess.start(file);
      try {
        await agent.waitForMessage("online", 30_000);
        const mark = agent.logs.length;
        await server.stop({ keepData: true });
        await agent.waitForMessage("link lost", 20_000, mark);
        // Four failed attempts while the server is down: each delay's ceiling doubles (200, 400, 800, 1600 ms).
        await agent.waitForLog((line) => line.message === "reconnecting" && line.attempt === 4, 30_000, mark);
        const delays = agent.logs.slice(mark).filter((line) => line.message === "reconnecting").map((line) => Number(line.inMs));
        assert.ok(delays.length >= 4);
        assert.ok(delays[3]! > delays[0]!, `backoff grows: ${delays.join(", ")} ms`);
        assert.ok(delays[3]! >= 800 && delays[3]! <= 1600, `4th delay within its jittered range: ${delays[3]} ms`);
        const beforeRestart = agent.logs.length;
        await server.restart();
        await agent.waitForMessage("online", 30_000, beforeRestart);
        // Publishing resumes on the new session.
        const published = agent.logs.length;
        const ops = await Observer.connect(server, "ops", "ops-secret");
        try {
          await ops.until(() => ops.items(server.pubsubService, NODE), (items) => items.length > 0, 20_000, "items after the restart");
        } finally {
          await ops.close();
        }
        assert.ok(agent.logs.slice(published).every((line) => line.message !== "publish failed" || line.level !== "error"));
      } finally {
        assert.equal(await agent.stop(), 0);
      }
    });

    it("detects a silent link (server frozen with SIGSTOP) by ping timeout and reconnects when it thaws", async () => {
      const { file } = writeAgentConfig(server, { xmppExtra: "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 2s }" });
      const agent = AgentProcess.start(file);
      try {
        await agent.waitForMessage("online", 30_000);
        const mark = agent.logs.length;
        server.signal("SIGSTOP");
        try {
          const lost = await agent.waitForMessage("link lost", 10_000, mark);
          assert.match(String(lost.reason), /no answer to a ping within 500 ms/);
        } finally {
          server.signal("SIGCONT");
        }
        await agent.waitForMessage("online", 60_000, mark);
      } finally {
        assert.equal(await agent.stop(), 0);
      }
    });

    it("refuses a certificate it cannot verify with a clear error, and never goes online", async () => {
      const other = await createUntrustedCa(server.dir);
      for (const options of [{ withoutCaFile: true }, { caFile: other.caFile }]) {
        const { file } = writeAgentConfig(server, options);
        const agent = AgentProcess.start(file);
        try {
          const failed = await agent.waitForMessage("connection failed", 20_000);
          assert.match(String(failed.error), /^TLS: the server's certificate for localhost is not trusted \(\w+\); .*xmpp\.caFile/);
          assert.ok(!agent.logs.some((line) => line.message === "online"), "never online with an untrusted certificate");
        } finally {
          assert.equal(await agent.stop(), 0);
        }
      }
    });
  });
}

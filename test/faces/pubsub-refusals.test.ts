// What the agent does when the pubsub service says no, on real servers: an account that may publish to nodes
// made by someone else but may not create or configure them, and a reading the service refuses for good.
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, runCli, writeAgentConfig, type LogLine } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { xml } from "../../agent/xmpp/client.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_OWNER = "http://jabber.org/protocol/pubsub#owner";

const nodeConfig = (values: Record<string, string>) =>
  xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#node_config`)),
    ...Object.entries(values).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))),
  );

/** 1, 2, …, n: every reading once, in order. */
const oneToN = (ids: number[]) => ids.map((_, n) => n + 1);

const publishFailures = (agent: AgentProcess) => agent.logs.filter((line: LogLine) => line.message === "publish failed");

for (const kind of serverKinds) {
  describe(`a publisher-only account on ${kind}`, () => {
    let server: XmppTestServer;
    before(async () => {
      // Only "owner" may create nodes (Prosody: admins of the component; ejabberd: access_createnode).
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", owner: "owner-secret" },
        pubsubAdmins: ["owner@localhost"],
        nodeCreation: "admins",
      });
    });
    after(async () => {
      await server?.stop();
    });

    it("publishes to the node its owner made, in order and once each, and says once what the node keeps", async () => {
      const owner = await Observer.connect(server, "owner", "owner-secret");
      const nodes = ["xedge/gw1/boiler", "xedge/gw1/cellar"];
      try {
        for (const node of nodes) {
          await owner.iq("set", server.pubsubService, xml("pubsub", { xmlns: NS_PUBSUB }, xml("create", { node }), xml("configure", {}, nodeConfig({ "pubsub#max_items": "500", "pubsub#access_model": "whitelist" }))));
          await owner.iq(
            "set",
            server.pubsubService,
            xml("pubsub", { xmlns: NS_OWNER }, xml("affiliations", { node }, xml("affiliation", { jid: "gw1@localhost", affiliation: "publisher" }))),
          );
          await owner.subscribe(server.pubsubService, node);
        }
        const { file } = writeAgentConfig(server, {
          sensors: [
            "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }",
            "  - { id: cellar, driver: ds18b20, onewire: {}, interval: 200ms }",
          ].join("\n"),
        });
        writeFileSync(file, readFileSync(file, "utf8").replace("pubsub:\n", "pubsub:\n  accessModel: open\n"));
        const agent = AgentProcess.start(file);
        try {
          const boiler = () => owner.notifications.filter((item) => item.payload?.getChild("node")?.attrs.nodeId === "boiler").map((item) => Number(item.id));
          await owner.until(() => boiler(), (ids) => ids.length >= 10, 30_000, "ten readings of boiler");
          const ids = boiler();
          assert.deepEqual(ids, oneToN(ids), "boiler's readings arrive in order, each once");
          const cellar = owner.notifications.filter((item) => item.payload?.getChild("node")?.attrs.nodeId === "cellar").map((item) => Number(item.id));
          assert.ok(cellar.length > 0, "cellar publishes too");
          assert.deepEqual(cellar, oneToN(cellar), "cellar's readings arrive in order, each once");
          const notices = agent.logs.filter((line) => line.level === "warn" && /does not let gw1@localhost create or configure node/.test(line.message));
          assert.equal(notices.length, 2, `one notice per node: ${notices.map((line) => line.message).join("\n")}`);
          for (const node of nodes) {
            const notice = notices.find((line) => line.message.includes(`node ${node} (`));
            assert.ok(notice, `a notice for ${node}`);
            // Both servers disclose the access model in the node's meta-data, neither its persistence nor its size.
            assert.match(
              notice.message,
              /\(forbidden(: [^)]*)?\): publishing to it without publish-options, so it keeps its owner's configuration; differs from the pubsub settings: access_model whitelist \(wanted open\); not disclosed by the service: persist_items \(wanted true\), max_items \(wanted 1000\)$/,
            );
          }
          assert.deepEqual(publishFailures(agent).map((line) => line.error), [], "no publish failed");
        } finally {
          assert.equal(await agent.stop(), 0);
        }
        const status = JSON.parse((await runCli(["status", "--json", "--config", file])).stdout) as { unsent: number };
        assert.ok(status.unsent <= 2, `the outbox drained (${status.unsent} left at stop)`);
      } finally {
        await owner.close();
      }
    });
  });
}

describe("a reading the service refuses for good on ejabberd (payload-too-big)", () => {
  let server: XmppTestServer;
  before(async () => {
    // ejabberd measures a payload as its Erlang term (term_to_binary): a ds18b20 reading (one field) is about
    // 400 bytes, a bme280 one (three fields) about 700.
    server = await startServer("ejabberd", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"], maxPayloadSize: 550 });
  });
  after(async () => {
    await server?.stop();
  });

  it("sets the too-big readings aside, reports them, and the other sensor keeps publishing in order", async () => {
    const { file } = writeAgentConfig(server, {
      sensors: [
        "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }",
        "  - { id: cellar, driver: ds18b20, onewire: {}, interval: 200ms }",
      ].join("\n"),
    });
    const agent = AgentProcess.start(file);
    const ops = await Observer.connect(server, "ops", "ops-secret");
    let setAsideLogged: LogLine[] = [];
    try {
      const items = await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/cellar"), (found) => found.length >= 10, 30_000, "ten cellar items");
      const ids = items.map((item) => Number(item.id)).sort((a, b) => a - b);
      assert.deepEqual(ids, oneToN(ids), "cellar's readings are all there, each once");
      await agent.waitForLog((line) => line.message.startsWith("reading set aside") && line.sensor === "boiler" && line.seq === 3, 20_000);
      setAsideLogged = agent.logs.filter((line) => line.message.startsWith("reading set aside"));
      assert.match(String(setAsideLogged[0]?.error), /^pubsub\.localhost refuses this reading for node xedge\/gw1\/boiler for good \(not-acceptable, payload-too-big/);
      assert.ok(setAsideLogged.every((line) => line.sensor === "boiler"), "only boiler's readings are refused");
      const seqs = setAsideLogged.map((line) => Number(line.seq));
      assert.deepEqual(seqs, oneToN(seqs), "each boiler reading is refused once, in order: none blocks the next");
      assert.deepEqual(publishFailures(agent), [], "a refusal is not a failure to retry");
    } finally {
      await ops.close();
      assert.equal(await agent.stop(), 0);
    }
    const human = await runCli(["status", "--config", file]);
    assert.match(human.stdout, /^set aside: +\d+ \(refused by the pubsub service for good; newest: boiler #\d+ at .*payload-too-big/m);
    const status = JSON.parse((await runCli(["status", "--json", "--config", file])).stdout) as {
      unsent: number;
      setAside: number;
      sensors: { sensorId: string; lastSeq: number; setAside?: number }[];
    };
    const boiler = status.sensors.find((sensor) => sensor.sensorId === "boiler");
    assert.ok(status.setAside >= setAsideLogged.length, `every refused reading is counted (${status.setAside})`);
    assert.equal(boiler?.setAside, status.setAside);
    assert.ok(status.unsent <= 4, `the outbox drained (${status.unsent} left at stop)`);
  });
});

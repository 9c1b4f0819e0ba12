// Sensor data in the urn:nf:iot:sd:1.0 dialect on the real servers: the running agent (sim hardware) answers the
// requests the dialect's reference client sends, and an independent client (slixmpp, test/faces/interop/
// slix_nf_sensordata.py) reads the answers as that client reads them.
//
// The fixtures are built as IoTGateway's Networking/Waher.Networking.XMPP.Sensor/SensorClient.cs (commit
// d7a0bab6af0dbad025b41e4f986882230f706c86) builds them: RequestReadout writes <req xmlns='urn:nf:iot:sd:1.0'
// id='<GUID without dashes>'> with the one-letter types set to 'true' (or all='true'), from/to/when only when
// given, then <nd id/> and <f n/>; it sends it as an iq get and takes <accepted>, <started> or <resp> in the result.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { runSlixScript } from "../support/slix.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { Store } from "../../agent/store.ts";

const NF = "urn:nf:iot:sd:1.0";
const IEEE = "urn:ieee:iot:sd:1.0";
const AGENT = "gw1@localhost/edge";

const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }
  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 }, interval: 200ms, sim: { faults: [{ kind: eio }] } }
  - { id: archive, driver: bme280, i2c: { bus: 2, address: 0x76 }, interval: 1h, sim: { faults: [{ kind: unplug }] } }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }`;

/** The archive's stored readings: one every 10 s for 20 minutes, starting on a minute an hour ago. */
const ARCHIVE_START = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
const archive = Array.from({ length: 120 }, (_, i) => ({ timestamp: new Date(ARCHIVE_START + i * 10_000), value: 20 + ((i * 7) % 13) / 4 }));

/** The id SensorClient.cs gives a request: a GUID without its dashes. */
const guid = () => randomUUID().replaceAll("-", "");

/** A <req> as RequestReadout writes it. */
function req(ns: string, id: string, attrs: Record<string, string>, nodes: string[] = [], fields: string[] = []): Element {
  return xml("req", { xmlns: ns, id, ...attrs }, ...nodes.map((node) => xml("nd", { id: node })), ...fields.map((n) => xml("f", { n })));
}

/** An operator's XMPP client that keeps every message it receives. */
class Requester {
  readonly messages: Element[] = [];
  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("message")) this.messages.push(stanza);
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Requester> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "probe", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new Requester(client);
  }

  /** Sends an iq to the agent and resolves with the whole reply (rejects with the StanzaError of an error reply). */
  iq(child: Element, type: "get" | "set" = "get"): Promise<Element> {
    return this.client.request(xml("iq", { type, to: AGENT }, child), 10_000);
  }

  async payload(child: Element, type: "get" | "set" = "get"): Promise<Element | undefined> {
    return (await this.iq(child, type)).getChildElements()[0];
  }

  /** The dialect's elements received in messages for readout `id`, in order. */
  received(id: string): Element[] {
    return this.messages.flatMap((m) => m.getChildElements().filter((child) => (child.attrs.xmlns === NF || child.attrs.xmlns === IEEE) && child.attrs.id === id));
  }

  /** Waits for the end of readout `id` (a <resp> without more, or a <done/>) and returns what came for it. */
  async finished(id: string, timeoutMs = 10_000): Promise<Element[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received(id);
      if (got.some((el) => el.name === "done" || (el.name === "resp" && el.attrs.more !== "true"))) return got;
      if (Date.now() > deadline) throw new Error(`readout ${id} did not finish; got: ${got.map(String).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

/** node id → its <ts> elements across the <resp> elements given. */
function timestamps(responses: Element[], nodeId: string): Element[] {
  return responses.flatMap((resp) => resp.getChildren("nd").filter((nd) => nd.attrs.id === nodeId)).flatMap((nd) => nd.getChildren("ts"));
}

function nodeIds(responses: Element[]): string[] {
  return [...new Set(responses.flatMap((resp) => resp.getChildren("nd").map((nd) => String(nd.attrs.id))))];
}

async function rejection(promise: Promise<unknown>): Promise<{ type: string; condition: string; text: string }> {
  try {
    await promise;
  } catch (error) {
    const { type, condition, text } = error as { type?: string; condition?: string; text?: string };
    return { type: String(type), condition: String(condition), text: String(text) };
  }
  throw new Error("expected an iq error");
}

interface NfField {
  node: string | null;
  timestamp: string;
  element: string;
  name: string;
  value: string;
  unit?: string;
  writable: boolean;
  types: string[];
  qos: string[];
}

interface NfReadoutEvent {
  event: string;
  scenario?: string;
  answer?: string | null;
  answer_ns?: string;
  id_matches?: boolean;
  queued?: boolean;
  done?: boolean;
  timeout?: boolean;
  messages?: string[];
  fields?: NfField[];
  dropped?: NfField[];
  errors?: { node: string | null; timestamp: string; text: string }[];
  condition?: string;
  type?: string;
  text?: string;
  cancel_result?: string;
  cancel_payload?: string[];
  error?: string;
}

/** Runs test/faces/interop/slix_nf_sensordata.py as `user`; resolves with its JSON lines. */
function slixNfReadouts(server: XmppTestServer, user: string, momentary: string[], history: { node: string; from: Date; to: Date }): Promise<NfReadoutEvent[]> {
  return runSlixScript<NfReadoutEvent>("slix_nf_sensordata.py", server, user, AGENT, [momentary.join(","), history.node, history.from.toISOString(), history.to.toISOString()]);
}

for (const kind of serverKinds) {
  describe(`urn:nf:iot:sd readout on ${kind}`, () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    let ops: Requester;

    before(async () => {
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", ops: "ops-secret", viewer: "viewer-secret", stranger: "stranger-secret" },
        pubsubAdmins: ["gw1@localhost"],
      });
      const { file, dir } = writeAgentConfig(server, {
        devices: DEVICES,
        operators: [
          { jid: "ops@localhost", role: "control" },
          { jid: "viewer@localhost", role: "read" },
        ],
      });
      const store = await Store.open(join(dir, "xedge.db"), { commitIntervalMs: 60_000 });
      for (const { timestamp, value } of archive) {
        store.append({ sensorId: "archive", timestamp, fields: [{ type: "numeric", name: "temperature", value, unit: "°C", decimals: 2, flags: { momentary: true } }] });
      }
      await store.close();
      agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
      ops = await Requester.connect(server, "ops");
      // Until the first samples are in, the sensors answer "no reading yet".
      await new Promise((r) => setTimeout(r, 1000));
    });
    after(async () => {
      await ops?.close();
      if (agent) assert.equal(await agent.stop(), 0);
      await server?.stop();
    });

    it("announces both namespaces in disco#info, beside XEP-0323", async () => {
      const info = await ops.payload(xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
      const features = info?.getChildren("feature").map((feature) => String(feature.attrs.var)) ?? [];
      for (const ns of [NF, IEEE, "urn:xmpp:iot:sensordata"]) assert.ok(features.includes(ns), ns);
    });

    it("answers a momentary readout in the iq result: sensor quantities and the relay's writable state, no messages", async () => {
      const id = guid();
      const resp = await ops.payload(req(NF, id, { m: "true" }, ["boiler", "pump"]));
      assert.deepEqual([resp?.name, resp?.attrs], ["resp", { xmlns: NF, id }]);
      assert.ok(resp);
      assert.deepEqual(nodeIds([resp]), ["boiler", "pump"]);
      const [boiler] = timestamps([resp], "boiler");
      assert.ok(Date.now() - Date.parse(String(boiler?.attrs.v)) < 5_000, "the current sample");
      assert.deepEqual(boiler?.getChildren("q").map((q) => String(q.attrs.n)).sort(), ["humidity", "pressure", "temperature"]);
      const { v, ...temperature } = boiler?.getChildByAttr("n", "temperature")?.attrs ?? {};
      assert.deepEqual(temperature, { n: "temperature", m: "true", ar: "true", u: "°C" });
      assert.match(String(v), /^-?\d+\.\d{2}$/);
      assert.deepEqual(timestamps([resp], "pump")[0]?.getChild("b")?.attrs, { n: "state", ctr: "true", s: "true", ar: "true", v: "false" });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(ops.received(id), []);
    });

    it("answers the ieee namespace in kind, to an iq set as well, and applies a field filter", async () => {
      const id = guid();
      const resp = await ops.payload(req(IEEE, id, { m: "true" }, ["boiler"], ["temperature"]), "set");
      assert.deepEqual([resp?.name, resp?.attrs.xmlns], ["resp", IEEE]);
      assert.deepEqual(timestamps(resp ? [resp] : [], "boiler").flatMap((ts) => ts.getChildElements().map((f) => String(f.attrs.n))), ["temperature"]);
    });

    it("reports failing sensors as <err> in their <nd><ts>, beside the other nodes' data", async () => {
      const id = guid();
      const resp = await ops.payload(req(NF, id, { m: "true" }));
      assert.ok(resp);
      assert.equal(resp.attrs.more, undefined);
      assert.deepEqual(nodeIds([resp]), ["boiler", "pump", "attic", "archive"]);
      const [attic] = timestamps([resp], "attic");
      assert.match(String(attic?.attrs.v), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(String(attic?.getChildText("err")), /EIO|bus error|I\/O/i);
      assert.match(String(timestamps([resp], "archive")[0]?.getChildText("err")), /NACK|EREMOTEIO/);
    });

    it("accepts history, then sends exactly the stored readings of [from, to) in <resp> messages, the last without more", async () => {
      const id = guid();
      const from = archive[10]!.timestamp;
      const to = archive[100]!.timestamp;
      const accepted = await ops.payload(req(NF, id, { h: "true", from: from.toISOString(), to: to.toISOString() }, ["archive"]));
      assert.deepEqual([accepted?.name, accepted?.attrs], ["accepted", { xmlns: NF, id }]);
      const got = await ops.finished(id);
      assert.ok(got.length >= 2, `90 readings come in more than one message (${got.length})`);
      assert.deepEqual(got.map((el): unknown[] => [el.name, el.attrs.more]), [...got.slice(1).map(() => ["resp", "true"]), ["resp", undefined]]);
      const stamps = timestamps(got, "archive");
      const expected = archive.slice(10, 100);
      assert.deepEqual(stamps.map((ts) => String(ts.attrs.v)), expected.map((r) => r.timestamp.toISOString()));
      assert.deepEqual(stamps.map((ts) => String(ts.getChild("q")?.attrs.v)), expected.map((r) => r.value.toFixed(2)));
      assert.deepEqual(stamps[0]?.getChild("q")?.attrs, { n: "temperature", h: "true", ar: "true", v: expected[0]!.value.toFixed(2), u: "°C" });
      const message = ops.messages.find((m) => m.getChild("resp", NF)?.attrs.id === id);
      assert.equal(message?.attrs.from, AGENT);
    });

    it("runs a readout scheduled with `when` later: queued, <started/>, then its <resp>", async () => {
      const id = guid();
      const asked = Date.now();
      const accepted = await ops.payload(req(NF, id, { m: "true", when: new Date(asked + 1500).toISOString() }, ["boiler"]));
      assert.deepEqual(accepted?.attrs, { xmlns: NF, id, queued: "true" });
      await new Promise((r) => setTimeout(r, 700));
      assert.deepEqual(ops.received(id), [], "nothing before the time");
      const got = await ops.finished(id);
      assert.deepEqual(got.map((el) => el.name), ["started", "resp"]);
      assert.ok(Date.parse(String(timestamps(got, "boiler")[0]?.attrs.v)) >= asked + 1000, "a sample taken around the scheduled time");
    });

    it("cancels a scheduled readout with an empty result, and nothing more comes for it; an unknown id is no error", async () => {
      const id = guid();
      await ops.payload(req(NF, id, { m: "true", when: new Date(Date.now() + 1000).toISOString() }));
      const reply = await ops.iq(xml("cancel", { xmlns: NF, id }));
      assert.deepEqual([reply.attrs.type, reply.getChildElements()], ["result", []]);
      await new Promise((r) => setTimeout(r, 1800));
      assert.deepEqual(ops.received(id), []);
      assert.deepEqual((await ops.iq(xml("cancel", { xmlns: IEEE, id: guid() }), "set")).getChildElements(), []);
    });

    it("lets a read-only operator read, and refuses a stranger with forbidden and no data", async () => {
      const viewer = await Requester.connect(server, "viewer");
      const stranger = await Requester.connect(server, "stranger");
      try {
        assert.deepEqual(nodeIds([(await viewer.payload(req(NF, guid(), { m: "true" }, ["boiler"])))!]), ["boiler"]);
        const refused = await rejection(stranger.payload(req(NF, guid(), { m: "true" })));
        assert.deepEqual(refused, { type: "cancel", condition: "forbidden", text: "stranger@localhost may not read this gateway" });
        assert.equal((await rejection(stranger.payload(xml("cancel", { xmlns: NF, id: "1" })))).condition, "forbidden");
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(stranger.messages, []);
      } finally {
        await viewer.close();
        await stranger.close();
      }
    });

    it("ignores the tokens and attributes it does not know; refuses malformed requests and unknown nodes, and carries on", async () => {
      const ignored = { st: "service-token", dt: "device-token", ut: "user-token", "xml:lang": "en", "xmlns:ext": "urn:example:ext", "ext:hint": "1" };
      assert.equal((await ops.payload(req(NF, guid(), { m: "true", ...ignored }, ["pump"])))?.name, "resp");
      const cases: [Element, string, RegExp][] = [
        [xml("req", { xmlns: NF, m: "true" }), "bad-request", /^id is required$/],
        [req(NF, guid(), { m: "yes" }), "bad-request", /^m must be true or false/],
        [req(NF, guid(), { from: "2025-13-01T00:00:00Z" }), "bad-request", /^from must be an xs:dateTime/],
        [req(NF, guid(), {}, Array.from({ length: 1000 }, (_, i) => `n${i}`)), "bad-request", /^more than 100 <nd> elements$/],
        [xml("req", { xmlns: NF, id: guid() }, xml("node", { nodeId: "boiler" })), "bad-request", /^unknown element <node> in <req>$/],
        [req(NF, guid(), {}, ["boiler", "nope"]), "item-not-found", /^no node nope$/],
        [xml("req", { xmlns: NF, id: guid() }, xml("nd", { id: "boiler", src: "MeteringTopology" })), "item-not-found", /^no node boiler in that source/],
      ];
      for (const [element, condition, text] of cases) {
        const error = await rejection(ops.payload(element));
        assert.equal(error.condition, condition, element.toString().slice(0, 100));
        assert.equal(error.type, condition === "bad-request" ? "modify" : "cancel");
        assert.match(error.text, text);
      }
      assert.equal(agent.child.exitCode, null, "the agent is still running");
    });

    it("serves an independent client reading as SensorClient.cs does: momentary in the result, history by messages, an error, a cancel", async () => {
      const history = { node: "archive", from: archive[0]!.timestamp, to: archive[30]!.timestamp };
      const events = await slixNfReadouts(server, "ops", ["boiler", "pump"], history);
      assert.deepEqual(events.filter((e) => e.event === "exception" || e.event === "failed_auth"), [], JSON.stringify(events));
      const scenario = (name: string) => events.find((e) => e.scenario === name);

      for (const [name, ns] of [["momentary", NF], ["ieee", IEEE]] as const) {
        const momentary = scenario(name);
        assert.deepEqual([momentary?.answer, momentary?.answer_ns, momentary?.id_matches, momentary?.done, momentary?.messages], ["resp", ns, true, true, []], JSON.stringify(momentary));
        assert.deepEqual(momentary?.dropped, [], "every field parses as the reference client parses it");
        const fields = momentary?.fields ?? [];
        assert.deepEqual(fields.filter((f) => f.node === "boiler").map((f) => [f.element, f.name, f.unit, f.types, f.qos]).sort(), [
          ["q", "humidity", "%RH", ["m"], ["ar"]],
          ["q", "pressure", "hPa", ["m"], ["ar"]],
          ["q", "temperature", "°C", ["m"], ["ar"]],
        ]);
        assert.deepEqual(fields.filter((f) => f.node === "pump").map((f) => [f.element, f.name, f.value, f.writable, f.types]), [["b", "state", "false", true, ["s"]]]);
      }

      const read = scenario("history");
      assert.deepEqual([read?.answer, read?.done, read?.timeout], ["accepted", true, undefined], JSON.stringify(read));
      assert.ok((read?.messages ?? []).every((name) => name === "resp"));
      assert.deepEqual(read?.dropped, []);
      assert.deepEqual(read?.fields?.map((f) => [f.timestamp, f.value, f.types]), archive.slice(0, 30).map((r) => [r.timestamp.toISOString(), r.value.toFixed(2), ["h"]]));

      assert.deepEqual([scenario("error")?.answer, scenario("error")?.condition, scenario("error")?.text], ["error", "item-not-found", "no node no-such-node"]);

      const cancelled = scenario("cancel");
      assert.deepEqual([cancelled?.answer, cancelled?.queued, cancelled?.cancel_result, cancelled?.cancel_payload, cancelled?.messages], ["accepted", true, "result", [], []], JSON.stringify(cancelled));
    });
  });
}

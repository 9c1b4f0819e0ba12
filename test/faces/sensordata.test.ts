// XEP-0323 readouts on the real servers: an operator's client asks the running agent (sim hardware) for current
// values, history and aggregates; failures, cancel, scheduling, authorization and malformed requests.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { runSlixScript } from "../support/slix.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { Store } from "../../agent/store.ts";

const NS = "urn:xmpp:iot:sensordata";
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

/** The failing attic's stored readings from before: one more than a readout returns at once, one a second. */
const ATTIC_START = Math.floor((Date.now() - 7_200_000) / 1000) * 1000;
const attic = Array.from({ length: 5001 }, (_, i) => new Date(ATTIC_START + i * 1000));

// Servers may reorder attributes: replies are compared by name and attributes, never as strings.

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

  /** Sends an iq get to the agent and resolves with the reply's child (rejects with the StanzaError of an error reply). */
  async get(child: Element): Promise<Element | undefined> {
    const reply = await this.client.request(xml("iq", { type: "get", to: AGENT }, child), 10_000);
    return reply.getChildElements()[0];
  }

  req(attrs: Record<string, string>, ...children: Element[]): Promise<Element | undefined> {
    return this.get(xml("req", { xmlns: NS, ...attrs }, ...children));
  }

  cancel(seqnr: string): Promise<Element | undefined> {
    return this.get(xml("cancel", { xmlns: NS, seqnr }));
  }

  /** The sensordata elements received for `seqnr`, in order. */
  received(seqnr: string): Element[] {
    return this.messages.flatMap((m) => m.getChildElements().filter((child) => child.attrs.xmlns === NS && child.attrs.seqnr === seqnr));
  }

  /** Waits for the end of readout `seqnr` (a done <fields> or a <done/>) and returns what came for it. */
  async finished(seqnr: string, timeoutMs = 10_000): Promise<Element[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received(seqnr);
      if (got.some((el) => el.name === "done" || (el.name === "fields" && el.attrs.done === "true"))) return got;
      if (Date.now() > deadline) throw new Error(`readout ${seqnr} did not finish; got: ${got.map(String).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

/** node id → its <timestamp> elements across all <fields> of a readout. */
function timestamps(elements: Element[], nodeId: string): Element[] {
  return elements
    .filter((el) => el.name === "fields")
    .flatMap((fields) => fields.getChildren("node").filter((node) => node.attrs.nodeId === nodeId))
    .flatMap((node) => node.getChildren("timestamp"));
}

function attr(element: Element | undefined, name: string): string | undefined {
  return element?.attrs[name] as string | undefined;
}

function nodeIds(elements: Element[]): string[] {
  return [...new Set(elements.filter((el) => el.name === "fields").flatMap((fields) => fields.getChildren("node").map((node) => String(node.attrs.nodeId))))];
}

interface SlixEvent {
  event: string;
  result?: string;
  nodeId?: string;
  timestamp?: string;
  fields?: { name: string; typename: string; value: string; unit?: string; flags?: Record<string, string> }[];
  condition?: string;
  error_msg?: string;
}

/** Runs test/faces/interop/slix_readout.py (slixmpp 1.8's xep_0323 client) for a momentary readout of `nodes`. */
function slixReadout(server: XmppTestServer, user: string, nodes: string[]): Promise<SlixEvent[]> {
  return runSlixScript<SlixEvent>("slix_readout.py", server, user, AGENT, [nodes.join(","), "8"]);
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

for (const kind of serverKinds) {
  describe(`XEP-0323 readout on ${kind}`, () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    let ops: Requester;
    let seq = 0;
    const next = () => String(++seq);

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
      for (const timestamp of attic) {
        store.append({ sensorId: "attic", timestamp, fields: [{ type: "numeric", name: "temperature", value: 18, unit: "°C", decimals: 1, flags: { momentary: true } }] });
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

    it("announces urn:xmpp:iot:sensordata in disco#info", async () => {
      const info = await ops.get(xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
      assert.ok(info?.getChildren("feature").some((feature) => feature.attrs.var === NS));
    });

    it("answers a momentary readout of the requested nodes: sensor values and the actuator's writable state", async () => {
      const seqnr = next();
      const accepted = await ops.req({ seqnr, momentary: "true" }, xml("node", { nodeId: "boiler" }), xml("node", { nodeId: "pump" }));
      assert.deepEqual([accepted?.name, accepted?.attrs], ["accepted", { xmlns: NS, seqnr }]);
      const got = await ops.finished(seqnr);
      // The data, then the end in a message of its own (Smack's readout misses data that comes with the end).
      assert.deepEqual(got.map((el) => [el.name, attr(el, "done"), el.children.length > 0]), [
        ["fields", undefined, true],
        ["fields", "true", false],
      ]);
      assert.deepEqual(nodeIds(got), ["boiler", "pump"]);
      const boiler = timestamps(got, "boiler")[0];
      assert.ok(Date.now() - Date.parse(String(boiler?.attrs.value)) < 5_000, "the current sample");
      assert.deepEqual(boiler?.getChildren("numeric").map((f) => String(f.attrs.name)).sort(), ["humidity", "pressure", "temperature"]);
      const temperature = boiler?.getChildByAttr("name", "temperature");
      assert.equal(temperature?.attrs.unit, "°C");
      assert.equal(temperature?.attrs.momentary, "true");
      assert.deepEqual(timestamps(got, "pump")[0]?.getChild("boolean")?.attrs, { name: "state", value: "false", status: "true", writable: "true", automaticReadout: "true" });
      const message = ops.messages.find((m) => m.getChild("fields", NS)?.attrs.seqnr === seqnr);
      assert.equal(message?.attrs.from, AGENT);
      assert.match(String(message?.attrs.to), /^ops@localhost\/probe/);
    });

    it("applies a field filter", async () => {
      const seqnr = next();
      await ops.req({ seqnr }, xml("node", { nodeId: "boiler" }), xml("field", { name: "temperature" }));
      const got = await ops.finished(seqnr);
      assert.deepEqual(timestamps(got, "boiler").flatMap((t) => t.getChildElements().map((f) => String(f.attrs.name))), ["temperature"]);
    });

    it("reports a failing sensor as a failure while the other nodes' fields arrive, then done", async () => {
      const seqnr = next();
      await ops.req({ seqnr, momentary: "true" });
      const got = await ops.finished(seqnr);
      assert.deepEqual(nodeIds(got), ["boiler", "pump"]);
      assert.deepEqual(got.map((el) => el.name), ["fields", "failure", "done"]);
      const errors = got.filter((el) => el.name === "failure").flatMap((el) => el.getChildren("error"));
      assert.deepEqual(errors.map((e) => attr(e, "nodeId")), ["attic", "archive"]);
      assert.match(String(errors[0]?.getText()), /EIO|bus error|I\/O/i);
      assert.match(String(errors[0]?.attrs.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    it("returns exactly the stored readings inside [from, to), split over several messages", async () => {
      const seqnr = next();
      const from = archive[10]!.timestamp;
      const to = archive[100]!.timestamp;
      await ops.req({ seqnr, historical: "true", from: from.toISOString(), to: to.toISOString() }, xml("node", { nodeId: "archive" }));
      const got = await ops.finished(seqnr);
      const fieldsMessages = got.filter((el) => el.name === "fields");
      assert.ok(fieldsMessages.length >= 2, `90 readings come in more than one message (${fieldsMessages.length})`);
      assert.deepEqual(fieldsMessages.map((el) => attr(el, "done")), [...fieldsMessages.slice(1).map(() => undefined), "true"]);
      const stamps = timestamps(got, "archive");
      const expected = archive.slice(10, 100);
      assert.deepEqual(stamps.map((t) => attr(t, "value")), expected.map((r) => r.timestamp.toISOString()));
      assert.deepEqual(stamps.map((t) => attr(t.getChild("numeric"), "value")), expected.map((r) => r.value.toFixed(2)));
      const field = stamps[0]?.getChild("numeric");
      assert.equal(field?.attrs.historicalOther, "true");
      assert.equal(field?.attrs.momentary, undefined);
    });

    it("answers history without a range with the newest readings up to the limit, saying so in the last message", async () => {
      const seqnr = next();
      await ops.req({ seqnr, historical: "true" }, xml("node", { nodeId: "attic" }));
      const got = await ops.finished(seqnr, 30_000);
      assert.deepEqual([...new Set(got.map((el) => el.name))], ["fields"], "no failure");
      const stamps = timestamps(got, "attic").map((t) => attr(t, "value"));
      assert.equal(stamps.length, 5000);
      assert.deepEqual([stamps[0], stamps.at(-1)], [attic[1]!.toISOString(), attic[5000]!.toISOString()]);
      const last = ops.messages.find((m) => m.getChild("fields", NS)?.attrs.seqnr === seqnr && m.getChild("fields", NS)?.attrs.done === "true");
      assert.equal(last?.getChildText("body"), `attic: the newest 5000 stored readings, since ${attic[1]!.toISOString()}; ask with from and to for older ones`);
    });

    it("aggregates per minute: average, min and max, stamped with the minute's start", async () => {
      const seqnr = next();
      const from = new Date(ARCHIVE_START + 60_000);
      const to = new Date(ARCHIVE_START + 4 * 60_000);
      await ops.req({ seqnr, historicalMinute: "true", from: from.toISOString(), to: to.toISOString() }, xml("node", { nodeId: "archive" }));
      const stamps = timestamps(await ops.finished(seqnr), "archive");
      assert.deepEqual(stamps.map((t) => attr(t, "value")), [1, 2, 3].map((m) => new Date(ARCHIVE_START + m * 60_000).toISOString()));
      for (const [index, stamp] of stamps.entries()) {
        const values = archive.slice((index + 1) * 6, (index + 2) * 6).map((r) => r.value);
        const fields = Object.fromEntries(stamp.getChildren("numeric").map((f) => [String(f.attrs.name), f]));
        assert.equal(fields.temperature?.attrs.value, (values.reduce((a, b) => a + b) / values.length).toFixed(2));
        assert.equal(fields["temperature, min"]?.attrs.value, Math.min(...values).toFixed(2));
        assert.equal(fields["temperature, max"]?.attrs.value, Math.max(...values).toFixed(2));
        assert.equal(fields["temperature, max"]?.attrs.peak, "true");
        assert.equal(fields.temperature?.attrs.historicalMinute, "true");
      }
    });

    it("runs a readout scheduled with `when` later, announcing it with <started/>", async () => {
      const seqnr = next();
      const asked = Date.now();
      const accepted = await ops.req({ seqnr, when: new Date(asked + 1500).toISOString() }, xml("node", { nodeId: "boiler" }));
      assert.equal(accepted?.attrs.queued, "true");
      await new Promise((r) => setTimeout(r, 700));
      assert.deepEqual(ops.received(seqnr), [], "nothing before the time");
      const got = await ops.finished(seqnr);
      assert.deepEqual(got.map((el) => el.name), ["started", "fields", "fields"]);
      assert.ok(Date.now() - asked >= 1400);
      assert.ok(Date.parse(String(timestamps(got, "boiler")[0]?.attrs.value)) >= asked + 1000, "a sample taken around the scheduled time");
    });

    it("cancels a readout: cancelled in the iq result, and nothing more for it", async () => {
      const seqnr = next();
      await ops.req({ seqnr, when: new Date(Date.now() + 1000).toISOString() });
      const cancelled = await ops.cancel(seqnr);
      assert.deepEqual([cancelled?.name, cancelled?.attrs], ["cancelled", { xmlns: NS, seqnr }]);
      await new Promise((r) => setTimeout(r, 1800));
      assert.deepEqual(ops.received(seqnr), []);
    });

    it("lets a read-only operator read, and refuses everyone else with forbidden and no data", async () => {
      const viewer = await Requester.connect(server, "viewer");
      const stranger = await Requester.connect(server, "stranger");
      try {
        await viewer.req({ seqnr: "1" }, xml("node", { nodeId: "boiler" }));
        assert.deepEqual(nodeIds(await viewer.finished("1")), ["boiler"]);
        assert.deepEqual(await rejection(stranger.req({ seqnr: "1" })), { type: "cancel", condition: "forbidden", text: "stranger@localhost may not read this gateway" });
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(stranger.messages, []);
      } finally {
        await viewer.close();
        await stranger.close();
      }
    });

    it("bounds concurrent readouts per requester with wait/resource-constraint", async () => {
      const later = new Date(Date.now() + 60_000).toISOString();
      const seqnrs = [next(), next(), next(), next()];
      for (const seqnr of seqnrs) await ops.req({ seqnr, when: later });
      const refused = await rejection(ops.req({ seqnr: next() }));
      assert.deepEqual([refused.type, refused.condition], ["wait", "resource-constraint"]);
      for (const seqnr of seqnrs) await ops.cancel(seqnr);
    });

    it("serves slixmpp 1.8's xep_0323 client: fields and done for an operator, nothing for a stranger", async () => {
      const events = await slixReadout(server, "ops", ["boiler", "pump"]);
      const results = events.filter((e) => e.event === "callback").map((e) => e.result);
      assert.deepEqual(results, ["accepted", "fields", "fields", "done"], JSON.stringify(events));
      const byNode = new Map(events.filter((e) => e.result === "fields").map((e) => [e.nodeId, e.fields ?? []]));
      const boiler = byNode.get("boiler");
      assert.deepEqual(boiler?.map((f) => f.name).sort(), ["humidity", "pressure", "temperature"]);
      const { value, ...temperature } = boiler?.find((f) => f.name === "temperature") ?? { value: "" };
      assert.deepEqual(temperature, { name: "temperature", typename: "numeric", unit: "°C", flags: { momentary: "true", automaticReadout: "true" } });
      assert.match(value, /^\d+\.\d{2}$/, "the value with the precision the agent wrote");
      assert.deepEqual(byNode.get("pump")?.map((f) => [f.name, f.typename, f.value]), [["state", "boolean", "false"]]);

      const refused = await slixReadout(server, "stranger", ["boiler"]);
      assert.deepEqual(refused.filter((e) => e.event === "callback"), [], JSON.stringify(refused));
      assert.deepEqual(refused.find((e) => e.event === "error")?.condition, "forbidden");
    });

    it("ignores attributes of <req> it does not know: xml:lang, namespace declarations, other tokens", async () => {
      const seqnr = next();
      const accepted = await ops.req({ seqnr, "xml:lang": "en", "xmlns:ext": "urn:example:ext", "ext:hint": "1", colour: "red" }, xml("node", { nodeId: "pump" }));
      assert.equal(accepted?.name, "accepted");
      assert.deepEqual(nodeIds(await ops.finished(seqnr)), ["pump"]);
      const refused = await rejection(ops.req({ seqnr: "x", "xml:lang": "en", colour: "red" }));
      assert.deepEqual([refused.condition, refused.text], ["bad-request", 'seqnr must be an xs:int, got "x"']);
    });

    it("ends slixmpp 1.8's readout of two failing sensors with one failure, and sends nothing it raises on", async () => {
      const events = await slixReadout(server, "ops", ["attic", "archive"]);
      assert.deepEqual(events.filter((e) => e.event === "exception"), [], JSON.stringify(events));
      const callbacks = events.filter((e) => e.event === "callback");
      // slixmpp keeps one <error> of a <failure>, the last one it parsed: archive's, the second in the config.
      assert.deepEqual(callbacks.map((e) => [e.result, e.nodeId]), [["accepted", null], ["failure", "archive"]], JSON.stringify(events));
      assert.match(String(callbacks[1]?.error_msg), /NACK|EREMOTEIO/);
    });

    it("refuses malformed requests with bad-request saying why, unknown nodes with item-not-found, and carries on", async () => {
      const cases: [Record<string, string>, Element[], string, RegExp][] = [
        [{}, [], "bad-request", /^seqnr is required$/],
        [{ seqnr: "1.5" }, [], "bad-request", /^seqnr must be an xs:int/],
        [{ seqnr: "1", from: "2025-13-01T00:00:00Z" }, [], "bad-request", /^from must be an xs:dateTime/],
        [{ seqnr: "1", when: "tomorrow" }, [], "bad-request", /^when must be an xs:dateTime/],
        [{ seqnr: "1", historical: "maybe" }, [], "bad-request", /^historical must be true or false/],
        [{ seqnr: "1" }, [xml("sensor", { id: "boiler" })], "bad-request", /^unknown element <sensor> in <req>$/],
        [{ seqnr: "1" }, Array.from({ length: 1000 }, (_, i) => xml("node", { nodeId: `n${i}` })), "bad-request", /^more than 100 <node> elements$/],
        [{ seqnr: "1" }, [xml("field", { name: "x".repeat(5000) })], "bad-request", /^attribute name of <field> is longer than 256 characters$/],
        [{ seqnr: "1" }, [xml("node", { nodeId: "boiler" }), xml("node", { nodeId: "nope" })], "item-not-found", /^no node nope$/],
      ];
      for (const [attrs, children, condition, text] of cases) {
        const error = await rejection(ops.req(attrs, ...children));
        assert.equal(error.condition, condition, JSON.stringify(attrs));
        assert.equal(error.type, condition === "bad-request" ? "modify" : "cancel");
        assert.match(error.text, text);
      }
      const seqnr = next();
      await ops.req({ seqnr }, xml("node", { nodeId: "pump" }));
      assert.deepEqual(nodeIds(await ops.finished(seqnr)), ["pump"]);
      assert.equal(agent.child.exitCode, null, "the agent is still running");
    });
  });
}

// XEP-0325 control on the real servers, over the simulated gateway (examples/sim-sensors.yaml: the actuator
// `pump` is a gpio-output relay with one boolean parameter, `state`): set by iq and by message, getForm,
// validation before application, errors with paramError, authorization, the audit trail, hostile stanzas,
// and slixmpp 1.8's client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, type SimGateway } from "../support/gateway-fixture.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { auditRows, until } from "../support/audit.ts";

const NS_CONTROL = "urn:xmpp:iot:control";
const NS_DATA = "jabber:x:data";
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const SLIX_CONTROL = resolve(import.meta.dirname, "interop/slix_control.py");

/** An operator's client that can send any iq or message to the agent. */
class Operator {
  readonly messages: Element[] = [];

  private constructor(
    private readonly client: ReturnType<typeof createClient>,
    readonly jid: string,
  ) {
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("message")) this.messages.push(stanza);
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Operator> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "console", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new Operator(client, `${user}@${server.domain}/console`);
  }

  /** Resolves with the reply; an error reply rejects with a StanzaError (condition, text, application). */
  iq(type: "get" | "set", child: Element): Promise<Element> {
    return this.client.request(xml("iq", { type, to: AGENT_JID }, child), 10_000);
  }

  async message(...children: Element[]): Promise<void> {
    await this.client.entity.send(xml("message", { to: AGENT_JID }, ...children));
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

interface StanzaFailure {
  condition: string;
  type?: string;
  text?: string;
  paramError?: string;
  paramErrorText?: string;
}

/** The error an iq got, flattened for assertions; fails when it succeeded. */
async function failure(reply: Promise<Element>): Promise<StanzaFailure> {
  try {
    await reply;
  } catch (error) {
    const { condition, type, text, application } = error as { condition: string; type?: string; text?: string; application?: Element };
    const result: StanzaFailure = { condition, ...(type !== undefined ? { type } : {}) };
    if (text) result.text = text;
    if (application?.is("paramError", NS_CONTROL)) {
      result.paramError = String(application.attrs.var);
      result.paramErrorText = application.text();
    }
    return result;
  }
  assert.fail("expected an iq error");
}

function setStanza(nodeId: string | undefined, ...parameters: Element[]): Element {
  return xml("set", { xmlns: NS_CONTROL }, ...(nodeId ? [xml("node", { nodeId })] : []), ...parameters);
}

function bool(name: string, value: string): Element {
  return xml("boolean", { name, value });
}

/** The relay's state as a XEP-0323 readout reports it (the readout face, agent/xmpp/sensordata.ts). */
async function readoutPumpState(operator: Operator, seqnr: string): Promise<Element | undefined> {
  await operator.iq("get", xml("req", { xmlns: NS_SENSORDATA, seqnr }, xml("node", { nodeId: "pump" })));
  const message = await until(
    async () => operator.messages.find((m) => m.getChild("fields", NS_SENSORDATA)?.attrs.seqnr === seqnr),
    (found) => found !== undefined,
    `readout ${seqnr} of the pump`,
  );
  const node = message?.getChild("fields", NS_SENSORDATA)?.getChildren("node").find((n) => n.attrs.nodeId === "pump");
  return node?.getChild("timestamp")?.getChildren("boolean").find((field) => field.attrs.name === "state");
}

async function pumpState(operator: Operator): Promise<string | undefined> {
  const reply = await operator.iq("get", xml("getForm", { xmlns: NS_CONTROL }, xml("node", { nodeId: "pump" })));
  const form = reply.getChild("x", NS_DATA);
  return form?.getChildren("field").find((field) => field.attrs.var === "state")?.getChildText("value") ?? undefined;
}

function runSlixControl(server: XmppTestServer, user: string, value: string): Promise<Record<string, unknown>[]> {
  const args = [SLIX_CONTROL, `${user}@localhost/slix`, `${user}-secret`, AGENT_JID, server.caFile, server.host, String(server.port), "pump", "state", "boolean", value, "8"];
  return new Promise((resolveRun, reject) => {
    execFile("/usr/bin/python3", args, { env: { ...process.env, PYTHONPATH: "/usr/lib/python3/dist-packages" }, timeout: 40_000 }, (error, stdout, stderr) => {
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
      if (error && events.length === 0) reject(new Error(`slix_control.py failed: ${error.message}\n${stderr.slice(-2000)}`));
      else resolveRun(events);
    });
  });
}

/** Three relays: pump and fan work; spare is wired to pump's pin, so its device fails to open (the pin is taken). */
const RELAYS = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1s }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22 }, safeState: off }
  - { id: fan, driver: gpio-output, gpio: { pin: 23 }, safeState: off }
  - { id: spare, driver: gpio-output, gpio: { pin: 22 }, safeState: off }`;

for (const kind of serverKinds) {
  describe(`XEP-0325 control of several relays on ${kind}`, () => {
    let gateway: SimGateway | undefined;
    let ops: Operator;

    before(async () => {
      gateway = await startSimGateway(kind, { devices: RELAYS });
      ops = await Operator.connect(gateway.server, "ops");
    });
    after(async () => {
      await ops?.close();
      await gateway?.stop();
    });

    it("answers an actuator whose device failed to open with wait + conflict (retry later)", async () => {
      const set = await failure(ops.iq("set", setStanza("spare", bool("state", "true"))));
      assert.deepEqual([set.type, set.condition], ["wait", "conflict"]);
      assert.match(String(set.text), /^actuator spare is not available: GPIO 22 is already in use/);
      const form = await failure(ops.iq("get", xml("getForm", { xmlns: NS_CONTROL }, xml("node", { nodeId: "spare" }))));
      assert.deepEqual([form.type, form.condition], ["wait", "conflict"]);
      // The others work.
      assert.ok((await ops.iq("set", setStanza("fan", bool("state", "true")))).getChild("setResponse", NS_CONTROL));
      await ops.iq("set", setStanza("fan", bool("state", "false")));
    });

    it("refuses a set without a node that would switch more than one relay, and says why", async () => {
      // Smack's setUsingIq never names a node; with two working relays it cannot say which one it means.
      const error = await failure(ops.iq("set", xml("set", { xmlns: NS_CONTROL }, xml("bool", { name: "state", value: "true" }))));
      const text = "state is a parameter of pump, fan: name the actuator to set; without one, all would be set";
      assert.deepEqual(error, { condition: "bad-request", type: "modify", text, paramError: "state", paramErrorText: text });
      assert.equal(await pumpState(ops), "false");
      assert.ok((await ops.iq("set", setStanza("pump", bool("state", "true")))).getChild("setResponse", NS_CONTROL));
      assert.equal(await pumpState(ops), "true");
    });
  });

  describe(`XEP-0325 control on ${kind}`, () => {
    let gateway: SimGateway;
    let ops: Operator;
    let viewer: Operator;
    let stranger: Operator;

    before(async () => {
      gateway = await startSimGateway(kind);
      const { server } = gateway;
      [ops, viewer, stranger] = await Promise.all([Operator.connect(server, "ops"), Operator.connect(server, "viewer"), Operator.connect(server, "mallory")]);
    });
    after(async () => {
      await Promise.all([ops?.close(), viewer?.close(), stranger?.close()]);
      if (gateway) assert.equal(await gateway.stop(), 0);
    });

    it("announces urn:xmpp:iot:control and answers getForm with a typed form holding the current state", async () => {
      const info = await ops.iq("get", xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
      const features = info.getChild("query")?.getChildren("feature").map((feature) => String(feature.attrs.var));
      assert.ok(features?.includes(NS_CONTROL), `features: ${features?.join(", ")}`);

      const reply = await viewer.iq("get", xml("getForm", { xmlns: NS_CONTROL }));
      const form = reply.getChild("x", NS_DATA);
      assert.equal(form?.attrs.type, "form", `the form is directly in the result: ${reply.toString()}`);
      const fields = form?.getChildren("field") ?? [];
      const session = fields.find((field) => field.attrs.var === "xdd session");
      assert.equal(session?.attrs.type, "hidden");
      assert.ok(session?.getChildText("value"));
      const state = fields.find((field) => field.attrs.var === "state");
      assert.equal(state?.attrs.type, "boolean");
      assert.equal(state?.getChild("validate", "http://jabber.org/protocol/xdata-validate")?.attrs.datatype, "xs:boolean");
      assert.equal(state?.getChildText("value"), "false", "the pump starts in its safe state (off)");
      assert.ok(state?.attrs.label);
      await assert.rejects(stranger.iq("get", xml("getForm", { xmlns: NS_CONTROL })), { condition: "forbidden" });
    });

    it("sets the relay by iq (setResponse OK) and by message, and the state reads back changed", async () => {
      const reply = await ops.iq("set", setStanza("pump", bool("state", "true")));
      const response = reply.getChild("setResponse", NS_CONTROL);
      assert.equal(response?.attrs.responseCode, "OK", reply.toString());
      assert.equal(await pumpState(ops), "true");
      const field = await readoutPumpState(ops, "9001");
      assert.deepEqual([field?.attrs.value, field?.attrs.writable], ["true", "true"], `readout: ${String(field)}`);

      await ops.message(setStanza("pump", bool("state", "0")));
      await until(() => pumpState(ops), (state) => state === "false", "the relay released by a message");

      // A getForm form, filled in and submitted inside <set>.
      const form = (await ops.iq("get", xml("getForm", { xmlns: NS_CONTROL }))).getChild("x", NS_DATA);
      const session = form?.getChildren("field").find((field) => field.attrs.var === "xdd session")?.getChildText("value") ?? "";
      const submitted = xml("x", { xmlns: NS_DATA, type: "submit" },
        xml("field", { var: "xdd session" }, xml("value", {}, session)),
        xml("field", { var: "state" }, xml("value", {}, "1")));
      assert.equal((await ops.iq("set", setStanza(undefined, submitted))).getChild("setResponse", NS_CONTROL)?.attrs.responseCode, "OK");
      assert.equal(await pumpState(ops), "true");
      // A field submitted without a value leaves its parameter alone: here nothing is left to set.
      const untouched = xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "xdd session" }, xml("value", {}, session)), xml("field", { var: "state" }));
      assert.deepEqual((await failure(ops.iq("set", setStanza("pump", untouched)))).text, "no parameters to set");
      assert.equal(await pumpState(ops), "true");
      await ops.iq("set", setStanza("pump", bool("state", "false")));
    });

    it("takes Smack 4.4.8's node-less <bool> set and answers it with <setResponse/>", async () => {
      // IoTControlManager.setUsingIq(jid, new SetBoolData("state", true)) sends exactly this; Smack casts the
      // result to its IoTSetResponse, so an empty result would be a ClassCastException.
      const reply = await ops.iq("set", xml("set", { xmlns: NS_CONTROL }, xml("bool", { name: "state", value: "true" })));
      assert.ok(reply.getChild("setResponse", NS_CONTROL), reply.toString());
      assert.equal(await pumpState(ops), "true");
      await ops.iq("set", xml("set", { xmlns: NS_CONTROL }, xml("bool", { name: "state", value: "false" })));
      assert.equal(await pumpState(ops), "false");
    });

    it("refuses and audits a <set> message that carries a delay (stored offline), leaving the relay alone", async () => {
      assert.equal(await pumpState(ops), "false");
      const stamp = new Date(Date.now() - 3_600_000).toISOString();
      await ops.message(setStanza("pump", bool("state", "true")), xml("delay", { xmlns: "urn:xmpp:delay", from: "localhost", stamp }));
      const rows = await until(() => auditRows(gateway.dir), (found) => found.some((row) => row.result === "delayed"), "the delayed set in the audit trail");
      const delayed = rows.find((row) => row.result === "delayed");
      assert.deepEqual([delayed?.requester, delayed?.via], ["ops@localhost/console", "message"]);
      assert.match(String(delayed?.detail), new RegExp(stamp.slice(0, 19)));
      assert.equal(await pumpState(ops), "false", "not applied");
      assert.equal(ops.messages.filter((m) => m.getChild("set", NS_CONTROL)).length, 0, "never answered");
    });

    it("validates everything before applying anything", async () => {
      assert.equal(await pumpState(ops), "false");
      const error = await failure(ops.iq("set", setStanza("pump", bool("state", "true"), bool("state", "maybe"))));
      assert.deepEqual(error, {
        condition: "bad-request",
        type: "modify",
        text: 'state: expected true, false, 1 or 0, got "maybe"',
        paramError: "state",
        paramErrorText: 'state: expected true, false, 1 or 0, got "maybe"',
      });
      assert.equal(await pumpState(ops), "false", "the valid first parameter was not applied");
    });

    it("answers wrong types, unknown parameters and nodes, bad values and sensors with the right errors", async () => {
      assert.deepEqual(await failure(ops.iq("set", setStanza("pump", xml("int", { name: "state", value: "1" })))), {
        condition: "bad-request",
        type: "modify",
        text: "state: takes a boolean; got type int",
        paramError: "state",
        paramErrorText: "state: takes a boolean; got type int",
      });
      const unknownParameter = await failure(ops.iq("set", setStanza("pump", bool("speed", "true"))));
      assert.deepEqual([unknownParameter.condition, unknownParameter.type, unknownParameter.paramError], ["item-not-found", "cancel", "speed"]);
      const unknownNode = await failure(ops.iq("set", setStanza("nowhere", bool("state", "true"))));
      assert.deepEqual([unknownNode.condition, unknownNode.text, unknownNode.paramError], ["item-not-found", "no node nowhere", undefined]);
      // The relay's only parameter is boolean: "2" is its out-of-range value (numeric ranges: agent/control.test.ts).
      const outOfRange = await failure(ops.iq("set", setStanza("pump", bool("state", "2"))));
      assert.deepEqual([outOfRange.condition, outOfRange.paramError], ["bad-request", "state"]);
      const sensor = await failure(ops.iq("set", setStanza("boiler", bool("state", "true"))));
      assert.equal(sensor.condition, "feature-not-implemented");
      assert.equal(await pumpState(ops), "false");
    });

    it("refuses strangers and read operators, by iq and by message", async () => {
      assert.deepEqual(await failure(viewer.iq("set", setStanza("pump", bool("state", "true")))), {
        condition: "forbidden",
        type: "cancel",
        text: "control needs the control role; this operator has read only",
      });
      const refused = await failure(stranger.iq("set", setStanza("pump", bool("state", "true"))));
      assert.deepEqual([refused.condition, refused.type], ["forbidden", "cancel"]);
      await viewer.message(setStanza("pump", bool("state", "true")));
      await until(() => auditRows(gateway.dir), (rows) => rows.some((row) => row.via === "message" && row.requester.startsWith("viewer@")), "the refused message in the audit trail");
      assert.equal(await pumpState(ops), "false");
    });

    it("answers hostile set stanzas with errors and carries on", async () => {
      const nameless = await failure(ops.iq("set", setStanza("pump", xml("boolean", { value: "true" }))));
      assert.deepEqual([nameless.condition, nameless.text], ["bad-request", "a parameter without a name"]);
      const huge = await failure(ops.iq("set", setStanza("pump", xml("string", { name: "state", value: "x".repeat(20_000) }))));
      assert.deepEqual([huge.condition, huge.paramError], ["bad-request", "state"]);
      const unknown = await failure(ops.iq("set", setStanza("pump", xml("numeric", { name: "state", value: "1" }))));
      assert.match(String(unknown.text), /^state: unknown parameter type numeric/);
      let deep = xml("a", {});
      for (let depth = 0; depth < 200; depth++) deep = xml("a", {}, deep);
      const nested = await failure(ops.iq("set", setStanza("pump", xml("node", { nodeId: "pump" }, deep))));
      assert.deepEqual([nested.condition, nested.text], ["bad-request", "no parameters to set"]);
      const many = Array.from({ length: 500 }, () => bool("state", "true"));
      assert.match(String((await failure(ops.iq("set", setStanza("pump", ...many)))).text), /too many parameters/);
      // Still alive and still obeying.
      await ops.iq("get", xml("ping", { xmlns: "urn:xmpp:ping" }));
      await ops.iq("set", setStanza("pump", bool("state", "true")));
      assert.equal(await pumpState(ops), "true");
      await ops.iq("set", setStanza("pump", bool("state", "false")));
    });

    it("writes every control action to the audit trail, refusals included", async () => {
      const rows = await auditRows(gateway.dir);
      const first = rows[0];
      assert.deepEqual(first && { ...first, params: JSON.parse(first.params) as unknown }, {
        requester: "ops@localhost/console",
        via: "iq",
        nodes: '["pump"]',
        params: [{ name: "state", type: "boolean", value: "true" }],
        result: "ok",
        detail: null,
      });
      const outcomes = rows.map((row) => `${row.requester.split("@")[0]} ${row.via} ${row.result}`);
      for (const expected of ["ops message ok", "ops iq bad-request", "ops iq item-not-found", "viewer iq forbidden", "mallory iq forbidden", "viewer message forbidden", "ops iq feature-not-implemented"]) {
        assert.ok(outcomes.includes(expected), `audit has "${expected}": ${outcomes.join("; ")}`);
      }
      const huge = rows.find((row) => row.params.includes("xxxx"));
      assert.ok(huge && huge.params.length < 1000, "a huge value is clipped in the trail");
      // The log says the same at info level.
      assert.ok(gateway.agent.logs.some((line) => line.level === "info" && line.message === "control applied" && line.requester === "ops@localhost/console"));
      assert.ok(gateway.agent.logs.some((line) => line.message === "control refused" && line.result === "forbidden"));
    });

    it("works with slixmpp 1.8's xep_0325 set_request; a read operator gets nothing applied", async () => {
      const events = await runSlixControl(gateway.server, "ops", "true");
      assert.deepEqual(events.find((event) => event.event === "callback")?.result, "OK", JSON.stringify(events));
      assert.equal(await pumpState(ops), "true");
      const refused = await runSlixControl(gateway.server, "viewer", "false");
      assert.ok(!refused.some((event) => event.event === "callback" && event.result === "OK"), JSON.stringify(refused));
      assert.equal(refused.find((event) => event.event === "error")?.condition, "forbidden", JSON.stringify(refused));
      assert.equal(await pumpState(ops), "true");
    });
  });
}

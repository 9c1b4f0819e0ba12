// Control in urn:nf:iot:ctr:1.0 on the real servers, over the simulated gateway (examples/sim-sensors.yaml: the
// actuator `pump` is a gpio-output relay with one boolean parameter, `state`).
//
// The fixtures are the stanzas the dialect's reference client writes: Networking/Waher.Networking.XMPP.Control/
// ControlClient.cs in github.com/PeterWaher/IoTGateway at d7a0bab6af0dbad025b41e4f986882230f706c86 (CommandHeader
// and Serialize: `<set xmlns='urn:nf:iot:ctr:1.0' [st dt ut]><nd id [src pt]/>`, then one `<b|i|db|… n v/>` per
// Set overload, or the fetched form submitted by Set(DataForm, …)); answers are read as its SetResultCallback
// reads them (ok, then `<resp>` with `<nd id>` and `<p n>`). Live with an independent client:
// interop/slix_nf_control.py (slixmpp, raw stanzas).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, type SimGateway } from "../support/gateway-fixture.ts";
import { Observer } from "../support/observer.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";
import { Database } from "../../agent/sqlite.ts";

const NS_NF = "urn:nf:iot:ctr:1.0";
const NS_DATA = "jabber:x:data";
const NS_CAPS = "http://jabber.org/protocol/caps";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const SLIX_NF_CONTROL = resolve(import.meta.dirname, "interop/slix_nf_control.py");

/** ControlClient.Set(To, Name, Value, …, Nodes): `element` is b (bool), i (int), db (double), s (string), … */
function nfSet(nodes: string[], ...parameters: [element: string, name: string, value: string][]): Element {
  return xml("set", { xmlns: NS_NF }, ...nodes.map((id) => xml("nd", { id })), ...parameters.map(([element, n, v]) => xml(element, { n, v })));
}

/** What a set's answer tells ControlClient's SetResultCallback: performed, and the nodes and parameters listed. */
function setResult(reply: Element): { nodes: string[]; parameters: string[] } {
  const resp = reply.getChild("resp", NS_NF);
  assert.ok(resp, `a <resp> in the result: ${reply.toString()}`);
  return { nodes: resp.getChildren("nd").map((nd) => String(nd.attrs.id)), parameters: resp.getChildren("p").map((p) => String(p.attrs.n)) };
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
    if (application?.is("paramError", NS_NF)) {
      result.paramError = String(application.attrs.n);
      result.paramErrorText = application.text();
    }
    return result;
  }
  assert.fail("expected an iq error");
}

/** The control form of `nodes`, fetched as ControlClient.GetForm does. */
async function getForm(operator: Observer, ...nodes: string[]): Promise<Element> {
  const reply = await operator.iq("get", AGENT_JID, xml("getForm", { xmlns: NS_NF }, ...nodes.map((id) => xml("nd", { id }))));
  const form = reply.getChild("x", NS_DATA);
  assert.ok(form, `the form in the result: ${reply.toString()}`);
  return form;
}

async function pumpState(operator: Observer): Promise<string | undefined> {
  const form = await getForm(operator, "pump");
  return form.getChildren("field").find((field) => field.attrs.var === "state")?.getChildText("value") ?? undefined;
}

async function auditRows(dir: string): Promise<{ requester: string; via: string; result: string }[]> {
  const db = await Database.open(join(dir, "xedge.db"), { readonly: true });
  try {
    return await db.all("SELECT requester, via, result FROM audit ORDER BY id");
  } finally {
    await db.close();
  }
}

type SlixStep = { op: "set"; nodes: string[]; params: [string, string, string][] } | { op: "getForm"; nodes: string[] } | { op: "setForm"; nodes: string[]; values: Record<string, string> };

function runSlixNfControl(server: XmppTestServer, user: string, steps: SlixStep[]): Promise<Record<string, unknown>[]> {
  const args = [SLIX_NF_CONTROL, `${user}@localhost/slix`, `${user}-secret`, AGENT_JID, server.caFile, server.host, String(server.port), JSON.stringify(steps), "8"];
  return new Promise((resolveRun, reject) => {
    execFile("/usr/bin/python3", args, { env: { ...process.env, PYTHONPATH: "/usr/lib/python3/dist-packages" }, timeout: 60_000 }, (error, stdout, stderr) => {
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
      if (error || !events.some((event) => event.event === "end")) reject(new Error(`slix_nf_control.py failed: ${error?.message ?? "no end"}\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      else resolveRun(events);
    });
  });
}

for (const kind of serverKinds) {
  describe(`urn:nf:iot:ctr:1.0 control on ${kind}`, () => {
    let gateway: SimGateway;
    let ops: Observer;
    let viewer: Observer;
    let stranger: Observer;

    before(async () => {
      gateway = await startSimGateway(kind);
      const { server } = gateway;
      [ops, viewer, stranger] = await Promise.all([Observer.connect(server, "ops", "ops-secret"), Observer.connect(server, "viewer", "viewer-secret"), Observer.connect(server, "mallory", "mallory-secret")]);
    });
    after(async () => {
      await Promise.all([ops?.close(), viewer?.close(), stranger?.close()]);
      if (gateway) assert.equal(await gateway.stop(), 0);
    });

    it("advertises the namespace in disco#info and in the caps of its presence", async () => {
      // Servers deliver subscription answers to resources that fetched their roster.
      await ops.iq("get", "ops@localhost", xml("query", { xmlns: "jabber:iq:roster" }));
      await ops.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
      const withCaps = await ops.until(() => ops.presences.find((p) => p.attrs.from === AGENT_JID && p.getChild("c", NS_CAPS)), (p) => p !== undefined, 10_000, "the agent's presence with caps");
      const caps = withCaps!.getChild("c", NS_CAPS)!;
      const node = `${String(caps.attrs.node)}#${String(caps.attrs.ver)}`;
      const byCaps = await ops.iq("get", AGENT_JID, xml("query", { xmlns: NS_DISCO_INFO, node }));
      const plain = await ops.iq("get", AGENT_JID, xml("query", { xmlns: NS_DISCO_INFO }));
      for (const reply of [byCaps, plain]) {
        const features = reply.getChild("query", NS_DISCO_INFO)?.getChildren("feature").map((feature) => String(feature.attrs.var)) ?? [];
        assert.ok(features.includes(NS_NF) && features.includes("urn:ieee:iot:ctr:1.0"), features.join(" "));
      }
    });

    it("switches the relay with ControlClient's <b> and lists what it applied in <resp>", async () => {
      assert.equal(await pumpState(ops), "false", "the pump starts in its safe state (off)");
      // Set(To, "state", true, new ThingReference("pump")).
      assert.deepEqual(setResult(await ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "true"]))), { nodes: ["pump"], parameters: ["state"] });
      assert.equal(await pumpState(ops), "true");
      // Without a node (Set(To, "state", false)): the one relay that has `state`, named in the answer.
      assert.deepEqual(setResult(await ops.iq("set", AGENT_JID, nfSet([], ["b", "state", "false"]))), { nodes: ["pump"], parameters: ["state"] });
      assert.equal(await pumpState(ops), "false");
      // Tokens (st, dt, ut) and a node's source and partition, as a client behind a provisioning server sends them.
      const withTokens = xml("set", { xmlns: NS_NF, st: "svc", dt: "dev", ut: "usr" }, xml("nd", { id: "pump", src: "MeteringTopology", pt: "p1" }), xml("b", { n: "state", v: "true" }));
      assert.deepEqual(setResult(await ops.iq("set", AGENT_JID, withTokens)), { nodes: ["pump"], parameters: ["state"] });
      assert.equal(await pumpState(ops), "true");
      await ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "false"]));
    });

    it("answers what the relay cannot take as the reference server does: paramError naming the parameter", async () => {
      // Set(To, "state", 1, …) and Set(To, "state", 1.0, …): a boolean parameter takes neither.
      for (const element of ["i", "db"]) {
        const wrongType = await failure(ops.iq("set", AGENT_JID, nfSet(["pump"], [element, "state", "1"])));
        assert.deepEqual([wrongType.type, wrongType.condition, wrongType.paramError], ["modify", "bad-request", "state"], element);
      }
      const invalid = await failure(ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "maybe"])));
      const text = 'state: expected true, false, 1 or 0, got "maybe"';
      assert.deepEqual(invalid, { condition: "bad-request", type: "modify", text, paramError: "state", paramErrorText: text });
      const unknownParameter = await failure(ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "speed", "true"])));
      assert.deepEqual([unknownParameter.type, unknownParameter.condition, unknownParameter.paramError], ["modify", "item-not-found", "speed"]);
      const unknownNode = await failure(ops.iq("set", AGENT_JID, nfSet(["nowhere"], ["b", "state", "true"])));
      assert.deepEqual([unknownNode.type, unknownNode.condition, unknownNode.text, unknownNode.paramError], ["modify", "item-not-found", "no node nowhere", undefined]);
      const sensor = await failure(ops.iq("set", AGENT_JID, nfSet(["boiler"], ["b", "state", "true"])));
      assert.deepEqual([sensor.type, sensor.condition], ["modify", "item-not-found"]);
      const undefinedElement = await failure(ops.iq("set", AGENT_JID, xml("set", { xmlns: NS_NF }, xml("nd", { id: "pump" }), xml("boolean", { name: "state", value: "true" }))));
      assert.deepEqual([undefinedElement.type, undefinedElement.condition, undefinedElement.paramError], ["modify", "bad-request", undefined]);
      // Validated before applied: the valid first parameter was not applied either.
      await failure(ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "true"], ["b", "state", "2"])));
      assert.equal(await pumpState(ops), "false");
    });

    it("answers getForm with the control form and applies it submitted back (ControlClient.Set(DataForm))", async () => {
      const form = await getForm(viewer, "pump");
      assert.equal(form.getChildText("title"), "pump");
      const state = form.getChildren("field").find((field) => field.attrs.var === "state");
      assert.equal(state?.attrs.type, "boolean");
      assert.equal(state?.getChild("validate", "http://jabber.org/protocol/xdata-validate")?.attrs.datatype, "xs:boolean");
      // Every field submitted with its value, the state changed.
      const submitted = xml(
        "x",
        { xmlns: NS_DATA, type: "submit" },
        ...form.getChildren("field").map((field) => xml("field", { var: String(field.attrs.var) }, xml("value", {}, field.attrs.var === "state" ? "true" : (field.getChildText("value") ?? "")))),
      );
      const reply = await ops.iq("set", AGENT_JID, xml("set", { xmlns: NS_NF }, xml("nd", { id: "pump" }), submitted));
      assert.deepEqual(setResult(reply), { nodes: ["pump"], parameters: ["state"] });
      assert.equal(await pumpState(ops), "true");
      // A form echoed back unsubmitted sets nothing.
      const unsubmitted = await failure(ops.iq("set", AGENT_JID, xml("set", { xmlns: NS_NF }, xml("nd", { id: "pump" }), form)));
      assert.deepEqual([unsubmitted.condition, unsubmitted.text], ["bad-request", "a form of type form sets nothing; submit it (type submit)"]);
      await ops.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "false"]));
    });

    it("refuses read operators and strangers, and audits every attempt", async () => {
      const readOnly = await failure(viewer.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "true"])));
      assert.deepEqual(readOnly, { condition: "forbidden", type: "cancel", text: "control needs the control role; this operator has read only" });
      assert.equal((await failure(stranger.iq("set", AGENT_JID, nfSet(["pump"], ["b", "state", "true"])))).condition, "forbidden");
      assert.equal((await failure(stranger.iq("get", AGENT_JID, xml("getForm", { xmlns: NS_NF })))).condition, "forbidden");
      // Whatever a stranger sends, malformed included, is refused as forbidden: nothing to learn from the answer.
      const malformed = xml("set", { xmlns: NS_NF }, xml("nd", { id: "pump" }), xml("boolean", { name: "state", value: "true" }));
      assert.equal((await failure(stranger.iq("set", AGENT_JID, malformed))).condition, "forbidden");
      assert.equal(await pumpState(ops), "false");
      const outcomes = (await auditRows(gateway.dir)).map((row) => `${row.requester.split("@")[0]} ${row.via} ${row.result}`);
      for (const expected of ["ops nf ok", "ops nf bad-request", "ops nf item-not-found", "ops nf feature-not-implemented", "viewer nf forbidden", "mallory nf forbidden"]) {
        assert.ok(outcomes.includes(expected), `audit has "${expected}": ${outcomes.join("; ")}`);
      }
    });

    it("works live with an independent client (slixmpp, raw nf stanzas); a read operator gets forbidden", async () => {
      const events = await runSlixNfControl(gateway.server, "ops", [
        { op: "set", nodes: ["pump"], params: [["b", "state", "true"]] },
        { op: "set", nodes: ["pump"], params: [["i", "state", "1"]] },
        { op: "set", nodes: ["pump"], params: [["db", "state", "0.5"]] },
        { op: "getForm", nodes: ["pump"] },
        { op: "setForm", nodes: ["pump"], values: { state: "false" } },
        { op: "set", nodes: ["pump"], params: [["b", "state", "on"]] },
      ]);
      const step = (index: number) => events.find((event) => event.step === index);
      assert.deepEqual(step(0), { event: "result", step: 0, performed: true, resp: true, nodes: ["pump"], parameters: ["state"] }, JSON.stringify(events));
      for (const index of [1, 2]) assert.deepEqual([step(index)?.event, step(index)?.type, step(index)?.condition, step(index)?.paramError], ["error", "modify", "bad-request", "state"]);
      assert.deepEqual((step(3)?.fields as Record<string, unknown>).state, ["boolean", "true"], "the form holds the state the first set applied");
      assert.deepEqual(step(4), { event: "result", step: 4, performed: true, resp: true, nodes: ["pump"], parameters: ["state"] });
      assert.deepEqual([step(5)?.condition, step(5)?.paramError, step(5)?.paramErrorText], ["bad-request", "state", 'state: expected true, false, 1 or 0, got "on"']);
      assert.equal(await pumpState(ops), "false");
      const refused = await runSlixNfControl(gateway.server, "viewer", [{ op: "set", nodes: ["pump"], params: [["b", "state", "true"]] }]);
      assert.deepEqual([refused.find((event) => event.step === 0)?.event, refused.find((event) => event.step === 0)?.condition], ["error", "forbidden"], JSON.stringify(refused));
      assert.equal(await pumpState(ops), "false");
    });
  });
}

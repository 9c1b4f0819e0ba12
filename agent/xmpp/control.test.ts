import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { xml, type Element } from "./client.ts";
import { parseSet, registerControl, NS_CONTROL } from "./control.ts";
import { formElement } from "./control-form.ts";
import { XmppConnection, type IqRoute } from "./connection.ts";
import { Control, type AuditEntry } from "../control.ts";
import type { ActuatorEntry } from "../actuators.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { Logger } from "../log.ts";
import type { ParameterValue } from "../../drivers/driver.ts";

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** The face over a real control core, with a relay `pump` that records its writes and any other entries given. */
function face(others: ActuatorEntry[] = []) {
  const writes: { name: string; value: ParameterValue }[] = [];
  const pump: ActuatorEntry = {
    id: "pump",
    driver: "fake",
    device: {
      parameters: [{ name: "state", type: "boolean" }],
      read: () => Promise.resolve([]),
      write: (values) => Promise.resolve(void writes.push(...values)),
      close: () => Promise.resolve(),
    },
  };
  const entries = [pump, ...others];
  const audit: AuditEntry[] = [];
  const control = new Control({
    actuators: { all: entries, get: (id) => entries.find((entry) => entry.id === id) },
    authz: new Authz([{ jid: "ops@x", role: "control" }]),
    sensorIds: () => [],
    audit: (entry) => Promise.resolve(void audit.push(entry)),
    log: quiet,
  });
  const noHealth = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };
  const unusedReadout = { nodeIds: [], unknownNodes: () => [], read: () => Promise.reject(new Error("unused")) };
  const desk = new OperatorDesk({ authz: new Authz([{ jid: "ops@x", role: "control" }]), readout: unusedReadout, control, health: noHealth });
  const routes = new Map<string, IqRoute>();
  const stanzas = new EventEmitter<{ stanza: [Element] }>();
  registerControl({ route: (route: IqRoute) => void routes.set(route.name, route), on: (event, listener) => stanzas.on(event, listener) }, { desk, log: quiet });
  const iq = (name: string, element: Element, from = "ops@x/a") => routes.get(name)!.handler({ element, stanza: xml("iq"), from });
  return { iq, message: (stanza: Element) => stanzas.emit("stanza", stanza), writes, audit };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** An iq handler's answer as "setResponse" or "TYPE condition". */
function outcome(answer: Element | true): string {
  if (answer === true || !answer.is("error")) return answer === true ? "empty" : answer.name;
  const condition = answer.getChildElements().find((child) => child.attrs.xmlns === NS_STANZAS && child.name !== "text");
  return `${String(answer.attrs.type)} ${condition?.name ?? "?"}`;
}

describe("XEP-0325 face", () => {
  it("reads nodes, typed parameters in order, unknown elements as types, and submitted forms", () => {
    const set = xml(
      "set",
      { xmlns: NS_CONTROL },
      xml("node", { nodeId: "pump" }),
      xml("boolean", { name: "state", value: "true" }),
      xml("double", { name: "setpoint", value: "55.0" }),
      xml("node", { nodeId: "valve" }),
      xml("numeric", { name: "x", value: "1" }),
      xml("int", { value: "3" }),
      xml(
        "x",
        { xmlns: "jabber:x:data", type: "submit" },
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "urn:xmpp:iot:control")),
        xml("field", { var: "xdd session" }, xml("value", {}, "abc")),
        xml("field", { var: "mode" }, xml("value", {}, "auto")),
      ),
    );
    assert.deepEqual(parseSet(set), {
      nodeIds: ["pump", "valve"],
      values: [
        { name: "state", type: "boolean", value: "true" },
        { name: "setpoint", type: "double", value: "55.0" },
        { name: "x", type: "numeric", value: "1" },
        { name: "", type: "int", value: "3" },
        { name: "mode", value: "auto" },
      ],
    });
    assert.deepEqual(parseSet(xml("set", { xmlns: NS_CONTROL })), { values: [] });
  });

  it("takes Smack's <bool> as <boolean> and answers a set with <setResponse/> (an empty result breaks Smack)", async () => {
    assert.deepEqual(parseSet(xml("set", { xmlns: NS_CONTROL }, xml("bool", { name: "state", value: "true" }))), {
      values: [{ name: "state", type: "boolean", value: "true" }],
    });
    const { iq, writes } = face();
    // What Smack 4.4.8's IoTControlManager.setUsingIq(jid, new SetBoolData("state", true)) sends: no node.
    const answer = await iq("set", xml("set", { xmlns: NS_CONTROL }, xml("bool", { name: "state", value: "true" })));
    assert.ok(answer !== true && answer.is("setResponse", NS_CONTROL), String(answer));
    assert.deepEqual(writes, [{ name: "state", value: true }]);
    // Smack's other element names are the XEP's own: an int is still not a boolean.
    assert.equal(outcome(await iq("set", xml("set", { xmlns: NS_CONTROL }, xml("int", { name: "state", value: "1" })))), "modify bad-request");
  });

  it("refuses and audits a <set> message stored offline (XEP-0203 delay), and applies one without", async () => {
    const { message, writes, audit } = face();
    const set = () => xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "pump" }), xml("boolean", { name: "state", value: "true" }));
    message(xml("message", { from: "ops@x/a", to: "gw@x/edge" }, set(), xml("delay", { xmlns: "urn:xmpp:delay", from: "x", stamp: "2026-01-02T03:04:05Z" })));
    await settle();
    assert.deepEqual(writes, []);
    assert.deepEqual(audit.map((entry) => [entry.via, entry.result]), [["message", "delayed"]]);
    assert.match(String(audit[0]?.detail), /2026-01-02T03:04:05Z/);
    message(xml("message", { from: "ops@x/a", to: "gw@x/edge" }, set()));
    await settle();
    assert.deepEqual(writes, [{ name: "state", value: true }]);
    assert.deepEqual(audit.map((entry) => entry.result), ["delayed", "ok"]);
  });

  it("answers an unavailable actuator with wait + conflict (retry later), for set and getForm", async () => {
    const { iq, writes } = face([{ id: "spare", driver: "fake", error: "GPIO 22 is already in use" }]);
    const set = xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "spare" }), xml("boolean", { name: "state", value: "true" }));
    const answer = await iq("set", set);
    assert.equal(outcome(answer), "wait conflict");
    assert.match(answer === true ? "" : String(answer.getChildText("text", NS_STANZAS)), /actuator spare is not available: GPIO 22 is already in use/);
    assert.equal(outcome(await iq("getForm", xml("getForm", { xmlns: NS_CONTROL }, xml("node", { nodeId: "spare" })))), "wait conflict");
    assert.deepEqual(writes, []);
  });

  it("leaves a submitted form's value-less fields out, so their parameters stay as they are", async () => {
    const submitted = xml(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      xml("field", { var: "state" }),
      xml("field", { var: "mode" }, xml("value", {}, "auto")),
      xml("field", { var: "label" }, xml("value", {})),
    );
    assert.deepEqual(parseSet(xml("set", { xmlns: NS_CONTROL }, submitted)).values, [
      { name: "mode", value: "auto" },
      { name: "label", value: "" },
    ]);
    const { iq, writes } = face();
    const onlyUntouched = xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "state" }));
    assert.equal(outcome(await iq("set", xml("set", { xmlns: NS_CONTROL }, onlyUntouched))), "modify bad-request");
    assert.deepEqual(writes, []);
  });

  it("renders the form: typed fields, XEP-0122 validation with ranges, options, notSame, a hidden session", () => {
    const form = formElement([
      { spec: { name: "state", type: "boolean", description: "relay on" }, nodeIds: ["a", "b"], value: "true", notSame: true },
      { spec: { name: "speed", type: "int", min: 0, max: 100 }, nodeIds: ["a"], value: "10", notSame: false },
      { spec: { name: "setpoint", type: "double", min: 20, unit: "°C" }, nodeIds: ["a"], notSame: false },
      { spec: { name: "mode", type: "string", options: ["auto", "manual"] }, nodeIds: ["a"], value: "auto", notSame: false },
    ]);
    assert.equal(form.attrs.type, "form");
    const fields = form.getChildren("field");
    assert.deepEqual(fields.map((field) => [String(field.attrs.var), String(field.attrs.type)]), [
      ["xdd session", "hidden"],
      ["state", "boolean"],
      ["speed", "text-single"],
      ["setpoint", "text-single"],
      ["mode", "list-single"],
    ]);
    const [, state, speed, setpoint, mode] = fields;
    assert.equal(state?.getChildText("desc"), "relay on");
    assert.ok(state?.getChild("notSame", "urn:xmpp:xdata:dynamic"));
    assert.equal(speed?.getChild("notSame", "urn:xmpp:xdata:dynamic"), undefined);
    const validate = speed?.getChild("validate", "http://jabber.org/protocol/xdata-validate");
    assert.equal(validate?.attrs.datatype, "xs:int");
    assert.deepEqual(validate?.getChild("range")?.attrs, { min: "0", max: "100" });
    assert.equal(setpoint?.attrs.label, "setpoint (°C)");
    assert.equal(setpoint?.getChild("value"), undefined, "no value when the state could not be read");
    assert.equal(setpoint?.getChild("validate")?.attrs.datatype, "xs:double");
    assert.deepEqual(setpoint?.getChild("validate")?.getChild("range")?.attrs, { min: "20" });
    assert.deepEqual(mode?.getChildren("option").map((option) => option.getChildText("value")), ["auto", "manual"]);
    // Every parameter carries its XEP-0122 datatype, booleans and closed lists included.
    const datatypes = [state, speed, setpoint, mode].map((field) => String(field?.getChild("validate", "http://jabber.org/protocol/xdata-validate")?.attrs.datatype));
    assert.deepEqual(datatypes, ["xs:boolean", "xs:int", "xs:double", "xs:string"]);
    assert.ok(state?.getChild("validate")?.getChild("basic"));
    assert.equal(mode?.getChildText("value"), "auto");
  });
});

describe("XEP-0325 face in disco", () => {
  it("announces control for <set> and XEP-0336 dynamic forms for getForm", () => {
    // Never started: registering only fills the route table and disco.
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const options = { service: "xmpp://127.0.0.1:1", domain: "localhost", username: "gw1", password: "-", resource: "edge", pingIntervalMs: 60_000, pingTimeoutMs: 10_000, reconnect: { initialDelayMs: 1_000, maxDelayMs: 60_000 } };
    const connection = new XmppConnection(options, quiet);
    const unused: Pick<OperatorDesk, "for"> = { for: () => assert.fail("no stanza is handled") };
    registerControl(connection, { desk: unused, log: quiet });
    const features = connection.discoInfo().features;
    assert.ok(features.includes(NS_CONTROL), features.join(" "));
    assert.ok(features.includes("urn:xmpp:xdata:dynamic"), features.join(" "));
  });
});

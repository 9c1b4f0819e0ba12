import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { xml, type Element } from "./client.ts";
import { NS_IEEE_CONTROL, NS_NF_CONTROL, parseNfSet, registerNfControl } from "./nf-control.ts";
import { XmppConnection, type IqRoute } from "./connection.ts";
import { Control, type AuditEntry } from "../control.ts";
import type { ActuatorEntry } from "../actuators.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { Logger } from "../log.ts";
import type { ParameterSpec, ParameterValue } from "../../drivers/driver.ts";

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_DATA = "jabber:x:data";
const OPERATORS = [
  { jid: "ops@x", role: "control" as const },
  { jid: "viewer@x", role: "read" as const },
];

/** An actuator over a fake device that records its writes and reads back what was written. */
function actuator(id: string, parameters: ParameterSpec[], writes: { nodeId: string; name: string; value: ParameterValue }[]): ActuatorEntry {
  const state = new Map<string, ParameterValue>();
  return {
    id,
    driver: "fake",
    device: {
      parameters,
      read: () => Promise.resolve([...state].map(([name, value]) => (typeof value === "boolean" ? { name, type: "boolean" as const, value } : { name, type: "string" as const, value: String(value) }))),
      write: (values) => {
        for (const { name, value } of values) {
          writes.push({ nodeId: id, name, value });
          state.set(name, value);
        }
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    },
  };
}

/** The face over a real control core: a relay `pump`, a `heater` with an int and a double parameter, a sensor. */
function face(others: ActuatorEntry[] = []) {
  const writes: { nodeId: string; name: string; value: ParameterValue }[] = [];
  const entries = [
    actuator("pump", [{ name: "state", type: "boolean" }], writes),
    actuator("heater", [{ name: "level", type: "int", min: 0, max: 100 }, { name: "setpoint", type: "double", min: 5, max: 30, unit: "°C" }], writes),
    ...others,
  ];
  const audit: AuditEntry[] = [];
  const control = new Control({
    actuators: { all: entries, get: (id) => entries.find((entry) => entry.id === id) },
    authz: new Authz(OPERATORS),
    sensorIds: () => ["boiler"],
    audit: (entry) => Promise.resolve(void audit.push(entry)),
    log: quiet,
  });
  const noHealth = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };
  const unusedReadout = { nodeIds: [], unknownNodes: () => [], read: () => Promise.reject(new Error("unused")) };
  const desk = new OperatorDesk({ authz: new Authz(OPERATORS), readout: unusedReadout, control, health: noHealth });
  const routes = new Map<string, IqRoute>();
  registerNfControl({ route: (route: IqRoute) => void routes.set(`${route.ns} ${route.name}`, route) }, { desk });
  const iq = (element: Element, from = "ops@x/a") => routes.get(`${String(element.attrs.xmlns)} ${element.name}`)!.handler({ element, stanza: xml("iq"), from });
  return { iq, writes, audit };
}

function set(...children: Element[]): Element {
  return xml("set", { xmlns: NS_NF_CONTROL }, ...children);
}

/** What the face answered, flattened: "resp nd=… p=…", or "TYPE condition paramError-n". */
function outcome(answer: Element | true): string {
  assert.notEqual(answer, true, "the dialect never answers an empty result");
  if (answer === true) return "";
  if (answer.is("resp")) {
    const listed = answer.getChildElements().map((child) => `${child.name}=${String(child.attrs.id ?? child.attrs.n)}`);
    return ["resp", ...listed].join(" ");
  }
  const condition = answer.getChildElements().find((child) => child.attrs.xmlns === NS_STANZAS && child.name !== "text");
  const paramError = answer.getChildElements().find((child) => child.name === "paramError");
  return [answer.attrs.type, condition?.name, ...(paramError ? [`paramError=${String(paramError.attrs.n)}`] : [])].join(" ");
}

describe("urn:nf:iot:ctr face", () => {
  it("reads nodes, every parameter element as its type, and a submitted form, ignoring tokens, src and pt", () => {
    const parsed = parseNfSet(
      xml(
        "set",
        { xmlns: NS_NF_CONTROL, st: "s1", dt: "d1", ut: "u1" },
        xml("nd", { id: "pump", src: "MeteringTopology", pt: "p" }),
        ...["b", "cl", "d", "dt", "db", "dr", "e", "i", "l", "s", "t"].map((name) => xml(name, { n: name, v: "1", ...(name === "e" ? { t: "Some.Enum" } : {}) })),
        xml("nd", { id: "heater" }),
        xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "xdd session" }, xml("value", {}, "abc")), xml("field", { var: "mode" }, xml("value", {}, "auto")), xml("field", { var: "state" })),
      ),
    );
    assert.deepEqual(parsed, {
      nodeIds: ["pump", "heater"],
      values: [
        { name: "b", type: "boolean", value: "1" },
        { name: "cl", type: "color", value: "1" },
        { name: "d", type: "date", value: "1" },
        { name: "dt", type: "dateTime", value: "1" },
        { name: "db", type: "double", value: "1" },
        { name: "dr", type: "duration", value: "1" },
        { name: "e", type: "string", value: "1" },
        { name: "i", type: "int", value: "1" },
        { name: "l", type: "long", value: "1" },
        { name: "s", type: "string", value: "1" },
        { name: "t", type: "time", value: "1" },
        { name: "mode", value: "auto" },
      ],
    });
    assert.deepEqual(parseNfSet(set()), { values: [] });
  });

  it("marks an element the dialect does not define, or a form not submitted, malformed: bad-request once authorized, audited", async () => {
    const state = xml("b", { n: "state", v: "true" });
    assert.deepEqual(parseNfSet(set(state, xml("boolean", { name: "state", value: "true" }), xml("foo"))), {
      values: [{ name: "state", type: "boolean", value: "true" }],
      malformed: "<boolean> is not an element of a urn:nf:iot:ctr:1.0 set",
    });
    assert.deepEqual(parseNfSet(set(xml("x", { xmlns: NS_DATA, type: "form" }, xml("field", { var: "state" }, xml("value", {}, "1"))))), {
      values: [],
      malformed: "a form of type form sets nothing; submit it (type submit)",
    });
    const { iq, writes, audit } = face();
    const malformed = () => set(xml("nd", { id: "pump" }), xml("b", { n: "state", v: "true" }), xml("foo"));
    // No paramError: the reference server sends none for a set it cannot read.
    assert.equal(outcome(await iq(malformed())), "modify bad-request");
    assert.equal(outcome(await iq(malformed(), "mallory@x/a")), "cancel forbidden");
    assert.deepEqual(writes, []);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.result, entry.detail]), [
      ["ops@x/a", "bad-request", "<foo> is not an element of a urn:nf:iot:ctr:1.0 set"],
      ["mallory@x/a", "forbidden", "not an operator of this gateway"],
    ]);
  });

  it("sets a relay, an int and a double as ControlClient sends them, and lists what was applied in <resp>", async () => {
    const { iq, writes, audit } = face();
    assert.equal(outcome(await iq(set(xml("nd", { id: "pump" }), xml("b", { n: "state", v: "true" })))), "resp nd=pump p=state");
    assert.equal(outcome(await iq(set(xml("nd", { id: "heater" }), xml("i", { n: "level", v: "42" })))), "resp nd=heater p=level");
    // Without a node: the one actuator that has the parameter, named in the answer.
    assert.equal(outcome(await iq(set(xml("db", { n: "setpoint", v: "21.5" })))), "resp nd=heater p=setpoint");
    assert.deepEqual(writes, [
      { nodeId: "pump", name: "state", value: true },
      { nodeId: "heater", name: "level", value: 42 },
      { nodeId: "heater", name: "setpoint", value: 21.5 },
    ]);
    assert.deepEqual(audit.map((entry) => [entry.via, entry.result]), [["nf", "ok"], ["nf", "ok"], ["nf", "ok"]]);
  });

  it("answers bad values, wrong types and unknown parameters with the reference's errors and a paramError", async () => {
    const { iq, writes } = face();
    const heater = xml("nd", { id: "heater" });
    assert.equal(outcome(await iq(set(heater, xml("i", { n: "level", v: "101" })))), "modify bad-request paramError=level");
    assert.equal(outcome(await iq(set(heater, xml("db", { n: "setpoint", v: "warm" })))), "modify bad-request paramError=setpoint");
    assert.equal(outcome(await iq(set(xml("nd", { id: "pump" }), xml("i", { n: "state", v: "1" })))), "modify bad-request paramError=state");
    assert.equal(outcome(await iq(set(heater, xml("i", { n: "speed", v: "1" })))), "modify item-not-found paramError=speed");
    // The paramError is in the dialect's namespace and carries the text.
    const answer = await iq(set(heater, xml("i", { n: "level", v: "101" })));
    const paramError = answer === true ? undefined : answer.getChild("paramError", NS_NF_CONTROL);
    assert.equal(paramError?.text(), "level: 101 is outside 0..100");
    assert.equal(answer === true ? undefined : answer.getChildText("text", NS_STANZAS), "level: 101 is outside 0..100");
    // Validated before anything is applied.
    assert.equal(outcome(await iq(set(heater, xml("i", { n: "level", v: "5" }), xml("db", { n: "setpoint", v: "99" })))), "modify bad-request paramError=setpoint");
    assert.deepEqual(writes, []);
  });

  it("refuses unknown nodes, sensors, an ambiguous node-less set, and an unavailable actuator (retry later)", async () => {
    const spare: ActuatorEntry = { id: "spare", driver: "fake", error: "GPIO 22 is already in use" };
    const { iq, writes } = face([spare, actuator("fan", [{ name: "state", type: "boolean" }], [])]);
    assert.equal(outcome(await iq(set(xml("nd", { id: "nowhere" }), xml("b", { n: "state", v: "true" })))), "modify item-not-found");
    assert.equal(outcome(await iq(set(xml("nd", { id: "boiler" }), xml("b", { n: "state", v: "true" })))), "modify item-not-found");
    assert.equal(outcome(await iq(set(xml("b", { n: "state", v: "true" })))), "modify bad-request paramError=state");
    assert.equal(outcome(await iq(set(xml("nd", { id: "spare" }), xml("b", { n: "state", v: "true" })))), "wait conflict");
    assert.equal(outcome(await iq(xml("getForm", { xmlns: NS_NF_CONTROL }, xml("nd", { id: "spare" })))), "wait conflict");
    assert.deepEqual(writes, []);
  });

  it("refuses read operators and strangers, and audits them", async () => {
    const { iq, writes, audit } = face();
    const request = () => set(xml("nd", { id: "pump" }), xml("b", { n: "state", v: "true" }));
    const refused = await iq(request(), "viewer@x/a");
    assert.equal(outcome(refused), "cancel forbidden");
    assert.equal(refused === true ? undefined : refused.getChildText("text", NS_STANZAS), "control needs the control role; this operator has read only");
    assert.equal(outcome(await iq(request(), "mallory@x/a")), "cancel forbidden");
    assert.equal(outcome(await iq(xml("getForm", { xmlns: NS_NF_CONTROL }), "mallory@x/a")), "cancel forbidden");
    assert.deepEqual(writes, []);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.result]), [["viewer@x/a", "forbidden"], ["mallory@x/a", "forbidden"]]);
  });

  it("answers getForm with the shared control form, titled as the reference does, and takes it back submitted", async () => {
    const { iq, writes } = face();
    const form = await iq(xml("getForm", { xmlns: NS_NF_CONTROL, "xml:lang": "en" }, xml("nd", { id: "heater" })));
    assert.ok(form !== true && form.is("x", NS_DATA), String(form));
    assert.equal(form.getChildText("title"), "heater");
    const fields = form.getChildren("field").map((field) => [String(field.attrs.var), String(field.getChild("validate", "http://jabber.org/protocol/xdata-validate")?.attrs.datatype ?? "-")]);
    assert.deepEqual(fields, [["xdd session", "-"], ["level", "xs:int"], ["setpoint", "xs:double"]]);
    const all = await iq(xml("getForm", { xmlns: NS_NF_CONTROL }), "viewer@x/a");
    assert.equal(all === true ? undefined : all.getChildText("title"), "Control");
    const both = await iq(xml("getForm", { xmlns: NS_NF_CONTROL }, xml("nd", { id: "pump" }), xml("nd", { id: "heater" })));
    assert.equal(both === true ? undefined : both.getChildText("title"), "2 nodes");
    // ControlClient.Set(DataForm, …): the fetched form's fields, submitted inside <set>.
    const session = form.getChildren("field")[0]?.getChildText("value") ?? "";
    const submitted = xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "xdd session" }, xml("value", {}, session)), xml("field", { var: "level" }, xml("value", {}, "7")), xml("field", { var: "setpoint" }));
    assert.equal(outcome(await iq(set(xml("nd", { id: "heater" }), submitted))), "resp nd=heater p=level");
    assert.deepEqual(writes, [{ nodeId: "heater", name: "level", value: 7 }]);
  });

  it("answers urn:ieee:iot:ctr:1.0 the same, in its own namespace", async () => {
    const { iq, writes, audit } = face();
    const answer = await iq(xml("set", { xmlns: NS_IEEE_CONTROL }, xml("nd", { id: "pump" }), xml("b", { n: "state", v: "false" })));
    assert.ok(answer !== true && answer.is("resp", NS_IEEE_CONTROL), String(answer));
    const refused = await iq(xml("set", { xmlns: NS_IEEE_CONTROL }, xml("nd", { id: "pump" }), xml("b", { n: "state", v: "maybe" })));
    assert.equal(refused === true ? undefined : refused.getChild("paramError", NS_IEEE_CONTROL)?.attrs.n, "state");
    assert.deepEqual(writes, [{ nodeId: "pump", name: "state", value: false }]);
    assert.deepEqual(audit.map((entry) => entry.via), ["ieee", "ieee"]);
  });
});

describe("urn:nf:iot:ctr face in disco", () => {
  it("announces both namespaces", () => {
    // Never started: registering only fills the route table and disco.
    const options = { service: "xmpp://127.0.0.1:1", domain: "localhost", username: "gw1", password: "-", resource: "edge", pingIntervalMs: 60_000, pingTimeoutMs: 10_000, reconnect: { initialDelayMs: 1_000, maxDelayMs: 60_000 } };
    const connection = new XmppConnection(options, quiet);
    const unused: Pick<OperatorDesk, "for"> = { for: () => assert.fail("no stanza is handled") };
    registerNfControl(connection, { desk: unused });
    const features = connection.discoInfo().features;
    assert.ok(features.includes(NS_NF_CONTROL) && features.includes(NS_IEEE_CONTROL), features.join(" "));
  });
});

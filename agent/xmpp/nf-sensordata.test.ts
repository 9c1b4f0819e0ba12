// The nf sensor-data face without a server: request validation, <resp> packing, and the handlers' decisions.
// The requests are built as the dialect's reference client builds them (SensorClient.cs, RequestReadout: a GUID
// id without dashes, one-letter types set to 'true', from/to/when only when given, <nd id/> and <f n/> children).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "./client.ts";
import type { IqRoute } from "./connection.ts";
import { BadRequestError } from "./request-checks.ts";
import { ForeignNodeError, nfResponses, parseNfRequest, registerNfSensorData } from "./nf-sensordata.ts";
import { NS_IEEE_SENSORDATA, NS_NF_SENSORDATA } from "./nf-fields.ts";
import { SampleRenderings } from "./sample-renderings.ts";
import { LIMITS } from "./sensordata.ts";
import { Readout, type ReadoutResult } from "../readout.ts";
import type { SensorState } from "../sampler.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { HealthSources } from "../health.ts";
import type { Field, Sample } from "../../lib/model.ts";
import type { Logger } from "../log.ts";

const NS = NS_NF_SENSORDATA;
const GUID = "3f2a9c0e5b7d4e1f8a6c2b9d0e4f7a1c";
const req = (attrs: Record<string, string>, ...children: (Element | string)[]) => xml("req", { xmlns: NS, id: GUID, ...attrs }, ...children);
const nd = (id: string, more: Record<string, string> = {}) => xml("nd", { id, ...more });

function refusal(element: Element): string {
  try {
    parseNfRequest(element);
  } catch (error) {
    if (error instanceof BadRequestError || error instanceof ForeignNodeError) return error.message;
    throw error;
  }
  return "accepted";
}

describe("parseNfRequest", () => {
  it("reads id, one-letter types, range, nodes and fields", () => {
    const parsed = parseNfRequest(req({ m: "true", h: "true", s: "false", from: "2025-01-05T10:00:00.000Z", to: "2025-01-05T12:00:00.000" }, nd("boiler"), xml("f", { n: "temperature" })));
    assert.equal(parsed.id, GUID);
    assert.deepEqual([...parsed.request.types], ["momentary", "historical"]);
    assert.deepEqual(parsed.request.nodeIds, ["boiler"]);
    assert.deepEqual(parsed.request.fieldNames, ["temperature"]);
    assert.equal(parsed.request.from?.toISOString(), "2025-01-05T10:00:00.000Z");
    assert.equal(parsed.request.to?.toISOString(), "2025-01-05T12:00:00.000Z", "a time without a zone (the reference's local time) is read as UTC");
    assert.deepEqual([...parseNfRequest(req({ all: "true", p: "1", c: "1", i: "1" })).request.types], ["peak", "computed", "identity", "all"]);
  });

  it("ignores the tokens and attributes it does not know, and still checks the ones it does", () => {
    const unknown = { st: "s".repeat(1000), dt: "d", ut: "u", "xml:lang": "en", "xmlns:ext": "urn:example:ext", colour: "red", seqnr: "x" };
    assert.deepEqual([...parseNfRequest(req({ m: "true", ...unknown }, nd("boiler"))).request.types], ["momentary"]);
    assert.match(refusal(req({ m: "maybe", ...unknown })), /^m must be true or false, got "maybe"$/);
  });

  it("says what is wrong with a malformed request", () => {
    const cases: [Element, RegExp][] = [
      [xml("req", { xmlns: NS }), /^id is required$/],
      [req({ id: "" }), /^id is required$/],
      [req({ id: "x".repeat(LIMITS.valueLength + 1) }), /^attribute id is longer than 256 characters$/],
      [req({ h: "yes" }), /^h must be true or false, got "yes"$/],
      [req({ from: "yesterday" }), /^from must be an xs:dateTime/],
      [req({ when: "2025-02-30T00:00:00Z" }), /^when must be an xs:dateTime/],
      [req({ from: "2025-01-02T00:00:00Z", to: "2025-01-01T00:00:00Z" }), /^from is after to$/],
      [req({}, xml("node", { nodeId: "a" })), /^unknown element <node> in <req>$/],
      [req({}, xml("nd", { xmlns: "urn:xmpp:iot:sensordata", id: "a" })), /^unknown element <nd> in <req>$/],
      [req({}, xml("nd", {})), /^<nd> needs a non-empty id$/],
      [req({}, xml("f", { n: "" })), /^<f> needs a non-empty n$/],
      [req({}, nd("a", { colour: "red" })), /^unknown attribute colour on <nd>$/],
      [req({}, xml("f", { n: "a" }, xml("x"))), /^<f> must be empty$/],
      [req({}, ...Array.from({ length: LIMITS.nodes + 1 }, (_, i) => nd(`n${i}`))), /^more than 100 <nd> elements$/],
      [req({}, "text"), /^unexpected text in <req>$/],
      [req({}, nd("boiler", { src: "MeteringTopology" }), nd("pump", { pt: "p1" })), /^no node boiler, pump in that source or partition/],
    ];
    for (const [element, expected] of cases) assert.match(refusal(element), expected, element.toString().slice(0, 120));
    assert.deepEqual(parseNfRequest(req({}, "\n  ", nd("a"), "\r\n\t")).request.nodeIds, ["a"], "indentation is no text");
  });

  it("reads the ieee namespace the same way, children in that namespace", () => {
    const parsed = parseNfRequest(xml("req", { xmlns: NS_IEEE_SENSORDATA, id: "7", m: "true" }, nd("pump")));
    assert.deepEqual(parsed.request.nodeIds, ["pump"]);
  });
});

const numeric = (name: string, value: number): Field => ({ name, type: "numeric", value, unit: "°C", decimals: 1, flags: { momentary: true } });

describe("nfResponses", () => {
  const at = new Date("2025-01-05T10:00:00Z");

  it("answers a result in one <resp> without more, errors after the data", () => {
    const result: ReadoutResult = { groups: [{ nodeId: "a", timestamp: at, fields: [numeric("t", 1)] }], failures: [{ nodeId: "b", timestamp: at, message: "bus error" }] };
    assert.equal(
      nfResponses(NS, "r1", result).map(String).join(""),
      '<resp xmlns="urn:nf:iot:sd:1.0" id="r1"><nd id="a"><ts v="2025-01-05T10:00:00.000Z"><q n="t" m="true" ar="true" v="1.0" u="°C"/></ts></nd>' +
        '<nd id="b"><ts v="2025-01-05T10:00:00.000Z"><err>bus error</err></ts></nd></resp>',
    );
    assert.equal(nfResponses(NS_IEEE_SENSORDATA, "r2", { groups: [], failures: [] }).map(String).join(""), '<resp xmlns="urn:ieee:iot:sd:1.0" id="r2"/>');
  });

  it("renders a whole current sample once, byte for byte what a fresh build writes, until the next sample", () => {
    const renderings = new SampleRenderings();
    const sample = { sensorId: "a", timestamp: at, fields: [numeric("t", 1), numeric("u", 2)] };
    const current = (of: Sample, clock?: "unsynced"): ReadoutResult => ({ groups: [{ nodeId: "a", timestamp: of.timestamp, fields: of.fields, sample: of, ...(clock ? { clock } : {}) }], failures: [] });
    const fresh = (result: ReadoutResult, ns = NS, id = "r") => nfResponses(ns, id, result).map(String);

    const first = nfResponses(NS, "r1", current(sample), { renderings });
    const second = nfResponses(NS, "r2", current(sample), { renderings });
    assert.equal(second[0]?.getChild("nd"), first[0]?.getChild("nd"), "the second readout reuses the first one's <nd>");
    assert.deepEqual(first.map(String), fresh(current(sample), NS, "r1"), "the first answer still writes the same, its <nd> now under the second");
    assert.deepEqual(second.map(String), fresh(current(sample), NS, "r2"));
    const ieee = nfResponses(NS_IEEE_SENSORDATA, "r3", current(sample), { renderings });
    assert.deepEqual(ieee.map(String), fresh(current(sample), NS_IEEE_SENSORDATA, "r3"));
    assert.equal(ieee[0]?.getChild("nd")?.getNS(), NS_IEEE_SENSORDATA, "each namespace has its own rendering");
    assert.equal(first[0]?.getChild("nd")?.getNS(), NS);
    const untrusted = nfResponses(NS, "r4", current(sample, "unsynced"), { renderings });
    assert.deepEqual(untrusted.map(String), fresh(current(sample, "unsynced"), NS, "r4"), "a clock no longer trusted is rendered as such");

    const next = { sensorId: "a", timestamp: new Date(at.getTime() + 1000), fields: [numeric("t", 3), numeric("u", 4)] };
    const after = nfResponses(NS, "r5", current(next), { renderings });
    assert.notEqual(after[0]?.getChild("nd"), first[0]?.getChild("nd"));
    assert.deepEqual(after.map(String), fresh(current(next), NS, "r5"), "a new sample is rendered anew");
  });

  it("builds a current sample split over several <resp> afresh each time", () => {
    const renderings = new SampleRenderings();
    const sample = { sensorId: "a", timestamp: at, fields: Array.from({ length: 3 }, (_, i) => numeric(`f${i}`, i)) };
    const result: ReadoutResult = { groups: [{ nodeId: "a", timestamp: at, fields: sample.fields, sample }], failures: [] };
    const first = nfResponses(NS, "r", result, { fieldsPerMessage: 2, renderings });
    const second = nfResponses(NS, "r", result, { fieldsPerMessage: 2, renderings });
    assert.deepEqual(second.map(String), nfResponses(NS, "r", result, { fieldsPerMessage: 2 }).map(String));
    assert.notEqual(second[0]?.getChild("nd"), first[0]?.getChild("nd"));
  });

  it("splits large results, more='true' on all but the last, the errors in the last", () => {
    const result: ReadoutResult = {
      groups: [
        { nodeId: "a", timestamp: at, fields: Array.from({ length: 4 }, (_, i) => numeric(`f${i}`, i)) },
        { nodeId: "b", timestamp: at, fields: [numeric("g", 1)], historical: "historicalMinute" },
      ],
      failures: [{ nodeId: "c", timestamp: at, message: "EIO" }],
    };
    const responses = nfResponses(NS, "r", result, { fieldsPerMessage: 2 });
    assert.deepEqual(responses.map((resp) => resp.attrs.more as string | undefined), ["true", "true", undefined]);
    assert.deepEqual(
      responses.map((resp) => resp.getChildren("nd").map((n) => `${String(n.attrs.id)}:${n.getChild("ts")?.children.length}`).join(",")),
      ["a:2", "a:2", "b:1,c:1"],
    );
    assert.equal(responses[2]?.getChildByAttr("id", "b")?.getChild("ts")?.getChild("q")?.attrs.h, "true");
    const full = nfResponses(NS, "r", { groups: result.groups.slice(0, 1), failures: result.failures }, { fieldsPerMessage: 2 });
    assert.deepEqual(full.map((resp) => resp.getChildren("nd").map((n) => String(n.attrs.id)).join(",")), ["a", "a,c"], "errors join the last batch when it is full");
  });
});

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const unusedControl = { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] };
const noHealth: HealthSources = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };

/** A sensor with more current fields than one <resp> carries. */
const WIDE_FIELDS = LIMITS.fieldsPerMessage + 10;

function face(log: Logger = quiet, send = (stanza: Element, sent: Element[]) => Promise.resolve(sent.push(stanza) > 0)) {
  const routes = new Map<string, IqRoute>();
  const features: string[] = [];
  const sent: Element[] = [];
  const stored = new Date("2025-01-05T09:00:00Z");
  const wide = Array.from({ length: WIDE_FIELDS }, (_, i) => numeric(`f${i}`, i));
  const states: SensorState[] = [
    { id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: new Date(), fields: [numeric("temperature", 21)] } },
    { id: "wide", driver: "many", lastSample: { sensorId: "wide", timestamp: new Date(), fields: wide } },
  ];
  const readout = new Readout({
    sampler: { states },
    actuators: { all: [] },
    store: { history: () => Promise.resolve([{ id: 1, sensorId: "boiler", seq: 1, timestamp: stored, fields: [numeric("temperature", 20)] }]) },
  });
  const nf = registerNfSensorData(
    {
      route: (route: IqRoute, feature?: string) => {
        routes.set(`${route.type} ${route.ns} ${route.name}`, route);
        if (feature) features.push(feature);
      },
      send: (stanza: Element) => send(stanza, sent),
    },
    { desk: new OperatorDesk({ authz: new Authz([{ jid: "ops@x", role: "read" }]), readout, control: unusedControl, health: noHealth }), log },
  );
  const call = async (element: Element, from = "ops@x/a", type: "get" | "set" = "get") =>
    routes.get(`${type} ${String(element.attrs.xmlns)} ${element.name}`)!.handler({ element, stanza: xml("iq"), from });
  return { call, sent, features, routes, states, stop: () => nf.stop() };
}

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
const condition = (reply: Element | true) => (reply === true ? "" : `${reply.attrs.type as string} ${reply.getChildElements()[0]?.name ?? ""}`);
const cancel = (id: string, ns = NS) => xml("cancel", { xmlns: ns, id });

describe("registerNfSensorData", () => {
  it("routes req and cancel as get and set in both namespaces, announcing each namespace once", () => {
    const { routes, features } = face();
    assert.deepEqual(features, [NS_NF_SENSORDATA, NS_IEEE_SENSORDATA]);
    for (const ns of [NS_NF_SENSORDATA, NS_IEEE_SENSORDATA]) for (const type of ["get", "set"]) for (const name of ["req", "cancel"]) assert.ok(routes.has(`${type} ${ns} ${name}`));
  });

  it("answers each readout with the sensor's sample at the time, a new sample as soon as it is taken", async () => {
    const { call, states } = face();
    const value = async () => {
      const reply = await call(req({ m: "true" }, nd("boiler")));
      return reply === true ? undefined : (reply.getChild("nd")?.getChild("ts")?.getChild("q")?.attrs.v as string | undefined);
    };
    assert.equal(await value(), "21.0");
    assert.equal(await value(), "21.0");
    states[0]!.lastSample = { sensorId: "boiler", timestamp: new Date(), fields: [numeric("temperature", 22)] };
    assert.equal(await value(), "22.0");
  });

  it("answers current values in the iq result as <resp> in the namespace asked, and sends no message", async () => {
    const { call, sent } = face();
    const reply = await call(req({ m: "true" }, nd("boiler")));
    assert.ok(reply !== true);
    assert.equal(reply.name, "resp");
    assert.deepEqual(reply.attrs, { xmlns: NS, id: GUID });
    assert.equal(reply.getChild("nd")?.getChild("ts")?.getChild("q")?.attrs.v, "21.0");
    const ieee = await call(xml("req", { xmlns: NS_IEEE_SENSORDATA, id: "2" }, nd("boiler")), "ops@x/a", "set");
    assert.ok(ieee !== true);
    assert.deepEqual([ieee.name, ieee.attrs.xmlns], ["resp", NS_IEEE_SENSORDATA]);
    await settle();
    assert.deepEqual(sent, []);
  });

  it("answers current values that do not fit one <resp> with more='true' in the result and the rest in a message after it", async () => {
    const { call, sent } = face();
    const reply = await call(req({ m: "true" }, nd("wide")));
    assert.ok(reply !== true);
    assert.equal(reply.attrs.more, "true");
    assert.equal(reply.getChild("nd")?.getChild("ts")?.children.length, LIMITS.fieldsPerMessage);
    assert.equal(sent.length, 0, "nothing before the iq result has gone");
    await settle();
    const rest = sent.map((m) => m.getChild("resp", NS));
    assert.deepEqual(rest.map((resp): unknown[] => [resp?.attrs.id, resp?.attrs.more, resp?.getChild("nd")?.getChild("ts")?.children.length]), [[GUID, undefined, WIDE_FIELDS - LIMITS.fieldsPerMessage]]);
  });

  it("logs a message that could not be sent after the result, and frees the readout's slot", async () => {
    const errors: string[] = [];
    const { call } = face({ ...quiet, error: (message) => void errors.push(message) }, () => Promise.reject(new Error("offline")));
    const first = await call(req({ m: "true" }, nd("wide")));
    assert.ok(first !== true && first.attrs.more === "true");
    await settle();
    assert.deepEqual(errors, ["nf readout failed"]);
    const again = await call(req({ m: "true" }, nd("boiler")));
    assert.ok(again !== true && again.name === "resp", "the same id is free again");
  });

  it("accepts history, then sends its data in <resp> messages to the requester's full JID", async () => {
    const { call, sent } = face();
    assert.equal(String(await call(req({ h: "true" }, nd("boiler")))), `<accepted xmlns="${NS}" id="${GUID}"/>`);
    await settle();
    const resp = (m: Element) => m.getChild("resp", NS);
    assert.deepEqual(
      sent.map((m): unknown[] => [m.attrs.to, resp(m)?.attrs.more, resp(m)?.getChild("nd")?.getChild("ts")?.attrs.v]),
      [["ops@x/a", undefined, "2025-01-05T09:00:00.000Z"]],
    );
  });

  it("refuses strangers, bad requests, unknown and foreign nodes with the defined errors", async () => {
    const { call, sent } = face();
    assert.equal(condition(await call(req({}), "eve@x/a")), "cancel forbidden");
    assert.equal(condition(await call(cancel("1"), "eve@x/a")), "cancel forbidden");
    assert.equal(condition(await call(xml("req", { xmlns: NS, m: "true" }))), "modify bad-request");
    assert.equal(condition(await call(req({}, nd("nope")))), "cancel item-not-found");
    assert.equal(condition(await call(req({}, nd("boiler", { src: "MeteringTopology" })))), "cancel item-not-found");
    assert.equal(condition(await call(req({ when: new Date(Date.now() + 25 * 3_600_000).toISOString() }))), "modify bad-request");
    assert.equal(condition(await call(xml("cancel", { xmlns: NS }))), "modify bad-request");
    await settle();
    assert.equal(sent.length, 0);
  });

  it("bounds readouts per requester, refuses an id in use, and cancels with an empty result, known or not", async () => {
    const { call, sent, stop } = face();
    const later = new Date(Date.now() + 60_000).toISOString();
    for (let i = 1; i <= LIMITS.readoutsPerRequester; i++) {
      assert.equal(String(await call(req({ id: String(i), when: later }), `ops@x/r${i}`)), `<accepted xmlns="${NS}" id="${i}" queued="true"/>`);
    }
    assert.equal(condition(await call(req({ id: "9", when: later }), "ops@x/other")), "wait resource-constraint");
    assert.equal(condition(await call(req({ id: "1", when: later }), "ops@x/r1")), "modify bad-request");
    assert.equal(await call(cancel("1"), "ops@x/r1"), true);
    assert.equal(await call(cancel("1"), "ops@x/r1", "set"), true, "a readout no longer running: still an empty result");
    assert.equal((await call(req({ id: "9", h: "true" }), "ops@x/other")) !== true, true);
    await settle();
    assert.deepEqual(sent.map((m) => String(m.attrs.to)), ["ops@x/other"]);
    stop();
  });

  it("announces a scheduled readout with <started/>, then its <resp>", async () => {
    const { call, sent } = face();
    assert.equal(String(await call(req({ id: "5", when: new Date(Date.now() + 100).toISOString() }, nd("boiler")))), `<accepted xmlns="${NS}" id="5" queued="true"/>`);
    await settle();
    assert.equal(sent.length, 0);
    await settle(200);
    assert.deepEqual(sent.map((m) => String(m.getChildElements()[0]?.name) + (m.getChildElements()[0]?.attrs.more === undefined ? "" : "+more")), ["started", "resp"]);
  });
});

// The nf events face without a server: <subscribe> validation, the answers and errors, notifications as <resp>
// messages, and the ends of a subscription. The requests are built as the dialect's reference client builds them
// (SensorClient.cs, Subscribe: a GUID id without dashes, one-letter types, minInt/maxInt/maxAge as xs:duration,
// req='true' for a readout at once, <nd id/> and <f n [v] [by] [up] [dn]/> children).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventEmitter } from "node:events";
import { xml, type Element } from "./client.ts";
import type { IqRoute } from "./connection.ts";
import { Bounces, type Bounce, type UnpromptedKind } from "./link/bounces.ts";
import { NS_IEEE_EVENTS, NS_NF_EVENTS, parseSubscribe, parseXsDuration, registerNfEvents } from "./nf-events.ts";
import { ForeignNodeError } from "./nf-sensordata.ts";
import { BadRequestError } from "./request-checks.ts";
import { NS_IEEE_SENSORDATA, NS_NF_SENSORDATA } from "./nf-fields.ts";
import { EventSubscriptions, SUBSCRIPTION_LIMITS } from "../subscriptions.ts";
import { Readout } from "../readout.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { HealthSources } from "../health.ts";
import { momentaryNumeric } from "../../lib/model.ts";
import type { Logger } from "../log.ts";

const NS = NS_NF_EVENTS;
const GUID = "3f2a9c0e5b7d4e1f8a6c2b9d0e4f7a1c";
const subscribe = (attrs: Record<string, string>, ...children: Element[]) => xml("subscribe", { xmlns: NS, id: GUID, ...attrs }, ...children);
const nd = (id: string, more: Record<string, string> = {}) => xml("nd", { id, ...more });
const f = (n: string, more: Record<string, string> = {}) => xml("f", { n, ...more });

function refusal(element: Element): string {
  try {
    parseSubscribe(element);
  } catch (error) {
    if (error instanceof BadRequestError || error instanceof ForeignNodeError) return error.message;
    throw error;
  }
  return "accepted";
}

describe("parseXsDuration", () => {
  it("reads the forms a .NET client writes, and nothing else", () => {
    assert.equal(parseXsDuration("PT30S"), 30_000);
    assert.equal(parseXsDuration("PT1.5S"), 1500);
    assert.equal(parseXsDuration("P1DT2H"), 26 * 3_600_000);
    assert.equal(parseXsDuration("P0Y0M0DT0H5M0S"), 300_000);
    assert.equal(parseXsDuration("P1M"), 30 * 86_400_000);
    for (const bad of ["", "P", "PT", "-PT1S", "30s", "PT1,5S", "P1H", "PT1D"]) assert.equal(parseXsDuration(bad), undefined, bad);
  });
});

describe("parseSubscribe", () => {
  it("reads id, types, intervals, req, nodes and field rules", () => {
    const { spec, readNow } = parseSubscribe(
      subscribe({ m: "true", s: "false", minInt: "PT5S", maxInt: "PT1M", maxAge: "P1D", req: "true" }, nd("boiler"), f("temperature", { v: "21.5", by: "0.5" }), f("humidity", { up: "2", dn: "1e1" }), f("state", { v: "true" })),
    );
    assert.equal(readNow, true);
    assert.deepEqual({ ...spec, types: [...spec.types] }, {
      id: GUID,
      nodeIds: ["boiler"],
      rules: [
        { field: "temperature", reference: 21.5, by: 0.5 },
        { field: "humidity", up: 2, down: 10 },
        { field: "state", reference: "true" },
      ],
      types: ["momentary"],
      minIntervalMs: 5000,
      maxIntervalMs: 60_000,
    });
  });

  it("ignores the tokens and attributes it does not know; the last rule for a field counts", () => {
    const { spec, readNow } = parseSubscribe(subscribe({ st: "s".repeat(1000), dt: "d", ut: "u", "xml:lang": "en" }, f("t", { by: "1" }), f("t", { by: "2" })));
    assert.equal(readNow, false);
    assert.deepEqual(spec.rules, [{ field: "t", by: 2 }]);
    assert.deepEqual(spec.nodeIds, [], "no <nd>: every node");
  });

  it("says what is wrong with a malformed subscription", () => {
    const cases: [Element, RegExp][] = [
      [xml("subscribe", { xmlns: NS }), /^id is required$/],
      [subscribe({ id: "x".repeat(300) }), /^attribute id is longer than 256 characters$/],
      [subscribe({ m: "yes" }), /^m must be true or false, got "yes"$/],
      [subscribe({ req: "now" }), /^req must be true or false/],
      [subscribe({ minInt: "5s" }), /^minInt must be an xs:duration such as PT30S, got "5s"$/],
      [subscribe({ maxInt: "-PT5S" }), /^maxInt must be an xs:duration/],
      [subscribe({ maxAge: "yesterday" }), /^maxAge must be an xs:duration/],
      [subscribe({ maxInt: "PT0.5S" }), /^maxInt is shorter than 1 second$/],
      [subscribe({ maxInt: "P8D" }), /^maxInt is longer than 7 days$/],
      [subscribe({}, f("t", { by: "-1" })), /^by of <f> must be a number of at least 0, got "-1"$/],
      [subscribe({}, f("t", { up: "lots" })), /^up of <f> must be a number of at least 0/],
      [subscribe({}, f("t", { dn: "NaN" })), /^dn of <f> must be a number of at least 0/],
      [subscribe({}, f("")), /^<f> needs a non-empty n$/],
      [subscribe({}, f("t", { changedBy: "1" })), /^unknown attribute changedBy on <f>$/],
      [subscribe({}, nd("")), /^<nd> needs a non-empty id$/],
      [subscribe({}, xml("node", { nodeId: "a" })), /^unknown element <node> in <subscribe>$/],
      [subscribe({}, xml("nd", { id: "a" }, xml("f", { n: "x" }))), /^<nd> must be empty$/],
      [xml("subscribe", { xmlns: NS, id: "1" }, "text"), /^unexpected text in <subscribe>$/],
      [subscribe({}, ...Array.from({ length: 101 }, (_, i) => nd(`n${i}`))), /^more than 100 <nd> elements$/],
      [subscribe({}, nd("boiler", { pt: "Part" })), /^no node boiler in that source or partition/],
    ];
    for (const [element, text] of cases) assert.match(refusal(element), text, element.toString().slice(0, 120));
  });
});

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const unusedControl = { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] };
const noHealth: HealthSources = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };

function face(operators = [{ jid: "ops@x", role: "read" as const }]) {
  const routes = new Map<string, IqRoute>();
  const features: string[] = [];
  const sent: Element[] = [];
  const stanzas = new EventEmitter<{ stanza: [Element] }>();
  const bounces = new Bounces();
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const log: Logger = { ...quiet, warn: (message, fields) => void warnings.push({ message, fields }) };
  const boiler = { id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: new Date(), fields: [momentaryNumeric("temperature", 21, "°C", 1), momentaryNumeric("humidity", 40, "%RH", 1)] } };
  const readout = new Readout({ sampler: { states: [boiler] }, actuators: { all: [] }, store: { history: () => Promise.resolve([]) } });
  const authz = new Authz(operators);
  const subscriptions = new EventSubscriptions<string>({ fieldsOf: (nodeId) => (nodeId === "boiler" ? ["temperature", "humidity", "pressure"] : undefined) });
  const events = registerNfEvents(
    {
      route: (route: IqRoute, feature?: string) => {
        routes.set(`${route.type} ${route.ns} ${route.name}`, route);
        if (feature) features.push(feature);
      },
      sendUnprompted: (kind: UnpromptedKind, stanza: Element) => Promise.resolve(sent.push(bounces.mark(kind, stanza)) > 0),
      onBounce: (kind: UnpromptedKind, listener: (bounce: Bounce) => void) => bounces.on(kind, listener),
      on: (event: "stanza", listener: (stanza: Element) => void) => stanzas.on(event, listener),
    },
    { desk: new OperatorDesk({ authz, readout, control: unusedControl, health: noHealth }), subscriptions, log },
  );
  const call = async (element: Element, from = "ops@x/a", type: "get" | "set" = "get") =>
    routes.get(`${type} ${String(element.attrs.xmlns)} ${element.name}`)!.handler({ element, stanza: xml("iq"), from });
  const feed = (temperature: number) => subscriptions.observe({ sensorId: "boiler", timestamp: new Date(), fields: [momentaryNumeric("temperature", temperature, "°C", 1)] });
  const presence = (from: string, type?: string) => stanzas.emit("stanza", xml("presence", { from, ...(type ? { type } : {}) }));
  /** The server sends `original` back with `condition`, as the connection takes it. */
  const bounce = (original: Element, condition: string) => {
    const error = xml("message", { type: "error", id: String(original.attrs.id), from: String(original.attrs.to), to: "gw1@x/edge" }, xml("error", { type: "cancel" }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })));
    if (!bounces.route(error)) stanzas.emit("stanza", error);
  };
  const stop = () => {
    events.stop();
    subscriptions.stop();
  };
  return { call, sent, features, routes, subscriptions, authz, feed, presence, bounce, warnings, stop };
}

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
const condition = (reply: Element | true) => (reply === true ? "" : `${reply.attrs.type as string} ${reply.getChildElements()[0]?.name ?? ""}`);
const unsubscribe = (id: string, ns = NS) => xml("unsubscribe", { xmlns: ns, id });

describe("registerNfEvents", () => {
  it("routes subscribe and unsubscribe as get and set in both namespaces, announcing each namespace once", () => {
    const { routes, features } = face();
    assert.deepEqual(features, [NS_NF_EVENTS, NS_IEEE_EVENTS]);
    for (const ns of [NS_NF_EVENTS, NS_IEEE_EVENTS]) for (const type of ["get", "set"]) for (const name of ["subscribe", "unsubscribe"]) assert.ok(routes.has(`${type} ${ns} ${name}`));
  });

  it("accepts in the sensor-data namespace, and notifies with <resp> messages there when a rule says so", async () => {
    const { call, sent, feed, stop } = face();
    const reply = await call(subscribe({ m: "true" }, nd("boiler"), f("temperature", { v: "21", by: "1" })));
    assert.equal(String(reply), `<accepted xmlns="${NS_NF_SENSORDATA}" id="${GUID}"/>`);
    feed(21.5);
    await settle();
    assert.equal(sent.length, 0, "not moved by 1");
    feed(22);
    await settle();
    assert.deepEqual(sent.map((m) => [String(m.attrs.to), String(m.getChild("resp", NS_NF_SENSORDATA)?.attrs.id)]), [["ops@x/a", GUID]]);
    const fields = sent[0]?.getChild("resp")?.getChild("nd")?.getChild("ts")?.getChildElements() ?? [];
    assert.deepEqual(fields.map((field) => String(field.attrs.n)), ["temperature"], "the subscribed fields only");
    stop();
  });

  it("with req='true' accepts in the events namespace and reads at once; ieee subscriptions answer in ieee", async () => {
    const { call, sent, stop } = face();
    const reply = await call(xml("subscribe", { xmlns: NS_IEEE_EVENTS, id: "7", req: "true" }, nd("boiler")), "ops@x/a", "set");
    assert.equal(String(reply), `<accepted xmlns="${NS_IEEE_EVENTS}" id="7"/>`);
    assert.equal(sent.length, 0, "the readout follows the result");
    await settle();
    const resp = sent[0]?.getChild("resp", NS_IEEE_SENSORDATA);
    assert.deepEqual(resp?.getChild("nd")?.getChild("ts")?.getChildElements().map((field) => String(field.attrs.n)), ["temperature", "humidity"]);
    stop();
  });

  it("refuses strangers, bad subscriptions, unknown nodes and fields, and too many, with the defined errors", async () => {
    const { call, sent, stop } = face();
    assert.equal(condition(await call(subscribe({}), "eve@x/a")), "cancel forbidden");
    assert.equal(condition(await call(unsubscribe("1"), "eve@x/a")), "cancel forbidden");
    assert.equal(condition(await call(subscribe({ minInt: "soon" }))), "modify bad-request");
    assert.equal(condition(await call(subscribe({}, nd("nope")))), "cancel item-not-found");
    assert.equal(condition(await call(subscribe({}, nd("boiler", { src: "Metering" })))), "cancel item-not-found");
    assert.equal(condition(await call(subscribe({}, nd("boiler"), f("colour")))), "cancel item-not-found");
    assert.equal(condition(await call(xml("unsubscribe", { xmlns: NS }))), "modify bad-request");
    for (let i = 0; i < SUBSCRIPTION_LIMITS.perOperator; i++) await call(subscribe({ id: String(i) }), `ops@x/r${i}`);
    assert.equal(condition(await call(subscribe({ id: "late" }))), "wait resource-constraint");
    await settle();
    assert.equal(sent.length, 0);
    stop();
  });

  it("unsubscribe ends it with an empty result, and an unknown one is item-not-found", async () => {
    const { call, sent, feed, stop } = face();
    await call(subscribe({}, nd("boiler"), f("temperature")));
    assert.equal(await call(unsubscribe(GUID), "ops@x/a", "set"), true);
    assert.equal(condition(await call(unsubscribe(GUID))), "modify item-not-found");
    assert.equal(condition(await call(unsubscribe(GUID), "ops@x/b")), "modify item-not-found", "another resource's id is not its own");
    feed(30);
    await settle();
    assert.equal(sent.length, 0);
    stop();
  });

  it("ends a resource's subscriptions when it goes unavailable, an account's when it stops sharing presence", async () => {
    const { call, subscriptions, presence, stop } = face();
    for (const from of ["ops@x/a", "ops@x/b", "ops@x/c"]) await call(subscribe({}), from);
    presence("ops@x/a");
    presence("ops@x/b", "unavailable");
    assert.deepEqual(subscriptions.list().map((s) => s.subscriber), ["ops@x/a", "ops@x/c"]);
    presence("ops@x", "unsubscribe");
    assert.deepEqual(subscriptions.list(), []);
    stop();
  });

  it("marks each notification as an event's, so that its bounce comes back to this face", async () => {
    const { call, sent, feed, stop } = face();
    await call(subscribe({}, nd("boiler"), f("temperature", { v: "21", by: "1" })));
    feed(23);
    await settle();
    assert.match(String(sent[0]?.attrs.id), /^event-[0-9a-f-]{36}$/);
    stop();
  });

  it("ends the subscriptions of a subscriber whose notification bounces for good, logged once", async () => {
    const { call, sent, feed, subscriptions, bounce, warnings, stop } = face([{ jid: "ops@x", role: "read" }, { jid: "ops@y", role: "read" }]);
    await call(subscribe({ id: "1" }, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@y/gone");
    await call(subscribe({ id: "2" }, nd("boiler"), f("humidity", { v: "40", by: "1" })), "ops@y/gone");
    await call(subscribe({ id: "3" }, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@x/a");
    feed(23);
    await settle();
    const toGone = sent.filter((message) => message.attrs.to === "ops@y/gone");
    assert.equal(toGone.length, 1);
    // Two in flight come back: the first ends both of the subscriber's subscriptions, the second finds them ended.
    bounce(toGone[0]!, "remote-server-not-found");
    bounce(toGone[0]!, "remote-server-not-found");
    assert.deepEqual(warnings, [{ message: "nf event subscriptions ended: not reachable", fields: { subscriber: "ops@y/gone", condition: "remote-server-not-found", ended: 2 } }]);
    assert.deepEqual(subscriptions.list().map((s) => `${s.subscriber} ${s.spec.id}`), ["ops@x/a 3"], "another subscriber keeps its own");
    sent.length = 0;
    feed(25);
    await settle();
    assert.deepEqual(sent.map((message) => String(message.attrs.to)), ["ops@x/a"]);
    stop();
  });

  it("ends them for an account that is gone (service-unavailable, item-not-found), bare or full", async () => {
    const { call, sent, feed, subscriptions, bounce, stop } = face([{ jid: "ops@x", role: "read" }, { jid: "ops@y", role: "read" }]);
    await call(subscribe({}, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@x/a");
    await call(subscribe({}, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@y/a");
    await call(subscribe({}, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@y/b");
    feed(23);
    await settle();
    bounce(sent.find((message) => message.attrs.to === "ops@x/a")!, "service-unavailable");
    // A server that names the account only takes all of its resources' subscriptions.
    bounce(xml("message", { id: String(sent.find((message) => message.attrs.to === "ops@y/a")?.attrs.id), to: "ops@y" }), "item-not-found");
    assert.deepEqual(subscriptions.list(), []);
    stop();
  });

  it("keeps the subscriptions of a subscriber that may be back (remote-server-timeout), and logs that once", async () => {
    const { call, sent, feed, subscriptions, bounce, warnings, stop } = face();
    await call(subscribe({}, nd("boiler"), f("temperature", { v: "21", by: "1" })), "ops@x/a");
    for (const [temperature, condition] of [[23, "remote-server-timeout"], [25, "remote-server-timeout"], [27, "recipient-unavailable"]] as const) {
      feed(temperature);
      await settle();
      bounce(sent.at(-1)!, condition);
    }
    assert.equal(sent.length, 3, "every notification went out");
    assert.equal(subscriptions.list().length, 1);
    assert.deepEqual(warnings, [{ message: "nf event notification not delivered", fields: { subscriber: "ops@x/a", condition: "remote-server-timeout" } }]);
    stop();
  });

  it("ends a subscription instead of notifying one who is no longer an operator", async () => {
    const { call, sent, feed, authz, subscriptions, stop } = face();
    await call(subscribe({}, nd("boiler"), f("temperature")));
    authz.replace([]);
    feed(25);
    await settle();
    assert.deepEqual([sent.length, subscriptions.list().length], [0, 0]);
    stop();
  });
});

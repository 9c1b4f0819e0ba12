// The XEP-0323 face without a server: request validation, message packing, and the handlers' decisions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "./client.ts";
import type { IqRoute } from "./connection.ts";
import { LIMITS, parseRequest, registerSensorData, resultMessages } from "./sensordata.ts";
import { BadRequestError } from "./request-checks.ts";
import { SampleRenderings } from "./sample-renderings.ts";
import { Readout, type ReadoutResult } from "../readout.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { HealthSources } from "../health.ts";
import type { Field, Sample } from "../../lib/model.ts";
import type { Logger } from "../log.ts";

const NS = "urn:xmpp:iot:sensordata";
const req = (attrs: Record<string, string>, ...children: (Element | string)[]) => xml("req", { xmlns: NS, ...attrs }, ...children);
const node = (nodeId: string) => xml("node", { xmlns: NS, nodeId });

function refusal(element: Element): string {
  try {
    parseRequest(element);
  } catch (error) {
    if (error instanceof BadRequestError) return error.message;
    throw error;
  }
  return "accepted";
}

describe("parseRequest", () => {
  it("reads seqnr, type flags, range, nodes and fields", () => {
    const parsed = parseRequest(
      req(
        { seqnr: "42", momentary: "true", historicalMinute: "1", status: "false", from: "2025-01-05T10:00:00Z", to: "2025-01-05T12:00:00+01:00", userToken: "t" },
        node("boiler"),
        xml("field", { xmlns: NS, name: "temperature" }),
      ),
    );
    assert.equal(parsed.seqnr, "42");
    assert.deepEqual([...parsed.request.types], ["momentary", "historicalMinute"]);
    assert.deepEqual(parsed.request.nodeIds, ["boiler"]);
    assert.deepEqual(parsed.request.fieldNames, ["temperature"]);
    assert.equal(parsed.request.from?.toISOString(), "2025-01-05T10:00:00.000Z");
    assert.equal(parsed.request.to?.toISOString(), "2025-01-05T11:00:00.000Z");
  });

  it("says what is wrong with a malformed request", () => {
    const cases: [Element, RegExp][] = [
      [req({}), /^seqnr is required$/],
      [req({ seqnr: "x1" }), /^seqnr must be an xs:int, got "x1"$/],
      [req({ seqnr: "2147483648" }), /^seqnr must be an xs:int/],
      [req({ seqnr: "1", momentary: "yes" }), /^momentary must be true or false, got "yes"$/],
      [req({ seqnr: "1", from: "yesterday" }), /^from must be an xs:dateTime/],
      [req({ seqnr: "1", to: "2025-02-30T00:00:00Z" }), /^to must be an xs:dateTime/],
      [req({ seqnr: "1", when: "2025-01-01T25:00:00Z" }), /^when must be an xs:dateTime/],
      [req({ seqnr: "1", from: "2025-01-02T00:00:00Z", to: "2025-01-01T00:00:00Z" }), /^from is after to$/],
      [req({ seqnr: "1" }, xml("sensor", { xmlns: NS })), /^unknown element <sensor> in <req>$/],
      [req({ seqnr: "1" }, xml("node", { xmlns: "urn:other", nodeId: "a" })), /^unknown element <node> in <req>$/],
      [req({ seqnr: "1" }, xml("node", { xmlns: NS })), /^<node> needs a non-empty nodeId$/],
      [req({ seqnr: "1" }, xml("node", { xmlns: NS, nodeId: "a", colour: "red" })), /^unknown attribute colour on <node>$/],
      [req({ seqnr: "1" }, xml("field", { xmlns: NS, name: "a" }, xml("x"))), /^<field> must be empty$/],
      [req({ seqnr: "1" }, node("x".repeat(LIMITS.valueLength + 1))), /^attribute nodeId of <node> is longer than 256 characters$/],
      [req({ seqnr: "1", momentary: "t".repeat(300) }), /^attribute momentary is longer than 256 characters$/],
      [req({ seqnr: "1" }, ...Array.from({ length: LIMITS.nodes + 1 }, (_, i) => node(`n${i}`))), /^more than 100 <node> elements$/],
      [req({ seqnr: "1" }, "text"), /^unexpected text in <req>$/],
      [req({ seqnr: "1" }, "\u00A0"), /^unexpected text in <req>$/],
    ];
    for (const [element, expected] of cases) assert.match(refusal(element), expected, element.toString().slice(0, 120));
    assert.deepEqual(parseRequest(req({ seqnr: "1" }, "\n  ", node("a"), "\r\n\t")).request.nodeIds, ["a"], "indentation is no text");
  });

  it("ignores attributes of <req> it does not know, and still checks the ones it does", () => {
    const unknown = { "xml:lang": "en", "xmlns:ext": "urn:example:ext", "ext:hint": "x", colour: "red", seqNr: "no", sessionToken: "t".repeat(1000) };
    const parsed = parseRequest(req({ seqnr: "3", momentary: "true", ...unknown }, node("boiler")));
    assert.equal(parsed.seqnr, "3");
    assert.deepEqual([...parsed.request.types], ["momentary"]);
    assert.deepEqual(parsed.request.nodeIds, ["boiler"]);
    assert.match(refusal(req({ seqnr: "x", ...unknown })), /^seqnr must be an xs:int, got "x"$/);
    assert.match(refusal(req({ seqnr: "3", momentary: "maybe", ...unknown })), /^momentary must be true or false/);
  });
});

const numeric = (name: string, value: number): Field => ({ name, type: "numeric", value, unit: "°C", decimals: 1 });

describe("resultMessages", () => {
  const at = new Date("2025-01-05T10:00:00Z");
  const fieldsOf = (message: Element) => message.getChild("fields", NS);

  it("ends with an empty done <fields> of its own when nothing failed, and renders int as numeric and as int", () => {
    const messages = resultMessages("ops@x/a", "7", {
      groups: [{ nodeId: "rain", timestamp: at, fields: [{ name: "pulses", type: "int", value: 3 }] }],
      failures: [],
    });
    assert.deepEqual(messages.map(String), [
      '<message to="ops@x/a"><fields xmlns="urn:xmpp:iot:sensordata" seqnr="7"><node nodeId="rain"><timestamp value="2025-01-05T10:00:00.000Z">' +
        '<numeric name="pulses" value="3" unit="" automaticReadout="true"/><int name="pulses" value="3" automaticReadout="true"/></timestamp></node></fields></message>',
      '<message to="ops@x/a"><fields xmlns="urn:xmpp:iot:sensordata" seqnr="7" done="true"/></message>',
    ]);
  });

  it("renders a whole current sample once, byte for byte what a fresh build writes, until the next sample", () => {
    const renderings = new SampleRenderings();
    const sample = { sensorId: "rain", timestamp: at, fields: [numeric("t", 1), { name: "pulses", type: "int", value: 3 } satisfies Field] };
    const current = (of: Sample, clock?: "unsynced"): ReadoutResult => ({ groups: [{ nodeId: "rain", timestamp: of.timestamp, fields: of.fields, sample: of, ...(clock ? { clock } : {}) }], failures: [] });
    const nodeOf = (messages: Element[]) => fieldsOf(messages[0]!)?.getChild("node");
    const fresh = (result: ReadoutResult, seqnr: string) => resultMessages("ops@x/a", seqnr, result).map(String);

    const first = resultMessages("ops@x/a", "1", current(sample), { renderings });
    const second = resultMessages("ops@x/a", "2", current(sample), { renderings });
    assert.equal(nodeOf(second), nodeOf(first), "the second readout reuses the first one's <node>");
    assert.deepEqual(first.map(String), fresh(current(sample), "1"), "the first answer still writes the same, its <node> now under the second");
    assert.deepEqual(second.map(String), fresh(current(sample), "2"));
    const untrusted = resultMessages("ops@x/a", "3", current(sample, "unsynced"), { renderings });
    assert.deepEqual(untrusted.map(String), fresh(current(sample, "unsynced"), "3"), "a clock no longer trusted is rendered as such");

    const next = { sensorId: "rain", timestamp: new Date(at.getTime() + 1000), fields: [numeric("t", 2), { name: "pulses", type: "int", value: 4 } satisfies Field] };
    const after = resultMessages("ops@x/a", "4", current(next), { renderings });
    assert.notEqual(nodeOf(after), nodeOf(first));
    assert.deepEqual(after.map(String), fresh(current(next), "4"), "a new sample is rendered anew");
  });

  it("splits large results, repeating node and timestamp, at most fieldsPerMessage fields per message", () => {
    const result: ReadoutResult = {
      groups: [
        { nodeId: "a", timestamp: at, fields: Array.from({ length: 5 }, (_, i) => numeric(`f${i}`, i)) },
        { nodeId: "b", timestamp: at, fields: [numeric("g", 1)], historical: "historicalMinute" },
      ],
      failures: [],
    };
    const messages = resultMessages("ops@x/a", "7", result, { fieldsPerMessage: 2 });
    assert.deepEqual(
      messages.map((m) => fieldsOf(m)?.getChildren("node").map((n) => `${String(n.attrs.nodeId)}:${n.getChild("timestamp")?.children.length}`).join(",")),
      ["a:2", "a:2", "a:1,b:1", ""],
    );
    assert.deepEqual(messages.map((m) => fieldsOf(m)?.attrs.done as string | undefined), [undefined, undefined, undefined, "true"]);
    assert.equal(fieldsOf(messages[2]!)?.getChildByAttr("nodeId", "b")?.getChild("timestamp")?.getChild("numeric")?.attrs.historicalMinute, "true");
  });

  it("sends failures after the data and ends with <done/>; with nothing at all, an empty done <fields>", () => {
    const messages = resultMessages("ops@x/a", "9", { groups: [{ nodeId: "a", timestamp: at, fields: [numeric("t", 1)] }], failures: [{ nodeId: "b", timestamp: at, message: "bus error" }] });
    assert.deepEqual(messages.map((m) => m.getChildElements()[0]?.name), ["fields", "failure", "done"]);
    assert.equal(fieldsOf(messages[0]!)?.attrs.done, undefined);
    assert.equal(messages[1]?.getChild("failure", NS)?.toString(), '<failure xmlns="urn:xmpp:iot:sensordata" seqnr="9"><error nodeId="b" timestamp="2025-01-05T10:00:00.000Z">bus error</error></failure>');
    assert.equal(resultMessages("o", "1", { groups: [], failures: [] }).map(String).join(""), '<message to="o"><fields xmlns="urn:xmpp:iot:sensordata" seqnr="1" done="true"/></message>');
  });

  it("replaces characters XML cannot carry in an error text (a device's line quoted in it)", () => {
    const messages = resultMessages("o", "5", { groups: [], failures: [{ nodeId: "uno", timestamp: at, message: 'malformed line: "t\u0001=2" is not key=value' }] });
    assert.equal(messages[0]?.getChild("failure", NS)?.getChild("error")?.getText(), 'malformed line: "t\uFFFD=2" is not key=value');
  });

  it("says the notes in a body of the message that ends the readout, hinted not to be stored", () => {
    const notes = [
      { nodeId: "a", message: "the newest 5000 stored readings" },
      { nodeId: "b", message: "the newest 5000 stored readings" },
    ];
    const ended = resultMessages("o", "2", { groups: [{ nodeId: "a", timestamp: at, fields: [numeric("t", 1)] }], failures: [], notes });
    assert.deepEqual(ended.map((m) => [m.getChildElements().map((child) => child.name), m.getChildText("body")]), [
      [["fields"], null],
      [["fields", "body", "no-store"], "a: the newest 5000 stored readings\nb: the newest 5000 stored readings"],
    ]);
    const failed = resultMessages("o", "3", { groups: [], failures: [{ nodeId: "c", timestamp: at, message: "EIO" }], notes: notes.slice(0, 1) });
    assert.deepEqual(failed.map((m) => [m.getChildElements().map((child) => child.name), m.getChildText("body")]), [
      [["failure"], null],
      [["done", "body", "no-store"], "a: the newest 5000 stored readings"],
    ]);
  });

  it("puts every node's error in one <failure> (slixmpp drops its session at the first)", () => {
    const later = new Date("2025-01-05T10:00:01Z");
    const messages = resultMessages("ops@x/a", "4", {
      groups: [],
      failures: [
        { nodeId: "attic", timestamp: at, message: "I2C EIO" },
        { nodeId: "archive", timestamp: later, message: "unplugged" },
        { nodeId: "pump", timestamp: later, message: "actuator not available" },
      ],
    });
    assert.deepEqual(messages.map((m) => m.getChildElements()[0]?.name), ["failure", "done"]);
    assert.equal(
      messages[0]?.getChild("failure", NS)?.toString(),
      '<failure xmlns="urn:xmpp:iot:sensordata" seqnr="4">' +
        '<error nodeId="attic" timestamp="2025-01-05T10:00:00.000Z">I2C EIO</error>' +
        '<error nodeId="archive" timestamp="2025-01-05T10:00:01.000Z">unplugged</error>' +
        '<error nodeId="pump" timestamp="2025-01-05T10:00:01.000Z">actuator not available</error></failure>',
    );
  });
});

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
/** The readout face never controls nor reports health. */
const unusedControl = { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] };
const noHealth: HealthSources = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };

function face() {
  const routes = new Map<string, IqRoute>();
  const sent: Element[] = [];
  const readout = new Readout({
    sampler: { states: [{ id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: new Date(), fields: [numeric("temperature", 21)] } }] },
    actuators: { all: [] },
    store: { history: () => Promise.resolve([]) },
  });
  const sensorData = registerSensorData(
    { route: (route: IqRoute) => void routes.set(route.name, route), send: (stanza: Element) => Promise.resolve(sent.push(stanza) > 0) },
    { desk: new OperatorDesk({ authz: new Authz([{ jid: "ops@x", role: "control" }]), readout, control: unusedControl, health: noHealth }), log: quiet },
  );
  const call = async (name: string, element: Element, from = "ops@x/a") => routes.get(name)!.handler({ element, stanza: xml("iq"), from });
  return { call, sent, stop: () => sensorData.stop() };
}

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
const condition = (reply: Element | true) => (reply === true ? "" : `${reply.attrs.type as string} ${reply.getChildElements()[0]?.name ?? ""}`);

describe("registerSensorData", () => {
  it("accepts, then sends the data to the requester's full JID", async () => {
    const { call, sent } = face();
    const reply = await call("req", req({ seqnr: "1" }, node("boiler")));
    assert.equal(String(reply), '<accepted xmlns="urn:xmpp:iot:sensordata" seqnr="1"/>');
    await settle();
    assert.deepEqual(sent.map((m) => [String(m.attrs.to), m.getChild("fields", NS)?.attrs.done as string | undefined]), [
      ["ops@x/a", undefined],
      ["ops@x/a", "true"],
    ]);
  });

  it("refuses strangers, bad requests and unknown nodes with the XEP-0323 errors", async () => {
    const { call, sent } = face();
    assert.equal(condition(await call("req", req({ seqnr: "1" }), "eve@x/a")), "cancel forbidden");
    assert.equal(condition(await call("req", req({ seqnr: "no" }))), "modify bad-request");
    assert.equal(condition(await call("req", req({ seqnr: "1" }, node("nope")))), "cancel item-not-found");
    assert.equal(condition(await call("req", req({ seqnr: "1", when: new Date(Date.now() + 25 * 3_600_000).toISOString() }))), "modify bad-request");
    assert.equal(condition(await call("cancel", xml("cancel", { xmlns: NS, seqnr: "1" }), "eve@x/a")), "cancel forbidden");
    await settle();
    assert.equal(sent.length, 0);
  });

  it("bounds readouts per requester, refuses a seqnr in use, and cancels a scheduled one silently", async () => {
    const { call, sent, stop } = face();
    const later = new Date(Date.now() + 60_000).toISOString();
    for (let i = 1; i <= LIMITS.readoutsPerRequester; i++) {
      assert.equal(String(await call("req", req({ seqnr: String(i), when: later }), `ops@x/r${i}`)), `<accepted xmlns="${NS}" seqnr="${i}" queued="true"/>`);
    }
    assert.equal(condition(await call("req", req({ seqnr: "9", when: later }), "ops@x/other")), "wait resource-constraint");
    assert.equal(condition(await call("req", req({ seqnr: "1", when: later }), "ops@x/r1")), "modify bad-request");
    assert.equal(String(await call("cancel", xml("cancel", { xmlns: NS, seqnr: "1" }), "ops@x/r1")), '<cancelled xmlns="urn:xmpp:iot:sensordata" seqnr="1"/>');
    assert.equal(condition(await call("cancel", xml("cancel", { xmlns: NS, seqnr: "1" }), "ops@x/r1")), "cancel item-not-found");
    assert.equal(String(await call("req", req({ seqnr: "9" }), "ops@x/other")), '<accepted xmlns="urn:xmpp:iot:sensordata" seqnr="9"/>');
    await settle();
    assert.deepEqual(sent.map((m) => m.attrs.to as string), ["ops@x/other", "ops@x/other"]);
    stop();
  });

  it("announces a scheduled readout with <started/> when it begins", async () => {
    const { call, sent } = face();
    const reply = await call("req", req({ seqnr: "5", when: new Date(Date.now() + 100).toISOString() }));
    assert.equal(String(reply), '<accepted xmlns="urn:xmpp:iot:sensordata" seqnr="5" queued="true"/>');
    await settle();
    assert.equal(sent.length, 0);
    await settle(200);
    assert.deepEqual(sent.map((m) => m.getChildElements()[0]?.name), ["started", "fields", "fields"]);
  });
});

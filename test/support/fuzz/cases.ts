// What the fuzzer sends and what it expects back. Every case starts from a valid stanza of one face and breaks it
// in one way (or not at all, or at the iq level), and knows, from the face's documented rules, which answers are
// right for that sender. docs/fuzzing.md lists the mutation classes and their expected conditions.
import { xml, type Element } from "../../../agent/xmpp/client.ts";
import { Random } from "./random.ts";

export const NS = {
  sensordata: "urn:xmpp:iot:sensordata",
  control: "urn:xmpp:iot:control",
  commands: "http://jabber.org/protocol/commands",
  data: "jabber:x:data",
  discoInfo: "http://jabber.org/protocol/disco#info",
  discoItems: "http://jabber.org/protocol/disco#items",
  version: "jabber:iq:version",
  ping: "urn:xmpp:ping",
  delay: "urn:xmpp:delay",
} as const;

/** Who sends: nobody the agent knows, an operator with role read, an operator with role control. */
export type Sender = "stranger" | "reader" | "controller";
export const SENDERS: readonly Sender[] = ["stranger", "reader", "controller"];

/** An iq's answer: "result", or "error:" and its defined condition. */
export type Outcome = "result" | `error:${string}`;

export type Expectation =
  /** Exactly one iq reply whose outcome is one of these. */
  | { kind: "reply"; outcomes: readonly Outcome[] }
  /** No answer at all (an iq result or error, a message no face answers). */
  | { kind: "silence" }
  /** Chat: replies carrying this message's thread, between min and max. */
  | { kind: "chat"; min: number; max: number };

export interface Probe {
  stanza: Element;
  expect: Expectation;
  /** A stanza that depends on this one's reply (the ad-hoc session id, the readout to cancel). */
  then?: (reply: Element) => Probe | undefined;
  /** Sent by someone other than the case's sender: another operator reaching for this one's readout or session. */
  from?: Sender;
}

export interface FuzzCase {
  index: number;
  sender: Sender;
  face: string;
  mutation: string;
  /** Sent back to back; most cases have one, a flood has many. */
  probes: Probe[];
}

/** The sensors and actuators of the fuzzed agent (test/support/fuzz/run.ts configures it so). */
export const SENSOR = "boiler";
export const ACTUATOR = "pump";
const NODES = [SENSOR, ACTUATOR];
const PARAMETER = "state";

/** The iq routes the agent has: a payload re-namespaced onto one of these is not "unknown". */
const ROUTES = new Set([
  `get ${NS.ping} ping`,
  `get ${NS.discoInfo} query`,
  `get ${NS.discoItems} query`,
  `get ${NS.version} query`,
  `get ${NS.sensordata} req`,
  `get ${NS.sensordata} cancel`,
  `get ${NS.control} getForm`,
  `set ${NS.control} set`,
  `set ${NS.commands} command`,
  `set jabber:iq:roster query`,
]);

// ---------------------------------------------------------------- hostile values

const WRONG_INTS = ["", "NaN", "1.5", "1e3", "99999999999", "2147483648", "-2147483649", "0x1F", "١٢٣", "12\u200B", "+", "-", "Infinity", "true", " 7", "9".repeat(40)];
const WRONG_BOOLEANS = ["yes", "TRUE", "True", "2", "-1", "", "on", "null", "NaN", "t", "truе" /* Cyrillic е */, "1.0"];
const WRONG_DATES = [
  "yesterday",
  "2025-13-01T00:00:00Z",
  "2025-02-30T00:00:00Z",
  "2025-01-01",
  "2025-01-01T25:00:00Z",
  "NaN",
  "-1",
  "1e12",
  "0000-00-00T00:00:00Z",
  "2025-01-01T00:00:00+15:00",
  "2025-01-01 00:00:00Z",
  "20250101T000000Z",
  "２０２５-01-01T00:00:00Z",
  "+275760-09-13T00:00:00Z",
];
const WRONG_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-0", "0x10", "1,5", "9".repeat(400), "", "5 5"];
const ATTRIBUTE_NAMES = ["colour", "seqNr", "SEQNR", "limit", "type", "x-fuzz", "_", "a.b", "nodeid", "node"];

/** Strings with unicode that is legal XML but easy to mishandle. A lone surrogate goes out as U+FFFD (UTF-8 cannot carry it). */
const ODD_STRINGS = [
  "\u202Eevil\u202C",
  "zero\u200Bwidth",
  "\uFEFFbom",
  "\u{1D54F}\u{1D550}",
  "e\u0301",
  "\u0085nel",
  "\uFDD0",
  "tab\there",
  "line\nbreak",
  "\u00A0",
  "\u{1F44D}\u{1F3FD}",
  "\uD800",
  "עברית",
  "&<>'\"",
  "]]>",
  " ",
];

function oddString(r: Random): string {
  return r.chance(0.6) ? r.pick(ODD_STRINGS) : `${r.pick(ODD_STRINGS)}${r.pick(NODES)}${r.pick(ODD_STRINGS)}`;
}

/** Stanzas stay under this, far below the servers' limits (256 KB): past those the server, not the agent, answers. */
export const MAX_STANZA_BYTES = 120_000;

/** A string of `min`..`max` characters (UTF-16 units) that escapes to at most 40 KB of XML. */
function longString(r: Random, min: number, max: number): string {
  const unit = r.pick(["x", "é", "\u{1F600}", "ab\u200B", "<&>"]);
  const escapedBytes = Buffer.byteLength(unit.replace(/[<>&]/g, "&amp;"), "utf8");
  const units = Math.min(Math.ceil(r.int(min, max) / unit.length), Math.floor(40_000 / escapedBytes));
  return unit.repeat(Math.max(units, Math.ceil(min / unit.length)));
}

/** A marker element the serializer replaces with `depth` nested elements (ltx's own serializer is recursive). */
function deep(r: Random, maxDepth: number): Element {
  return xml("fuzz-deep", { depth: String(r.int(50, maxDepth)) });
}

/** The stanza as text, with deep-nesting markers expanded. */
export function serialize(stanza: Element): string {
  return stanza.toString().replace(/<fuzz-deep depth="(\d+)"\/>/g, (_, depth: string) => `${"<n>".repeat(Number(depth))}${"</n>".repeat(Number(depth))}`);
}

// ---------------------------------------------------------------- building blocks

interface Context {
  index: number;
  agent: string;
  /** Our own probe ids: `${prefix}.${n}`. */
  prefix: string;
  counter: number;
  /** Nesting of the deep-nesting mutations, up to this many levels. */
  maxDepth: number;
}

function nextId(context: Context): string {
  context.counter += 1;
  return `${context.prefix}.${context.counter}`;
}

function iq(context: Context, type: string | undefined, ...payload: Element[]): Element {
  return xml("iq", { to: context.agent, id: nextId(context), ...(type !== undefined ? { type } : {}) }, ...payload);
}

const reply = (...outcomes: Outcome[]): Expectation => ({ kind: "reply", outcomes });
const OK = reply("result");
/** A valid request that opens something bounded per requester (readouts, ad-hoc sessions). */
const OK_OR_BUSY = reply("result", "error:resource-constraint");
const BAD_REQUEST = reply("error:bad-request");
const FORBIDDEN = reply("error:forbidden");
const NOT_FOUND = reply("error:item-not-found");
/** RFC 6120 §8.4: a payload nobody here understands. */
const UNKNOWN = reply("error:service-unavailable", "error:feature-not-implemented");

interface Face {
  name: string;
  weight: number;
  /** The iq type of an iq face; iq-level mutations apply to those only. */
  iqType?: "get" | "set";
  build(r: Random, sender: Sender, context: Context): { mutation: string; probes: Probe[] };
}

/** `outcome` for senders who may use the face, forbidden for the others. */
function gated(allowed: boolean, expect: Expectation): Expectation {
  return allowed ? expect : FORBIDDEN;
}

const canRead = (sender: Sender) => sender !== "stranger";
const canControl = (sender: Sender) => sender === "controller";

function hourAgo(): string {
  return new Date(Date.now() - 3_600_000).toISOString();
}

// ---------------------------------------------------------------- XEP-0323 readout

/**
 * A readout to cancel, right after it was accepted: cancelled, or item-not-found when it finished first. Cancelled
 * by someone else (`by`), it is not theirs: item-not-found, or forbidden for a stranger, and it runs to its end.
 */
function cancelAfter(context: Context, seqnr: string, by?: Sender): (answer: Element) => Probe | undefined {
  return (answer) => {
    if (answer.attrs.type !== "result") return undefined;
    const stanza = iq(context, "get", xml("cancel", { xmlns: NS.sensordata, seqnr }));
    if (by === undefined) return { stanza, expect: reply("result", "error:item-not-found") };
    return { stanza, expect: gated(canRead(by), NOT_FOUND), from: by };
  };
}

/** Someone other than `sender` (an operator mostly, sometimes the stranger). */
function another(r: Random, sender: Sender): Sender {
  return r.pick(SENDERS.filter((other) => other !== sender));
}

const readoutFace: Face = {
  name: "xep0323-req",
  weight: 20,
  iqType: "get",
  build(r, sender, context) {
    const seqnr = String(context.index);
    const attrs: Record<string, string> = { seqnr };
    let children: Element[] = [];
    const variant = r.int(0, 4);
    if (variant === 0) attrs.momentary = "true";
    if (variant === 1) Object.assign(attrs, { historical: "true", from: hourAgo(), to: new Date().toISOString() });
    if (variant === 2) Object.assign(attrs, { historicalMinute: "true", from: hourAgo() });
    if (variant === 3) attrs.when = new Date(Date.now() - r.int(1, 86_400_000)).toISOString();
    if (r.chance(0.5)) children.push(xml("node", { nodeId: r.pick(NODES) }));
    if (r.chance(0.3)) children.push(xml("field", { name: "temperature" }));

    const mutation = r.weighted([
      ["valid", 4],
      ["valid+cancel", 2],
      ["valid+cancel-by-another", 1],
      ["queued+cancel", 1],
      ["range-extreme", 1],
      ["seqnr-missing", 1],
      ["seqnr-wrong-type", 3],
      ["boolean-wrong-type", 3],
      ["date-wrong-type", 3],
      ["from-after-to", 1],
      ["when-too-far", 1],
      ["attribute-unknown", 2],
      ["attribute-oversized", 2],
      ["token-oversized", 1],
      ["node-unknown", 3],
      ["node-empty-id", 1],
      ["node-attribute-unknown", 1],
      ["nodes-too-many", 1],
      ["nodes-duplicated", 1],
      ["node-with-children", 1],
      ["child-unknown", 2],
      ["child-foreign-namespace", 1],
      ["text-content", 1],
      ["deep-nesting", 2],
      ["field-unicode", 1],
      ["fields-too-many", 1],
    ] as const);
    let expect: Expectation = BAD_REQUEST;
    let then: Probe["then"];
    let text: string | undefined;
    switch (mutation) {
      case "valid":
        expect = OK_OR_BUSY;
        break;
      case "valid+cancel":
        expect = OK_OR_BUSY;
        then = canRead(sender) ? cancelAfter(context, seqnr) : undefined;
        break;
      case "valid+cancel-by-another":
        expect = OK_OR_BUSY;
        then = canRead(sender) ? cancelAfter(context, seqnr, another(r, sender)) : undefined;
        break;
      case "queued+cancel":
        // Queued for later (at most a day), then cancelled: it is still there to cancel, and cancelling frees its slot.
        attrs.when = new Date(Date.now() + r.int(60, 86_000) * 1_000).toISOString();
        expect = OK_OR_BUSY;
        then = canRead(sender)
          ? (answer) => (answer.attrs.type === "result" ? { stanza: iq(context, "get", xml("cancel", { xmlns: NS.sensordata, seqnr })), expect: OK } : undefined)
          : undefined;
        break;
      case "range-extreme":
        Object.assign(attrs, { [r.pick(["historical", "historicalSecond", "historicalYear", "all"])]: "true", from: r.pick(["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0050-06-01T00:00:00Z"]), to: "9999-12-31T23:59:59.999Z" });
        expect = OK_OR_BUSY;
        break;
      case "seqnr-missing":
        delete attrs.seqnr;
        break;
      case "seqnr-wrong-type":
        attrs.seqnr = r.pick(WRONG_INTS);
        break;
      case "boolean-wrong-type":
        attrs[r.pick(["momentary", "peak", "status", "computed", "identity", "historical", "historicalDay", "all"])] = r.pick(WRONG_BOOLEANS);
        break;
      case "date-wrong-type":
        attrs[r.pick(["from", "to", "when"])] = r.pick(WRONG_DATES);
        break;
      case "from-after-to":
        Object.assign(attrs, { from: new Date().toISOString(), to: hourAgo() });
        break;
      case "when-too-far":
        attrs.when = r.pick([new Date(Date.now() + r.int(25, 10_000) * 3_600_000).toISOString(), "9999-12-31T23:59:59Z"]);
        break;
      case "attribute-unknown":
        attrs[r.pick(ATTRIBUTE_NAMES)] = oddString(r);
        break;
      case "attribute-oversized":
        attrs[r.pick(["seqnr", "from", "momentary"])] = longString(r, 257, 20_000);
        break;
      case "token-oversized":
        // Tokens may be long (XEP-0323 leaves their form to the provisioning server).
        attrs[r.pick(["serviceToken", "deviceToken", "userToken"])] = longString(r, 257, 4_000);
        expect = OK_OR_BUSY;
        break;
      case "node-unknown":
        children = [xml("node", { nodeId: r.chance(0.5) ? oddString(r) : `${r.pick(NODES)}${r.int(0, 99)}` })];
        expect = NOT_FOUND;
        break;
      case "node-empty-id":
        children.push(xml("node", r.chance(0.5) ? {} : { nodeId: "" }));
        break;
      case "node-attribute-unknown":
        children = [xml("node", { nodeId: SENSOR, [r.pick(ATTRIBUTE_NAMES)]: "1" })];
        break;
      case "nodes-too-many":
        children = Array.from({ length: r.int(101, 800) }, () => xml("node", { nodeId: SENSOR }));
        break;
      case "nodes-duplicated":
        children = Array.from({ length: r.int(2, 100) }, () => xml("node", { nodeId: r.pick(NODES) }));
        expect = OK_OR_BUSY;
        break;
      case "node-with-children":
        children = [xml("node", { nodeId: SENSOR }, xml("field", { name: "temperature" }))];
        break;
      case "child-unknown":
        children.push(xml(r.pick(["sensor", "nodes", "Node", "req", "fields"]), { nodeId: SENSOR }));
        break;
      case "child-foreign-namespace":
        // Not xmlns="": ltx (the agent's parser) reads an undeclared default namespace as the parent's.
        children.push(xml("node", { xmlns: r.pick([NS.control, "urn:fuzz:other", NS.sensordata.toUpperCase()]), nodeId: SENSOR }));
        break;
      case "text-content":
        text = r.chance(0.5) ? oddString(r) : "boiler";
        // XML whitespace between children is no text; anything else is, a no-break space or a BOM included.
        if (/^[ \t\r\n]*$/.test(text)) text = "x";
        break;
      case "deep-nesting":
        children.push(xml("node", { nodeId: SENSOR }, deep(r, context.maxDepth)));
        break;
      case "field-unicode":
        children.push(xml("field", { name: oddString(r) }));
        expect = OK_OR_BUSY;
        break;
      case "fields-too-many":
        children = Array.from({ length: r.int(101, 600) }, (_, i) => xml("field", { name: `f${i}` }));
        break;
    }
    const req = xml("req", { xmlns: NS.sensordata, ...attrs }, ...children);
    if (text !== undefined) req.t(text);
    return { mutation, probes: [{ stanza: iq(context, "get", req), expect: gated(canRead(sender), expect), ...(then ? { then } : {}) }] };
  },
};

const cancelFace: Face = {
  name: "xep0323-cancel",
  weight: 3,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.weighted([
      ["not-running", 2],
      ["seqnr-missing", 1],
      ["seqnr-wrong-type", 2],
      ["children-ignored", 1],
    ] as const);
    const attrs: Record<string, string> = { seqnr: String(r.int(1_000_000, 2_000_000_000)) };
    let expect: Expectation = BAD_REQUEST;
    const children: Element[] = [];
    if (mutation === "not-running") expect = NOT_FOUND;
    if (mutation === "seqnr-missing") delete attrs.seqnr;
    if (mutation === "seqnr-wrong-type") attrs.seqnr = r.pick(WRONG_INTS);
    if (mutation === "children-ignored") {
      children.push(xml("node", { nodeId: SENSOR }, deep(r, context.maxDepth)));
      expect = NOT_FOUND;
    }
    return { mutation, probes: [{ stanza: iq(context, "get", xml("cancel", { xmlns: NS.sensordata, ...attrs }, ...children)), expect: gated(canRead(sender), expect) }] };
  },
};

// ---------------------------------------------------------------- XEP-0325 control

interface SetPayload {
  mutation: string;
  children: Element[];
  /** The controller's answer; everyone else gets forbidden. */
  expect: Expectation;
}

/** A `<set>`'s children, valid or broken in one way. */
function controlSet(r: Random, context: Context): SetPayload {
  const value = () => r.pick(["true", "false", "1", "0"]);
  const node = () => xml("node", { nodeId: ACTUATOR });
  const parameter = (attrs: Record<string, string> = { name: PARAMETER, value: value() }, type = "boolean") => xml(type, attrs);
  const form = (...fields: Element[]) =>
    xml("x", { xmlns: NS.data, type: "submit" }, xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS.control)), ...fields);
  const field = (name: string, text: string) => xml("field", { var: name }, xml("value", {}, text));
  const nodes = r.chance(0.5) ? [node()] : [];
  const mutation = r.weighted([
    ["valid", 3],
    ["valid-form", 1],
    ["parameter-duplicated", 1],
    ["type-mismatch", 3],
    ["type-unknown", 2],
    ["value-wrong-type", 3],
    ["value-oversized", 1],
    ["value-missing", 1],
    ["value-unicode", 1],
    ["name-unknown", 2],
    ["name-missing", 1],
    ["name-oversized", 1],
    ["node-unknown", 2],
    ["node-sensor", 1],
    ["node-missing-id", 1],
    ["parameters-none", 1],
    ["parameters-too-many", 1],
    ["nodes-too-many", 1],
    ["form-field-unknown", 1],
    ["form-value-wrong", 1],
    ["form-empty", 1],
    ["deep-nesting", 1],
  ] as const);
  const out = (children: Element[], expect: Expectation): SetPayload => ({ mutation, children, expect });
  switch (mutation) {
    case "valid":
      return out([...nodes, parameter()], OK);
    case "valid-form":
      return out([...nodes, form(field(PARAMETER, value()))], OK);
    case "parameter-duplicated":
      return out([...nodes, ...Array.from({ length: r.int(2, 10) }, () => parameter())], OK);
    case "type-mismatch":
      return out([...nodes, parameter({ name: PARAMETER, value: value() }, r.pick(["int", "long", "double", "string", "dateTime", "date", "time", "color", "duration"]))], BAD_REQUEST);
    case "type-unknown":
      return out([...nodes, parameter({ name: PARAMETER, value: value() }, r.pick(["numeric", "bool", "flag", "x", "Boolean", "set"]))], BAD_REQUEST);
    case "value-wrong-type":
      return out([...nodes, parameter({ name: PARAMETER, value: r.pick([...WRONG_BOOLEANS, ...WRONG_NUMBERS]) })], BAD_REQUEST);
    case "value-oversized":
      return out([...nodes, parameter({ name: PARAMETER, value: longString(r, 1_025, 30_000) })], BAD_REQUEST);
    case "value-missing":
      return out([...nodes, parameter({ name: PARAMETER })], BAD_REQUEST);
    case "value-unicode":
      return out([...nodes, parameter({ name: PARAMETER, value: `${value()}${r.pick(["\u200B", "\u202E", "\uFEFF", "\u0301"])}` })], BAD_REQUEST);
    case "name-unknown":
      return out([...nodes, parameter({ name: r.chance(0.5) ? oddString(r) : `${PARAMETER}${r.int(0, 9)}`, value: value() })], NOT_FOUND);
    case "name-missing":
      return out([...nodes, parameter({ value: value() })], BAD_REQUEST);
    case "name-oversized":
      return out([...nodes, parameter({ name: longString(r, 129, 5_000), value: value() })], BAD_REQUEST);
    case "node-unknown":
      return out([xml("node", { nodeId: r.chance(0.5) ? oddString(r) : `${ACTUATOR}2` }), parameter()], NOT_FOUND);
    case "node-sensor":
      return out([xml("node", { nodeId: SENSOR }), parameter()], reply("error:feature-not-implemented"));
    case "node-missing-id":
      return out([xml("node"), parameter()], NOT_FOUND);
    case "parameters-none":
      return out(nodes, BAD_REQUEST);
    case "parameters-too-many":
      return out([...nodes, ...Array.from({ length: r.int(65, 300) }, () => parameter())], BAD_REQUEST);
    case "nodes-too-many":
      return out([...Array.from({ length: r.int(65, 300) }, node), parameter()], BAD_REQUEST);
    case "form-field-unknown":
      return out([...nodes, form(field(oddString(r) || "unknown", value()))], NOT_FOUND);
    case "form-value-wrong":
      return out([...nodes, form(field(PARAMETER, r.pick(WRONG_BOOLEANS)))], BAD_REQUEST);
    case "form-empty":
      return out([...nodes, form()], BAD_REQUEST);
    case "deep-nesting":
      // A nested parameter element has no name: the request is malformed.
      return out([...nodes, parameter(), xml("boolean", {}, deep(r, context.maxDepth))], BAD_REQUEST);
  }
}

const controlSetFace: Face = {
  name: "xep0325-set",
  weight: 14,
  iqType: "set",
  build(r, sender, context) {
    const { mutation, children, expect } = controlSet(r, context);
    return { mutation, probes: [{ stanza: iq(context, "set", xml("set", { xmlns: NS.control }, ...children)), expect: gated(canControl(sender), expect) }] };
  },
};

const controlMessageFace: Face = {
  name: "xep0325-set-by-message",
  weight: 5,
  build(r, _sender, context) {
    // Never answered, whatever it holds and whoever sends it (XEP-0325 §3.2); applied only for a controller.
    const { mutation, children } = controlSet(r, context);
    const type = r.pick([undefined, "chat", "normal", "headline", "groupchat", "error"]);
    const stanza = xml("message", { to: context.agent, id: nextId(context), ...(type ? { type } : {}) }, xml("set", { xmlns: NS.control }, ...children));
    return { mutation: `${mutation} type=${type ?? "none"}`, probes: [{ stanza, expect: { kind: "silence" } }] };
  },
};

const getFormFace: Face = {
  name: "xep0325-getForm",
  weight: 5,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.weighted([
      ["valid", 3],
      ["node-unknown", 2],
      ["node-sensor", 1],
      ["node-missing-id", 1],
      ["nodes-too-many", 1],
      ["nodes-duplicated", 1],
      ["child-unknown", 1],
    ] as const);
    const node = (nodeId?: string) => xml("node", nodeId === undefined ? {} : { nodeId });
    const cases: Record<typeof mutation, [Element[], Expectation]> = {
      valid: [r.chance(0.5) ? [node(ACTUATOR)] : [], OK],
      "node-unknown": [[node(oddString(r))], NOT_FOUND],
      "node-sensor": [[node(SENSOR)], reply("error:feature-not-implemented")],
      "node-missing-id": [[node()], NOT_FOUND],
      "nodes-too-many": [Array.from({ length: r.int(65, 400) }, () => node(ACTUATOR)), BAD_REQUEST],
      "nodes-duplicated": [Array.from({ length: r.int(2, 64) }, () => node(ACTUATOR)), OK],
      "child-unknown": [[xml("fields", {}, deep(r, context.maxDepth))], OK],
    };
    const [children, expect] = cases[mutation];
    return { mutation, probes: [{ stanza: iq(context, "get", xml("getForm", { xmlns: NS.control }, ...children)), expect: gated(canRead(sender), expect) }] };
  },
};

// ---------------------------------------------------------------- XEP-0050 ad-hoc commands

const COMMANDS = ["read", "status", "history", "set"] as const;

/** The answer to executing `node` as `sender`, in the order adhoc.ts checks. */
function executeOutcome(sender: Sender, node: string, valid: Expectation): Expectation {
  if (!canRead(sender)) return FORBIDDEN;
  if (!(COMMANDS as readonly string[]).includes(node)) return NOT_FOUND;
  if (node === "set" && !canControl(sender)) return FORBIDDEN;
  return valid;
}

/** The values a form submits: right, wrong, odd, many. */
function submittedForm(r: Random, node: string, context: Context): Element | undefined {
  const value = (text: string) => xml("value", {}, text);
  const field = (name: string, ...texts: string[]) => xml("field", { var: name }, ...texts.map(value));
  const pickValue = (long = true) => r.pick([SENSOR, ACTUATOR, oddString(r), long ? longString(r, 1, 3_000) : "x".repeat(r.int(1, 40)), "", r.pick(WRONG_DATES)]);
  const kind = r.int(0, 5);
  if (kind === 0) return undefined;
  if (kind === 1) return xml("x", { xmlns: NS.data, type: r.pick(["form", "result", "cancel", "bogus"]) }, field("nodes", SENSOR));
  const fields: Element[] = [];
  if (node === "read") fields.push(field("nodes", ...(kind === 5 ? Array.from({ length: r.int(100, 500) }, () => pickValue(false)) : Array.from({ length: r.int(0, 3) }, () => pickValue()))));
  if (node === "history") fields.push(field("node", pickValue()), field("duration", r.pick(["1h", "30m", "0s", "-5m", "999999d", "NaN", oddString(r), ""])));
  if (node === "set") fields.push(field("node", r.pick([ACTUATOR, SENSOR, oddString(r), ""])), field(PARAMETER, r.pick(["true", "false", ...WRONG_BOOLEANS])));
  if (kind === 4) fields.push(...Array.from({ length: r.int(1, 300) }, (_, i) => field(`extra${i}`, oddString(r))));
  if (kind === 5) fields.push(field(oddString(r), oddString(r)), xml("field", {}, deep(r, context.maxDepth)));
  return xml("x", { xmlns: NS.data, type: "submit" }, ...fields);
}

/** What comes after an executing reply: the session continued, broken, hijacked or cancelled; then cleaned up. */
function continueSession(r: Random, context: Context, node: string, owner: Sender): (answer: Element) => Probe | undefined {
  return (answer) => {
    const command = answer.getChild("command", NS.commands);
    const sessionid = command?.attrs.sessionid as string | undefined;
    if (answer.attrs.type !== "result" || command?.attrs.status !== "executing" || !sessionid) return undefined;
    const mutation = r.weighted([
      ["complete", 4],
      ["next", 2],
      ["prev", 1],
      ["cancel", 2],
      ["action-unknown", 1],
      ["node-other", 1],
      ["session-other", 1],
      ["session-hijack", 1],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.commands, node, sessionid };
    let expect: Expectation = OK;
    // Another account sends this session's id: a session belongs to whoever started it (adhoc.ts).
    const intruder = mutation === "session-hijack" ? another(r, owner) : undefined;
    if (mutation === "complete" || mutation === "next" || mutation === "prev" || mutation === "cancel") attrs.action = mutation;
    if (mutation === "action-unknown") {
      attrs.action = r.pick(["destroy", "", "COMPLETE", "execute ", oddString(r)]);
      expect = BAD_REQUEST;
    }
    if (mutation === "node-other") {
      attrs.node = r.pick(COMMANDS.filter((other) => other !== node && other !== "set"));
      expect = BAD_REQUEST;
    }
    if (mutation === "session-other") {
      attrs.sessionid = `${sessionid.slice(0, -1)}${sessionid.endsWith("0") ? "1" : "0"}`;
      expect = BAD_REQUEST;
    }
    if (intruder) {
      attrs.action = r.pick(["complete", "cancel", "next"]);
      expect = executeOutcome(intruder, node, BAD_REQUEST);
    }
    const form = mutation === "cancel" ? undefined : submittedForm(r, node, context);
    return {
      stanza: iq(context, "set", xml("command", attrs, ...(form ? [form] : []))),
      expect,
      ...(intruder ? { from: intruder } : {}),
      // Whatever is still open is cancelled, so sessions do not pile up to the per-operator limit.
      then: (second) =>
        second.getChild("command", NS.commands)?.attrs.status === "executing" || second.attrs.type === "error"
          ? { stanza: iq(context, "set", xml("command", { xmlns: NS.commands, node, sessionid, action: "cancel" })), expect: OK }
          : undefined,
    };
  };
}

const adhocFace: Face = {
  name: "xep0050-command",
  weight: 14,
  iqType: "set",
  build(r, sender, context) {
    let node: string = r.pick(COMMANDS);
    const attrs: Record<string, string> = { xmlns: NS.commands, node };
    if (r.chance(0.5)) attrs.action = "execute";
    const mutation = r.weighted([
      ["valid+continue", 6],
      ["node-unknown", 2],
      ["node-missing", 1],
      ["action-unknown", 2],
      ["action-without-session", 2],
      ["session-unknown", 2],
      ["attribute-oversized", 1],
      ["form-on-execute", 1],
    ] as const);
    let valid: Expectation = BAD_REQUEST;
    let then: Probe["then"];
    const children: Element[] = [];
    switch (mutation) {
      case "valid+continue":
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      case "node-unknown":
        node = r.chance(0.5) ? oddString(r) : r.pick(["Read", "reset", "config", "shutdown", NS.commands]);
        attrs.node = node;
        break;
      case "node-missing":
        delete attrs.node;
        node = "";
        break;
      case "action-unknown":
        attrs.action = r.pick(["destroy", "", "EXECUTE", "execute ", oddString(r), longString(r, 100, 2_000)]);
        break;
      case "action-without-session":
        attrs.action = r.pick(["next", "prev", "complete", "cancel"]);
        break;
      case "session-unknown":
        attrs.sessionid = r.pick([oddString(r), longString(r, 1, 5_000), "00000000-0000-0000-0000-000000000000"]);
        break;
      case "attribute-oversized":
        attrs[r.pick(["lang", "xml:lang", "status", "colour"])] = longString(r, 1_000, 20_000);
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      case "form-on-execute": {
        const form = submittedForm(r, node, context);
        if (form) children.push(form);
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      }
    }
    const expect = executeOutcome(sender, node, valid);
    const probe: Probe = { stanza: iq(context, "set", xml("command", attrs, ...children)), expect };
    if (then && expect !== FORBIDDEN && expect !== NOT_FOUND) probe.then = then;
    return { mutation, probes: [probe] };
  },
};

// ---------------------------------------------------------------- disco, version, ping

const discoInfoFace: Face = {
  name: "disco-info",
  weight: 5,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.weighted([
      ["valid", 2],
      ["commands-node", 1],
      ["command-node", 2],
      ["node-unknown", 2],
      ["node-oversized", 1],
      ["children-ignored", 1],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.discoInfo };
    let expect: Expectation = OK;
    const children: Element[] = [];
    if (mutation === "commands-node") attrs.node = NS.commands;
    if (mutation === "command-node") {
      // A command's node is shown only to those who may run it (adhoc.ts).
      const command = r.pick(COMMANDS);
      attrs.node = command;
      expect = canRead(sender) && (command !== "set" || canControl(sender)) ? OK : NOT_FOUND;
    }
    if (mutation === "node-unknown") {
      attrs.node = oddString(r);
      expect = NOT_FOUND;
    }
    if (mutation === "node-oversized") {
      attrs.node = longString(r, 1_000, 30_000);
      expect = NOT_FOUND;
    }
    if (mutation === "children-ignored") children.push(xml("identity", { category: oddString(r) }), deep(r, context.maxDepth));
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", attrs, ...children)), expect }] };
  },
};

const discoItemsFace: Face = {
  name: "disco-items",
  weight: 3,
  iqType: "get",
  build(r, _sender, context) {
    const mutation = r.weighted([
      ["valid", 2],
      ["commands-node", 2],
      ["node-unknown", 2],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.discoItems };
    if (mutation === "commands-node") attrs.node = NS.commands;
    if (mutation === "node-unknown") attrs.node = r.chance(0.5) ? oddString(r) : longString(r, 100, 10_000);
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", attrs)), expect: mutation === "node-unknown" ? NOT_FOUND : OK }] };
  },
};

const versionFace: Face = {
  name: "version",
  weight: 3,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.chance(0.5) ? "valid" : "children-ignored";
    const children = mutation === "valid" ? [] : [xml("name", {}, oddString(r)), deep(r, context.maxDepth)];
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", { xmlns: NS.version }, ...children)), expect: gated(canRead(sender), OK) }] };
  },
};

const pingFace: Face = {
  name: "ping",
  weight: 3,
  iqType: "get",
  build(r, _sender, context) {
    // A flood: many requests written back to back, without waiting for any answer.
    const flood = r.chance(0.3);
    const count = flood ? r.int(10, 100) : 1;
    const payload = () => (r.chance(0.7) ? xml("ping", { xmlns: NS.ping }) : xml("query", { xmlns: NS.discoInfo }));
    const probes = Array.from({ length: count }, () => ({ stanza: iq(context, "get", payload()), expect: OK }));
    return { mutation: flood ? `flood of ${count}` : "valid", probes };
  },
};

// ---------------------------------------------------------------- chat

const chatFace: Face = {
  name: "chat",
  weight: 12,
  build(r, sender, context) {
    const mutation = r.weighted([
      ["command", 6],
      ["garbage", 2],
      ["unicode", 2],
      ["body-oversized", 1],
      ["body-empty", 1],
      ["bodies-duplicated", 1],
      ["type-not-answered", 2],
      ["delayed", 1],
      ["children-unknown", 1],
      ["to-wrong-resource", 1],
    ] as const);
    const command = () => r.pick(["help", "read", `read ${SENSOR}`, `read ${ACTUATOR}`, "status", `history ${SENSOR} 1h`, `set ${ACTUATOR} ${PARAMETER} ${r.pick(["true", "false", "maybe"])}`, "read nothing"]);
    const thread = nextId(context);
    let body: string[] = [command()];
    let type: string | undefined = r.pick(["chat", "chat", "normal", undefined]);
    let to = context.agent;
    const extra: Element[] = [];
    // An operator gets exactly one answer to a command-like body, a stranger one refusal in all (checked over the run).
    let answered = true;
    switch (mutation) {
      case "command":
        break;
      case "garbage":
        body = [r.pick(["rm -rf /", "set", "set pump", "read read read", "history boiler forever", "HELP", "status status", "?"])];
        break;
      case "unicode":
        body = [`${command()}${oddString(r)}`];
        break;
      case "body-oversized":
        body = [longString(r, 1_025, 60_000)];
        break;
      case "body-empty":
        body = [r.pick(["", " ", "\n\t "])];
        answered = false;
        break;
      case "bodies-duplicated":
        body = Array.from({ length: r.int(2, 50) }, command);
        break;
      case "type-not-answered":
        type = r.pick(["headline", "groupchat", "error"]);
        answered = false;
        break;
      case "delayed":
        extra.push(xml("delay", { xmlns: NS.delay, stamp: hourAgo() }));
        break;
      case "children-unknown":
        extra.push(xml("fuzz", { xmlns: "urn:fuzz:chat" }, deep(r, context.maxDepth)), xml("html", { xmlns: "http://jabber.org/protocol/xhtml-im" }, xml("body", {}, oddString(r))));
        break;
      case "to-wrong-resource":
        to = `${context.agent.split("/")[0] ?? ""}/${r.pick(["other", oddString(r).replace(/\s/g, "") || "x"])}`;
        break;
    }
    const stanza = xml("message", { to, id: nextId(context), ...(type ? { type } : {}) }, ...body.map((text) => xml("body", {}, text)), xml("thread", {}, thread), ...extra);
    // A message to an unknown resource of the agent's account may reach the agent (RFC 6121 §8.5.3.2.1: the server's choice).
    const max = answered ? 1 : 0;
    const min = sender === "stranger" || mutation === "to-wrong-resource" ? 0 : max;
    return { mutation, probes: [{ stanza, expect: { kind: "chat", min, max } }] };
  },
};

const FACES: readonly Face[] = [readoutFace, cancelFace, controlSetFace, controlMessageFace, getFormFace, adhocFace, discoInfoFace, discoItemsFace, versionFace, pingFace, chatFace];

// ---------------------------------------------------------------- iq-level mutations

/** Breaks an iq at the XMPP level (RFC 6120 §8.2.3); the face's own rules never get to see it. */
function iqLevel(r: Random, probe: Probe, type: "get" | "set", context: Context): { mutation: string; probe: Probe } | undefined {
  const stanza = probe.stanza;
  const payload = stanza.getChildElements()[0];
  if (!payload) return undefined;
  const mutation = r.weighted([
    ["iq-type-invalid", 2],
    ["iq-type-missing", 1],
    ["iq-type-swapped", 2],
    ["iq-type-result-or-error", 2],
    ["payload-missing", 1],
    ["payload-duplicated", 1],
    ["payload-sibling-unknown", 1],
    ["namespace-unknown", 2],
    ["namespace-swapped", 2],
    ["element-unknown", 1],
    ["to-wrong-resource", 1],
  ] as const);
  const rebuilt = (attrs: Record<string, string | undefined>, ...children: Element[]) =>
    xml("iq", Object.fromEntries(Object.entries({ ...stanza.attrs, ...attrs }).filter((entry): entry is [string, string] => entry[1] !== undefined)), ...children);
  const renamed = (name: string, xmlns: string) => xml(name, { ...payload.attrs, xmlns }, ...payload.children);
  switch (mutation) {
    case "iq-type-invalid":
      return { mutation, probe: { stanza: rebuilt({ type: r.pick(["GET", "fetch", "", "put", "resul", oddString(r)]) }, payload), expect: BAD_REQUEST } };
    case "iq-type-missing":
      return { mutation, probe: { stanza: rebuilt({ type: undefined }, payload), expect: BAD_REQUEST } };
    case "iq-type-swapped": {
      const swapped = type === "get" ? "set" : "get";
      if (ROUTES.has(`${swapped} ${String(payload.attrs.xmlns)} ${payload.name}`)) return undefined;
      return { mutation, probe: { stanza: rebuilt({ type: swapped }, payload), expect: UNKNOWN } };
    }
    case "iq-type-result-or-error":
      return { mutation, probe: { stanza: rebuilt({ type: r.pick(["result", "error"]) }, payload), expect: { kind: "silence" } } };
    case "payload-missing":
      return { mutation, probe: { stanza: rebuilt({}), expect: BAD_REQUEST } };
    case "payload-duplicated": {
      const copies = Math.max(2, Math.min(r.int(2, 20), Math.floor(MAX_STANZA_BYTES / 2 / Buffer.byteLength(serialize(payload)))));
      return { mutation, probe: { stanza: rebuilt({}, ...Array.from({ length: copies }, () => payload)), expect: BAD_REQUEST } };
    }
    case "payload-sibling-unknown":
      return { mutation, probe: { stanza: rebuilt({}, payload, xml("fuzz", { xmlns: "urn:fuzz:sibling" })), expect: BAD_REQUEST } };
    case "namespace-unknown":
      return { mutation, probe: { stanza: rebuilt({}, renamed(payload.name, `urn:fuzz:${context.index}`)), expect: UNKNOWN } };
    case "namespace-swapped": {
      const others = Object.values(NS).filter((ns) => !ROUTES.has(`${type} ${ns} ${payload.name}`));
      return { mutation, probe: { stanza: rebuilt({}, renamed(payload.name, r.pick(others))), expect: UNKNOWN } };
    }
    case "element-unknown":
      return { mutation, probe: { stanza: rebuilt({}, renamed(r.pick(["request", "Req", "fuzz", "query2", "commands"]), String(payload.attrs.xmlns))), expect: UNKNOWN } };
    case "to-wrong-resource": {
      // The server answers for a resource that is not online (RFC 6121 §8.5.3.2.1); the agent never sees it.
      const bare = String(stanza.attrs.to).split("/")[0] ?? "";
      return { mutation, probe: { stanza: rebuilt({ to: `${bare}/${r.pick(["other", "edge2", "Edge"])}` }, payload), expect: reply("error:service-unavailable") } };
    }
  }
}

// ---------------------------------------------------------------- the generator

/** Deepest nesting sent by default: Prosody passes it on; ejabberd closes a stream past about 3,000 levels. */
export const MAX_DEPTH = 6_000;

/** Case `index` of the run with `seed`: the same stanzas every time (apart from ids echoed from replies). */
export function generateCase(seed: number, index: number, agent: string, maxDepth = MAX_DEPTH): FuzzCase {
  const r = Random.forCase(seed, index);
  const context: Context = { index, agent, prefix: `fz${index}`, counter: 0, maxDepth };
  const face = r.weighted(FACES.map((candidate) => [candidate, candidate.weight] as const));
  const sender = r.weighted<Sender>([
    ["stranger", 3],
    ["reader", 3],
    ["controller", 4],
  ]);
  const built = face.build(r, sender, context);
  const [first] = built.probes;
  if (face.iqType && first && built.probes.length === 1 && r.chance(0.2)) {
    const broken = iqLevel(r, first, face.iqType, context);
    if (broken) return { index, sender, face: face.name, mutation: broken.mutation, probes: [broken.probe] };
  }
  return { index, sender, face: face.name, mutation: built.mutation, probes: built.probes };
}

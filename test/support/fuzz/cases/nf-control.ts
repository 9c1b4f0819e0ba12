// urn:nf:iot:ctr:1.0 (and urn:ieee:iot:ctr:1.0) control: set by iq, and the control form. The dialect's errors
// for an unknown node or parameter are of type modify, as its reference server sends them.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";
import { ACTUATOR, BAD_REQUEST, canControl, canRead, gated, iq, NOT_FOUND, NS, OK, PARAMETER, SENSOR, type Context, type Expectation, type Face } from "./common.ts";
import { deep, longString, oddString, WRONG_BOOLEANS } from "./hostile.ts";

/** What the face answers, with item-not-found of type modify (RFC 6120 says SHOULD cancel; the dialect says modify). */
function nf(expect: Expectation): Expectation {
  return expect.kind === "reply" ? { ...expect, types: { "item-not-found": ["modify"] } } : expect;
}

const namespace = (r: Random) => (r.chance(0.8) ? NS.nfControl : NS.ieeeControl);

/** A `<set>`'s children, valid or broken in one way, and the controller's answer (everyone else: forbidden). */
function nfSet(r: Random, context: Context): { mutation: string; children: Element[]; expect: Expectation } {
  const value = () => r.pick(["true", "false", "1", "0"]);
  const node = (attrs: Record<string, string> = { id: ACTUATOR }) => xml("nd", attrs);
  const parameter = (attrs: Record<string, string> = { n: PARAMETER, v: value() }, element = "b") => xml(element, attrs);
  const form = (type: string | undefined, ...fields: Element[]) => xml("x", { xmlns: NS.data, ...(type !== undefined ? { type } : {}) }, xml("field", { var: "xdd session", type: "hidden" }, xml("value", {}, "s")), ...fields);
  const field = (name: string, text: string) => xml("field", { var: name }, xml("value", {}, text));
  const nodes = r.chance(0.5) ? [node()] : [];
  const mutation = r.weighted([
    ["valid", 3],
    ["valid-form", 1],
    ["valid-tokens", 1],
    ["parameter-duplicated", 1],
    ["type-mismatch", 3],
    ["element-unknown", 2],
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
    ["form-not-submitted", 1],
    ["deep-nesting", 1],
  ] as const);
  const out = (children: Element[], expect: Expectation) => ({ mutation, children, expect });
  switch (mutation) {
    case "valid":
      return out([...nodes, parameter()], OK);
    case "valid-form":
      return out([...nodes, form("submit", field(PARAMETER, value()))], OK);
    case "valid-tokens":
      // Tokens and a node's source and partition are for provisioning and concentrators; xedge ignores them.
      return out([node({ id: ACTUATOR, src: oddString(r), pt: oddString(r) }), parameter()], OK);
    case "parameter-duplicated":
      return out([...nodes, ...Array.from({ length: r.int(2, 10) }, () => parameter())], OK);
    case "type-mismatch":
      return out([...nodes, parameter({ n: PARAMETER, v: value() }, r.pick(["cl", "d", "dt", "db", "dr", "e", "i", "l", "s", "t"]))], BAD_REQUEST);
    case "element-unknown":
      return out([...nodes, parameter({ n: PARAMETER, v: value() }), parameter({ n: PARAMETER, v: value() }, r.pick(["boolean", "bool", "B", "p", "param", "node", "x"]))], BAD_REQUEST);
    case "value-wrong-type":
      return out([...nodes, parameter({ n: PARAMETER, v: r.pick(WRONG_BOOLEANS) })], BAD_REQUEST);
    case "value-oversized":
      return out([...nodes, parameter({ n: PARAMETER, v: longString(r, 1_025, 30_000) })], BAD_REQUEST);
    case "value-missing":
      return out([...nodes, parameter({ n: PARAMETER })], BAD_REQUEST);
    case "value-unicode":
      return out([...nodes, parameter({ n: PARAMETER, v: `${value()}${r.pick(["\u200B", "\u202E", "\uFEFF", "\u0301"])}` })], BAD_REQUEST);
    case "name-unknown":
      return out([...nodes, parameter({ n: r.chance(0.5) ? oddString(r) : `${PARAMETER}${r.int(0, 9)}`, v: value() })], NOT_FOUND);
    case "name-missing":
      return out([...nodes, parameter({ v: value() })], BAD_REQUEST);
    case "name-oversized":
      return out([...nodes, parameter({ n: longString(r, 129, 5_000), v: value() })], BAD_REQUEST);
    case "node-unknown":
      return out([node({ id: r.chance(0.5) ? oddString(r) : `${ACTUATOR}2` }), parameter()], NOT_FOUND);
    case "node-sensor":
      // A sensor has no control parameters: answered as a node with nothing to set.
      return out([node({ id: SENSOR }), parameter()], NOT_FOUND);
    case "node-missing-id":
      return out([node({}), parameter()], NOT_FOUND);
    case "parameters-none":
      return out(nodes, BAD_REQUEST);
    case "parameters-too-many":
      return out([...nodes, ...Array.from({ length: r.int(65, 300) }, () => parameter())], BAD_REQUEST);
    case "nodes-too-many":
      return out([...Array.from({ length: r.int(65, 300) }, () => node()), parameter()], BAD_REQUEST);
    case "form-field-unknown":
      return out([...nodes, form("submit", field(oddString(r) || "unknown", value()))], NOT_FOUND);
    case "form-value-wrong":
      return out([...nodes, form("submit", field(PARAMETER, r.pick(WRONG_BOOLEANS)))], BAD_REQUEST);
    case "form-empty":
      return out([...nodes, form("submit")], BAD_REQUEST);
    case "form-not-submitted":
      return out([...nodes, form(r.pick(["form", "result", "cancel", undefined, "SUBMIT"]), field(PARAMETER, value()))], BAD_REQUEST);
    case "deep-nesting":
      // A nested parameter element has no name: the request is malformed.
      return out([...nodes, parameter(), xml("b", {}, deep(r, context.maxDepth))], BAD_REQUEST);
  }
}

export const nfSetFace: Face = {
  name: "nf-ctr-set",
  weight: 8,
  iqType: "set",
  build(r, sender, context) {
    const ns = namespace(r);
    const { mutation, children, expect } = nfSet(r, context);
    const attrs = mutation === "valid-tokens" ? { xmlns: ns, st: oddString(r), dt: oddString(r), ut: oddString(r) } : { xmlns: ns };
    return { mutation, probes: [{ stanza: iq(context, "set", xml("set", attrs, ...children)), expect: nf(gated(canControl(sender), expect)) }] };
  },
};

export const nfGetFormFace: Face = {
  name: "nf-ctr-getForm",
  weight: 3,
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
    const node = (id?: string) => xml("nd", id === undefined ? {} : { id });
    const cases: Record<typeof mutation, [Element[], Expectation]> = {
      valid: [r.chance(0.5) ? [node(ACTUATOR)] : [], OK],
      "node-unknown": [[node(oddString(r))], NOT_FOUND],
      "node-sensor": [[node(SENSOR)], NOT_FOUND],
      "node-missing-id": [[node()], NOT_FOUND],
      "nodes-too-many": [Array.from({ length: r.int(65, 400) }, () => node(ACTUATOR)), BAD_REQUEST],
      "nodes-duplicated": [Array.from({ length: r.int(2, 64) }, () => node(ACTUATOR)), OK],
      "child-unknown": [[xml("fields", {}, deep(r, context.maxDepth))], OK],
    };
    const [children, expect] = cases[mutation];
    const stanza = iq(context, "get", xml("getForm", { xmlns: namespace(r) }, ...children));
    return { mutation, probes: [{ stanza, expect: nf(gated(canRead(sender), expect)) }] };
  },
};

// XEP-0325 control: set by iq and by message, and the control form.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";
import { ACTUATOR, BAD_REQUEST, canControl, canRead, gated, hourAgo, iq, nextId, NOT_FOUND, NS, OK, PARAMETER, reply, SENSOR, type Context, type Expectation, type Face } from "./common.ts";
import { deep, longString, oddString, WRONG_BOOLEANS, WRONG_NUMBERS } from "./hostile.ts";

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
    ["valid-smack-bool", 1],
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
    case "valid-smack-bool":
      // Smack 4.4.8's SetBoolData writes <bool>, taken as <boolean>.
      return out([...nodes, parameter({ name: PARAMETER, value: value() }, "bool")], OK);
    case "valid-form":
      return out([...nodes, form(field(PARAMETER, value()))], OK);
    case "parameter-duplicated":
      return out([...nodes, ...Array.from({ length: r.int(2, 10) }, () => parameter())], OK);
    case "type-mismatch":
      return out([...nodes, parameter({ name: PARAMETER, value: value() }, r.pick(["int", "long", "double", "string", "dateTime", "date", "time", "color", "duration"]))], BAD_REQUEST);
    case "type-unknown":
      return out([...nodes, parameter({ name: PARAMETER, value: value() }, r.pick(["numeric", "flag", "x", "Boolean", "BOOL", "set"]))], BAD_REQUEST);
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

export const controlSetFace: Face = {
  name: "xep0325-set",
  weight: 14,
  iqType: "set",
  build(r, sender, context) {
    const { mutation, children, expect } = controlSet(r, context);
    return { mutation, probes: [{ stanza: iq(context, "set", xml("set", { xmlns: NS.control }, ...children)), expect: gated(canControl(sender), expect) }] };
  },
};

export const controlMessageFace: Face = {
  name: "xep0325-set-by-message",
  weight: 5,
  build(r, _sender, context) {
    // Never answered, whatever it holds and whoever sends it (XEP-0325 §3.2); applied only for a controller.
    const { mutation, children } = controlSet(r, context);
    // A delayed one (stored offline) is refused and audited instead: silent all the same.
    const type = r.pick([undefined, "chat", "normal", "headline", "groupchat", "error"]);
    const delayed = r.chance(0.2);
    const delay = delayed ? [xml("delay", { xmlns: NS.delay, stamp: hourAgo() })] : [];
    const stanza = xml("message", { to: context.agent, id: nextId(context), ...(type ? { type } : {}) }, xml("set", { xmlns: NS.control }, ...children), ...delay);
    return { mutation: `${mutation} type=${type ?? "none"}${delayed ? " delayed" : ""}`, probes: [{ stanza, expect: { kind: "silence" } }] };
  },
};

export const getFormFace: Face = {
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

// Sensor data in the urn:nf:iot:sd dialect (both namespaces, iq get and set): readout requests and their
// cancellation, as agent/xmpp/nf-sensordata.ts documents its answers (docs/protocols.md).
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import { another, BAD_REQUEST, canRead, gated, hourAgo, iq, NODES, NOT_FOUND, NS, OK, OK_OR_BUSY, SENSOR, type Context, type Expectation, type Face, type Probe, type Sender } from "./common.ts";
import { ATTRIBUTE_NAMES, deep, longString, oddString, WRONG_BOOLEANS, WRONG_DATES } from "./hostile.ts";
import type { Random } from "../random.ts";

const NAMESPACES = [NS.nfSensordata, NS.ieeeSensordata];
const TYPES = ["m", "p", "s", "c", "i", "h", "all"];

/**
 * A readout to cancel once its request was answered: an empty result whether it still runs or not (the dialect's
 * cancel is no error). Cancelled by someone else (`by`), it is not theirs and runs to its end; a stranger is forbidden.
 */
function cancelAfter(context: Context, ns: string, id: string, by?: Sender): (answer: Element) => Probe | undefined {
  return (answer) => {
    if (answer.attrs.type !== "result") return undefined;
    const stanza = iq(context, "get", xml("cancel", { xmlns: ns, id }));
    return by === undefined ? { stanza, expect: OK } : { stanza, expect: gated(canRead(by), OK), from: by };
  };
}

const iqType = (r: Random) => (r.chance(0.2) ? "set" : "get");

export const nfReadoutFace: Face = {
  name: "nf-req",
  weight: 12,
  iqType: "get",
  build(r, sender, context) {
    const ns = r.pick(NAMESPACES);
    const id = `nf${context.index}`;
    const attrs: Record<string, string> = { id };
    let children: Element[] = [];
    const variant = r.int(0, 4);
    if (variant === 0) attrs.m = "true";
    if (variant === 1) Object.assign(attrs, { h: "true", from: hourAgo(), to: new Date().toISOString() });
    if (variant === 2) Object.assign(attrs, { all: "true", from: hourAgo() });
    if (variant === 3) attrs.when = new Date(Date.now() - r.int(1, 86_400_000)).toISOString();
    if (r.chance(0.5)) children.push(xml("nd", { id: r.pick(NODES) }));
    if (r.chance(0.3)) children.push(xml("f", { n: "temperature" }));

    const mutation = r.weighted([
      ["valid", 4],
      ["valid+cancel", 2],
      ["valid+cancel-by-another", 1],
      ["queued+cancel", 1],
      ["range-extreme", 1],
      ["id-missing", 1],
      ["id-empty", 1],
      ["boolean-wrong-type", 3],
      ["date-wrong-type", 3],
      ["from-after-to", 1],
      ["when-too-far", 1],
      ["attribute-unknown", 2],
      ["attribute-oversized", 2],
      ["token-oversized", 1],
      ["node-unknown", 3],
      ["node-foreign-source", 1],
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
        then = canRead(sender) ? cancelAfter(context, ns, id) : undefined;
        break;
      case "valid+cancel-by-another":
        expect = OK_OR_BUSY;
        then = canRead(sender) ? cancelAfter(context, ns, id, another(r, sender)) : undefined;
        break;
      case "queued+cancel":
        // Queued for later (at most a day), then cancelled: cancelling frees its slot.
        attrs.when = new Date(Date.now() + r.int(60, 86_000) * 1_000).toISOString();
        expect = OK_OR_BUSY;
        then = canRead(sender) ? cancelAfter(context, ns, id) : undefined;
        break;
      case "range-extreme":
        Object.assign(attrs, { [r.pick(["h", "all"])]: "true", from: r.pick(["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0050-06-01T00:00:00.000"]), to: "9999-12-31T23:59:59.999Z" });
        expect = OK_OR_BUSY;
        break;
      case "id-missing":
        delete attrs.id;
        break;
      case "id-empty":
        attrs.id = "";
        break;
      case "boolean-wrong-type":
        attrs[r.pick(TYPES)] = r.pick(WRONG_BOOLEANS);
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
        // Ignored, as the reference server ignores them: xml:lang, namespace declarations, anything else.
        Object.assign(attrs, r.pick([{ [r.pick(ATTRIBUTE_NAMES)]: oddString(r) }, { "xml:lang": r.pick(["en", "de-CH"]) }, { "xmlns:fuzz": "urn:fuzz:ext", "fuzz:hint": oddString(r) }]));
        expect = OK_OR_BUSY;
        break;
      case "attribute-oversized":
        attrs[r.pick(["id", "from", "m"])] = longString(r, 257, 20_000);
        break;
      case "token-oversized":
        // The provisioning tokens are not read at all (the operators list decides), however long.
        attrs[r.pick(["st", "dt", "ut"])] = longString(r, 257, 4_000);
        expect = OK_OR_BUSY;
        break;
      case "node-unknown":
        children = [xml("nd", { id: r.chance(0.5) ? oddString(r) : `${r.pick(NODES)}${r.int(0, 99)}` })];
        expect = NOT_FOUND;
        break;
      case "node-foreign-source":
        // The gateway is one data source without a name or partitions: a node of another names none here.
        children = [xml("nd", { id: r.pick(NODES), [r.pick(["src", "pt"])]: r.pick(["MeteringTopology", `p${oddString(r)}`]) })];
        expect = NOT_FOUND;
        break;
      case "node-empty-id":
        children.push(xml("nd", r.chance(0.5) ? {} : { id: "" }));
        break;
      case "node-attribute-unknown":
        children = [xml("nd", { id: SENSOR, [r.pick(ATTRIBUTE_NAMES)]: "1" })];
        break;
      case "nodes-too-many":
        children = Array.from({ length: r.int(101, 800) }, () => xml("nd", { id: SENSOR }));
        break;
      case "nodes-duplicated":
        children = Array.from({ length: r.int(2, 100) }, () => xml("nd", { id: r.pick(NODES) }));
        expect = OK_OR_BUSY;
        break;
      case "node-with-children":
        children = [xml("nd", { id: SENSOR }, xml("f", { n: "temperature" }))];
        break;
      case "child-unknown":
        children.push(xml(r.pick(["node", "field", "ND", "req", "resp", "ts"]), { id: SENSOR }));
        break;
      case "child-foreign-namespace":
        // The other namespace of the dialect is foreign too: children belong to their <req>'s namespace.
        children.push(xml("nd", { xmlns: r.pick([NAMESPACES.find((other) => other !== ns)!, NS.sensordata, "urn:fuzz:other", ns.toUpperCase()]), id: SENSOR }));
        break;
      case "text-content":
        text = r.chance(0.5) ? oddString(r) : "boiler";
        if (/^[ \t\r\n]*$/.test(text)) text = "x";
        break;
      case "deep-nesting":
        children.push(xml("nd", { id: SENSOR }, deep(r, context.maxDepth)));
        break;
      case "field-unicode":
        children.push(xml("f", { n: oddString(r) }));
        expect = OK_OR_BUSY;
        break;
      case "fields-too-many":
        children = Array.from({ length: r.int(101, 600) }, (_, i) => xml("f", { n: `f${i}` }));
        break;
    }
    const req = xml("req", { xmlns: ns, ...attrs }, ...children);
    if (text !== undefined) req.t(text);
    return { mutation, probes: [{ stanza: iq(context, iqType(r), req), expect: gated(canRead(sender), expect), ...(then ? { then } : {}) }] };
  },
};

export const nfCancelFace: Face = {
  name: "nf-cancel",
  weight: 2,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.weighted([
      ["not-running", 2],
      ["id-missing", 1],
      ["id-oversized", 1],
      ["children-ignored", 1],
    ] as const);
    const attrs: Record<string, string> = { id: `nf${r.int(1_000_000, 2_000_000_000)}` };
    let expect: Expectation = BAD_REQUEST;
    const children: Element[] = [];
    if (mutation === "not-running") expect = OK;
    if (mutation === "id-missing") delete attrs.id;
    if (mutation === "id-oversized") attrs.id = longString(r, 257, 4_000);
    if (mutation === "children-ignored") {
      children.push(xml("nd", { id: SENSOR }, deep(r, context.maxDepth)));
      expect = OK;
    }
    const cancel = xml("cancel", { xmlns: r.pick(NAMESPACES), ...attrs }, ...children);
    return { mutation, probes: [{ stanza: iq(context, iqType(r), cancel), expect: gated(canRead(sender), expect) }] };
  },
};

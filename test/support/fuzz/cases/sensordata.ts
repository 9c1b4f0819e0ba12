// XEP-0323 sensor data: readout requests and their cancellation.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import { another, BAD_REQUEST, canRead, gated, hourAgo, iq, NODES, NOT_FOUND, NS, OK, OK_OR_BUSY, reply, SENSOR, type Context, type Expectation, type Face, type Probe, type Sender } from "./common.ts";
import { ATTRIBUTE_NAMES, deep, longString, oddString, WRONG_BOOLEANS, WRONG_DATES, WRONG_INTS } from "./hostile.ts";

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


export const readoutFace: Face = {
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
        // Ignored: XEP-0323 makes the request a hint, and clients add xml:lang, namespace declarations, tokens.
        Object.assign(attrs, r.pick([{ [r.pick(ATTRIBUTE_NAMES)]: oddString(r) }, { "xml:lang": r.pick(["en", "de-CH"]) }, { "xmlns:fuzz": "urn:fuzz:ext", "fuzz:hint": oddString(r) }]));
        expect = OK_OR_BUSY;
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

export const cancelFace: Face = {
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

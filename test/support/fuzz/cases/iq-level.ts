// Iq-level mutations (RFC 6120 §8.2.3): any iq face's stanza broken at the XMPP level.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";
import { BAD_REQUEST, NS, reply, UNKNOWN, type Context, type Probe } from "./common.ts";
import { MAX_STANZA_BYTES, oddString, serialize } from "./hostile.ts";

/** The iq routes the agent has: a payload re-namespaced onto one of these is not "unknown". */
const ROUTES = new Set([
  `get ${NS.ping} ping`,
  `get ${NS.discoInfo} query`,
  `get ${NS.discoItems} query`,
  `get ${NS.version} query`,
  `get ${NS.sensordata} req`,
  `get ${NS.sensordata} cancel`,
  ...[NS.nfSensordata, NS.ieeeSensordata].flatMap((ns) => ["get", "set"].flatMap((type) => [`${type} ${ns} req`, `${type} ${ns} cancel`])),
  `get ${NS.control} getForm`,
  `set ${NS.control} set`,
  `get ${NS.nfControl} getForm`,
  `set ${NS.nfControl} set`,
  `get ${NS.ieeeControl} getForm`,
  `set ${NS.ieeeControl} set`,
  `set ${NS.commands} command`,
  `set jabber:iq:roster query`,
]);

/** Breaks an iq at the XMPP level (RFC 6120 §8.2.3); the face's own rules never get to see it. */
export function iqLevel(r: Random, probe: Probe, type: "get" | "set", context: Context): { mutation: string; probe: Probe } | undefined {
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

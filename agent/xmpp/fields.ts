// XEP-0323 rendering of the reading model: the pubsub payload and (later) readout answers use the same one.
import { xml, type Element } from "./client.ts";
import { formatFieldValue, type Field, type Reading } from "../model.ts";

export const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

/** Element names per field type; `numeric` always carries a unit (the schema requires it, '' when none). */
function fieldElement(field: Field): Element {
  const attrs: Record<string, string> = { name: field.name, value: formatFieldValue(field) };
  if (field.type === "numeric") attrs.unit = field.unit;
  if (field.type === "int" && field.unit !== undefined) attrs.unit = field.unit;
  for (const [flag, on] of Object.entries(field.flags ?? {})) if (on) attrs[flag] = "true";
  attrs.automaticReadout = "true";
  return xml(field.type, attrs);
}

/** `<node nodeId><timestamp value>fields…</timestamp></node>` for one reading. */
export function nodeElement(reading: Pick<Reading, "sensorId" | "timestamp" | "fields">): Element {
  return xml(
    "node",
    { nodeId: reading.sensorId },
    xml("timestamp", { value: reading.timestamp.toISOString() }, ...reading.fields.map(fieldElement)),
  );
}

/** The pubsub payload of a reading (shared/interface.md): seqnr is the sensor's sequence number. */
export function readingPayload(reading: Reading): Element {
  return xml("fields", { xmlns: NS_SENSORDATA, seqnr: String(reading.seq), done: "true" }, nodeElement(reading));
}

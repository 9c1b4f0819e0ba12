// XEP-0323 rendering of the reading model: the pubsub payload and the readout answers use the same one.
import { xml, type Element } from "./client.ts";
import { formatFieldValue, type Field, type Reading } from "../../lib/model.ts";

export const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

export interface RenderOptions {
  /**
   * Readout answers: `int` goes out as `numeric` with a unit ('' when none), because slixmpp 1.8 silently drops
   * the types it does not know (int, long, date, time, duration); an integer written without decimals loses nothing.
   */
  portableTypes?: boolean;
  /** A field-type flag every field carries besides its own (a historical readout's historicalMinute, …). */
  extraFlag?: string;
}

/** Element names per field type; `numeric` always carries a unit (the schema requires it, '' when none). */
function fieldElement(field: Field, options: RenderOptions): Element {
  const attrs: Record<string, string> = { name: field.name, value: formatFieldValue(field) };
  const type = field.type === "int" && options.portableTypes ? "numeric" : field.type;
  if (field.type === "numeric") attrs.unit = field.unit;
  if (field.type === "int" && (field.unit !== undefined || type === "numeric")) attrs.unit = field.unit ?? "";
  for (const [flag, on] of Object.entries(field.flags ?? {})) if (on) attrs[flag] = "true";
  if (options.extraFlag) attrs[options.extraFlag] = "true";
  attrs.automaticReadout = "true";
  return xml(type, attrs);
}

/** `<node nodeId><timestamp value>fields…</timestamp></node>` for one reading. */
export function nodeElement(reading: Pick<Reading, "sensorId" | "timestamp" | "fields">, options: RenderOptions = {}): Element {
  return xml(
    "node",
    { nodeId: reading.sensorId },
    xml("timestamp", { value: reading.timestamp.toISOString() }, ...reading.fields.map((field) => fieldElement(field, options))),
  );
}

/** The pubsub payload of a reading (docs/protocols.md, Publishing readings): seqnr is the sensor's sequence number. */
export function readingPayload(reading: Reading): Element {
  return xml("fields", { xmlns: NS_SENSORDATA, seqnr: String(reading.seq), done: "true" }, nodeElement(reading));
}

// XEP-0323 rendering of the reading model: the pubsub payload and the readout answers use the same one.
import { xml, type Element } from "./client.ts";
import { formatFieldValue, type Field, type Reading, type TimestampQuality } from "../../lib/model.ts";

export const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

export interface RenderOptions {
  /**
   * Readout answers: `int` goes out as `numeric` with a unit ('' when none), because slixmpp 1.8 silently drops
   * the types it does not know (int, long, date, time, duration); an integer written without decimals loses nothing.
   * One within xs:int and without a unit goes out a second time, as `int`: Smack 4.4 reads no number type but
   * `int` (it drops `numeric`), so each of the two clients keeps exactly one of the pair.
   */
  portableTypes?: boolean;
  /** A field-type flag every field carries besides its own (a historical readout's historicalMinute, …). */
  extraFlag?: string;
}

/** The range of xs:int; xs:long is the same with 2 ** 63. */
const INT_BOUND = 2 ** 31;
const LONG_BOUND = 2 ** 63;

/** An xs:double: JavaScript writes the non-finite values Infinity and NaN, the schema INF, -INF and NaN. */
function xsDouble(value: number, decimals: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "INF" : "-INF";
  return value.toFixed(decimals);
}

/** Characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF, lone surrogates). */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/**
 * A string as XML can carry it: a device's text may hold a control character, and a stanza with one is not
 * well-formed, so the server would close the stream over it. Each such character becomes U+FFFD.
 */
export function xmlString(text: string): string {
  return text.replace(NOT_XML_CHAR, "\uFFFD");
}

interface TypedValue {
  element: "numeric" | "int" | "long" | "boolean" | "string";
  value: string;
  unit?: string;
}

/**
 * The element and the value as the schema wants them; strict clients (Smack) disconnect on an invalid value.
 * `int` is an xs:int without a unit: a whole number beyond it goes as `long`, one beyond xs:long or not finite as
 * `numeric`, and one with a unit as `numeric` too, the only element that carries a unit.
 */
function typedValue(field: Field, options: RenderOptions): TypedValue {
  switch (field.type) {
    case "numeric":
      return { element: "numeric", value: xsDouble(field.value, field.decimals), unit: field.unit };
    case "int": {
      const whole = Math.trunc(field.value);
      const fitsLong = whole >= -LONG_BOUND && whole < LONG_BOUND;
      if (options.portableTypes || field.unit !== undefined || !fitsLong) return { element: "numeric", value: xsDouble(whole, 0), unit: field.unit ?? "" };
      // BigInt writes every digit; String writes 2 ** 63 as 9223372036854776000, which is no xs:long.
      return { element: whole >= -INT_BOUND && whole < INT_BOUND ? "int" : "long", value: BigInt(whole).toString() };
    }
    case "boolean":
      return { element: "boolean", value: formatFieldValue(field) };
    case "string":
      return { element: "string", value: xmlString(field.value) };
  }
}

/** A whole number as xs:int, when it is one and has no unit (only `numeric` carries a unit). */
function plainInt(field: Field): TypedValue | undefined {
  if (field.type !== "int" || field.unit !== undefined) return undefined;
  const whole = Math.trunc(field.value);
  return whole >= -INT_BOUND && whole < INT_BOUND ? { element: "int", value: String(whole) } : undefined;
}

/**
 * The QoS flags of a timestamp that is not fully trusted (docs/protocols.md, Timestamps): `timeOffset` ("the
 * time was offset more than allowed and corrected during the measurement period") on every such reading, and
 * `warning` too on one whose timestamp could not be corrected. The value itself is read as always.
 */
function timestampFlags(quality: TimestampQuality | undefined): string[] {
  if (quality === "corrected") return ["timeOffset"];
  if (quality === "unsynced") return ["timeOffset", "warning"];
  return [];
}

/** A field's elements: one, or two in readout answers for a plain int (see RenderOptions.portableTypes). */
function fieldElements(field: Field, options: RenderOptions, qos: readonly string[]): Element[] {
  const elements = [fieldElement(field, typedValue(field, options), options, qos)];
  const int = options.portableTypes ? plainInt(field) : undefined;
  if (int) elements.push(fieldElement(field, int, options, qos));
  return elements;
}

/** One field element; `numeric` always carries a unit (the schema requires it, '' when none). */
function fieldElement(field: Field, { element, value, unit }: TypedValue, options: RenderOptions, qos: readonly string[]): Element {
  const attrs: Record<string, string> = { name: field.name, value };
  if (unit !== undefined) attrs.unit = unit;
  for (const [flag, on] of Object.entries(field.flags ?? {})) if (on) attrs[flag] = "true";
  if (options.extraFlag) attrs[options.extraFlag] = "true";
  attrs.automaticReadout = "true";
  for (const flag of qos) attrs[flag] = "true";
  return xml(element, attrs);
}

/** `<node nodeId><timestamp value>fields…</timestamp></node>` for one reading. */
export function nodeElement(reading: Pick<Reading, "sensorId" | "timestamp" | "fields" | "clock">, options: RenderOptions = {}): Element {
  const qos = timestampFlags(reading.clock);
  return xml(
    "node",
    { nodeId: reading.sensorId },
    xml("timestamp", { value: reading.timestamp.toISOString() }, ...reading.fields.flatMap((field) => fieldElements(field, options, qos))),
  );
}

/** The pubsub payload of a reading (docs/protocols.md, Publishing readings): seqnr is the sensor's sequence number. */
export function readingPayload(reading: Reading): Element {
  return xml("fields", { xmlns: NS_SENSORDATA, seqnr: String(reading.seq), done: "true" }, nodeElement(reading));
}

// The reading model in the successor dialect's field encoding (urn:nf:iot:sd:1.0 and urn:ieee:iot:sd:1.0):
// `<nd id><ts v>` around short field elements (docs/protocols.md, Sensor data in the nf dialect). The XEP-0323
// rendering is agent/xmpp/fields.ts; the two share only the reading model and the XML-safe string.
import { xml, type Element } from "./client.ts";
import { xmlString } from "./fields.ts";
import type { Field, FieldFlags, TimestampQuality } from "../../lib/model.ts";

export const NS_NF_SENSORDATA = "urn:nf:iot:sd:1.0";
export const NS_IEEE_SENSORDATA = "urn:ieee:iot:sd:1.0";
/** The two namespaces of the dialect: the same syntax, answered in the namespace that asked. */
export const NF_SENSORDATA_NAMESPACES = [NS_NF_SENSORDATA, NS_IEEE_SENSORDATA] as const;

/** The field-type flags, as the dialect writes them (one letter each). */
const TYPE_FLAGS: readonly [keyof FieldFlags, string][] = [
  ["momentary", "m"],
  ["identity", "i"],
  ["status", "s"],
  ["computed", "c"],
  ["peak", "p"],
];

const INT_BOUND = 2 ** 31;
const LONG_BOUND = 2 ** 63;

/**
 * A quantity's value: fixed decimals with a point, whatever the locale. Non-finite values are written as .NET
 * writes and parses them (`NaN`, `Infinity`, `-Infinity`), since the dialect's reference client reads `v` with
 * .NET's double parser.
 */
function quantityValue(value: number, decimals: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value.toFixed(decimals);
}

/** The element and its value attributes: `q` (v, u), `i` (xs:int), `l` (xs:long), `b`, `s`. */
function typedValue(field: Field): { element: string; v: string; u?: string } {
  switch (field.type) {
    case "numeric":
      return { element: "q", v: quantityValue(field.value, field.decimals), u: field.unit };
    case "int": {
      const whole = Math.trunc(field.value);
      // Only a quantity carries a unit; a whole number beyond xs:long (or not finite) is a quantity too.
      if (field.unit !== undefined || !(whole >= -LONG_BOUND && whole < LONG_BOUND)) return { element: "q", v: quantityValue(whole, 0), u: field.unit ?? "" };
      // BigInt writes every digit; String writes 2 ** 63 as 9223372036854776000.
      return { element: whole >= -INT_BOUND && whole < INT_BOUND ? "i" : "l", v: BigInt(whole).toString() };
    }
    case "boolean":
      return { element: "b", v: field.value ? "true" : "false" };
    case "string":
      return { element: "s", v: xmlString(field.value) };
  }
}

export interface NfFieldOptions {
  /** Stored or aggregated values: the dialect has one historical flag, `h`, for every period. */
  historical?: boolean;
  /**
   * A timestamp not fully trusted: `of` ("the internal clock is offset more than an allowed value") on every such
   * reading, and `w` (a warning) too on one whose timestamp could not be corrected.
   */
  clock?: TimestampQuality;
}

/**
 * One field: `n` the name, `ctr` when operators may set it, the field-type flags, the QoS flag `ar` (every value
 * here is read automatically), then `v` and, for a quantity, `u` (written even when empty, as the reference does).
 */
export function nfFieldElement(field: Field, options: NfFieldOptions = {}): Element {
  const { element, v, u } = typedValue(field);
  const attrs: Record<string, string> = { n: field.name };
  if (field.flags?.writable) attrs.ctr = "true";
  for (const [flag, letter] of TYPE_FLAGS) if (field.flags?.[flag]) attrs[letter] = "true";
  if (options.historical) attrs.h = "true";
  attrs.ar = "true";
  if (options.clock !== undefined) attrs.of = "true";
  if (options.clock === "unsynced") attrs.w = "true";
  attrs.v = v;
  if (u !== undefined) attrs.u = u;
  return xml(element, attrs);
}

/** `<nd id><ts v>fields…</ts></nd>` for one node at one time. */
export function nfNodeElement(nodeId: string, timestamp: Date, fields: readonly Field[], options: NfFieldOptions = {}): Element {
  return xml("nd", { id: nodeId }, xml("ts", { v: timestamp.toISOString() }, ...fields.map((field) => nfFieldElement(field, options))));
}

/** A node's error: `<nd id><ts v><err>text</err></ts></nd>` (an error text may quote a device, control characters included). */
export function nfErrorElement(nodeId: string, timestamp: Date, message: string): Element {
  return xml("nd", { id: nodeId }, xml("ts", { v: timestamp.toISOString() }, xml("err", {}, xmlString(message))));
}

// The one reading model. The pubsub payload, the XEP-0323 answer, the chat text and the
// ad-hoc form are renderings of these types; nothing here knows about XMPP.

/** Quality flags a field may carry (XEP-0323 field-type and QoS flags we use). */
export interface FieldFlags {
  momentary?: boolean;
  /** A minimum or maximum over a period (historical aggregates). */
  peak?: boolean;
  status?: boolean;
  identity?: boolean;
  computed?: boolean;
  writable?: boolean;
}

interface FieldBase {
  name: string;
  flags?: FieldFlags;
}

/** A measured quantity. `decimals` keeps the precision the sensor actually has ("21.50" ≠ "21.5"). */
export interface NumericField extends FieldBase {
  type: "numeric";
  value: number;
  unit: string;
  decimals: number;
}

export interface IntField extends FieldBase {
  type: "int";
  value: number;
  unit?: string;
}

export interface BooleanField extends FieldBase {
  type: "boolean";
  value: boolean;
}

export interface StringField extends FieldBase {
  type: "string";
  value: string;
}

export type Field = NumericField | IntField | BooleanField | StringField;

/** A quantity a sensor measured just now, as drivers report one. */
export function momentaryNumeric(name: string, value: number, unit: string, decimals: number): NumericField {
  return { name, type: "numeric", value, unit, decimals, flags: { momentary: true } };
}

/**
 * How far a reading's timestamp can be trusted, when not fully: `unsynced`, taken before the wall clock was known
 * to be synchronized and left as that clock said (it may be off by any amount); `corrected`, taken so but set
 * right afterwards from the monotonic clock, once the clock was synchronized.
 */
export type TimestampQuality = "unsynced" | "corrected";

/** One sample of one sensor. `seq` is the sensor's sequence number: from 1, +1 per reading, never reused. */
export interface Reading {
  sensorId: string;
  seq: number;
  timestamp: Date;
  /** Absent: taken while the wall clock was trusted. */
  clock?: TimestampQuality;
  fields: Field[];
  /** Set when the sensor could not be read; `fields` is then empty. */
  error?: string;
}

/** A reading before the store has given it a sequence number. */
export type Sample = Omit<Reading, "seq">;

/** The written form of a field's value, as it goes on the wire and into text. */
export function formatFieldValue(field: Field): string {
  switch (field.type) {
    case "numeric":
      return field.value.toFixed(field.decimals);
    case "int":
      return String(Math.trunc(field.value));
    case "boolean":
      return field.value ? "true" : "false";
    case "string":
      return field.value;
  }
}

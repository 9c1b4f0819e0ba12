// What the console reads from the agent's XEP-0323 rendering (the same in pubsub items and readout answers):
// nodes, their timestamps and typed fields. Pure functions, no DOM and no connection.
import type { Element } from "@xmpp/xml";

export const NS_SENSORDATA = "urn:xmpp:iot:sensordata";

export interface Field {
  name: string;
  /** A number for numeric, int and long fields; true/false for boolean; the text otherwise. */
  value: number | boolean | string;
  /** The value as the agent wrote it: with the sensor's precision (`21.50` is not `21.5`). */
  text: string;
  unit: string;
  /** A XEP-0325 parameter of this name exists (an actuator's state). */
  writable: boolean;
  /** The XEP-0323 element it came as: numeric, int, long, boolean, string, … */
  type: string;
}

export interface NodeReading {
  nodeId: string;
  /** Milliseconds since the epoch. */
  time: number;
  fields: Field[];
}

const NUMBERS = new Set(["numeric", "int", "long"]);

function fieldOf(element: Element): Field | undefined {
  const name = element.attrs["name"] as string | undefined;
  const text = element.attrs["value"] as string | undefined;
  if (name === undefined || text === undefined) return undefined;
  const writable = element.attrs["writable"] === "true";
  const unit = (element.attrs["unit"] as string | undefined) ?? "";
  const type = element.name;
  if (NUMBERS.has(type)) return { name, value: Number(text), text, unit, writable, type };
  if (type === "boolean") return { name, value: text === "true" || text === "1", text, unit, writable, type };
  return { name, value: text, text, unit, writable, type };
}

/**
 * The readings in one `<fields>` element. A whole number comes twice in readout answers (numeric, then an int
 * twin for clients that read only int): the first of a name per timestamp is kept.
 */
export function readingsOf(fields: Element): NodeReading[] {
  const readings: NodeReading[] = [];
  for (const node of fields.getChildren("node")) {
    const nodeId = node.attrs["nodeId"] as string | undefined;
    if (nodeId === undefined) continue;
    for (const stamp of node.getChildren("timestamp")) {
      const time = Date.parse(String(stamp.attrs["value"]));
      if (Number.isNaN(time)) continue;
      const seen = new Set<string>();
      const parsed: Field[] = [];
      for (const child of stamp.children) {
        if (typeof child === "string") continue;
        const field = fieldOf(child);
        if (field === undefined || seen.has(field.name)) continue;
        seen.add(field.name);
        parsed.push(field);
      }
      readings.push({ nodeId, time, fields: parsed });
    }
  }
  return readings;
}

/**
 * The XEP-0325 element that sets a writable field: its own type for int, long and boolean; a `numeric` value
 * (a double parameter, or an int one shown with its unit) as `double`, which the agent takes for an int parameter
 * too when the value is whole; anything else as `string`.
 */
export function controlType(field: Pick<Field, "type">): "boolean" | "int" | "long" | "double" | "string" {
  if (field.type === "boolean" || field.type === "int" || field.type === "long") return field.type;
  return field.type === "numeric" ? "double" : "string";
}

/** The node errors of a `<failure>` element: node id → text. */
export function failuresOf(failure: Element): Map<string, string> {
  const errors = new Map<string, string>();
  for (const error of failure.getChildren("error")) {
    const nodeId = error.attrs["nodeId"] as string | undefined;
    if (nodeId !== undefined) errors.set(nodeId, error.getText());
  }
  return errors;
}

/**
 * The active alerts the health line leads with (`2 alerts: tank rail above 80 V, tank rail above 50 V · …`),
 * and the rest of the line.
 */
export function alertsOf(health: string): string[] {
  const match = /^\d+ alerts?: ([^·]*)/.exec(health);
  if (match?.[1] === undefined) return [];
  return match[1].split(", ").map((alert) => alert.trim()).filter((alert) => alert !== "");
}

// What a device driver is, as the registry and the sampler see it.
import { z } from "zod";
import type { Field } from "../agent/model.ts";
import type { Hal } from "./hal.ts";

/** An opened sensor: one `read()` is one sample of all its fields. */
export interface SensorDevice {
  read(): Promise<Field[]>;
  /**
   * For event-driven sensors (a door contact, a pulse input): calls `onChange` when a new sample should be taken
   * now rather than at the next interval. Returns a function that stops watching.
   */
  watch?(onChange: () => void): () => void;
  close(): Promise<void>;
}

/**
 * A sensor driver as its folder defines it. `options` is the zod shape of the keys the driver adds to a
 * `sensors[]` entry (besides id, driver, interval); config validation and documentation both come from it.
 */
export interface SensorDriverDefinition<Shape extends z.ZodRawShape> {
  name: string;
  summary: string;
  options: Shape;
  open(hal: Hal, options: z.output<z.ZodObject<Shape>>): Promise<SensorDevice>;
}

/** The registry's type-erased view of a driver; options were validated against `options` by config. */
export interface SensorDriver {
  name: string;
  summary: string;
  options: z.ZodRawShape;
  open(hal: Hal, options: Record<string, unknown>): Promise<SensorDevice>;
}

export function defineSensorDriver<Shape extends z.ZodRawShape>(definition: SensorDriverDefinition<Shape>): SensorDriver {
  const schema = z.object(definition.options);
  return {
    name: definition.name,
    summary: definition.summary,
    options: definition.options,
    // Config has already validated these keys; parsing again restores their static type.
    open: (hal, options) => definition.open(hal, schema.parse(options)),
  };
}

/** The type of a value an actuator accepts (XEP-0325 parameter types). */
export type ParameterType = "boolean" | "int" | "double" | "string";
export type ParameterValue = boolean | number | string;

/** One settable parameter of an actuator, with what it accepts: control faces validate against this. */
export interface ParameterSpec {
  name: string;
  type: ParameterType;
  min?: number;
  max?: number;
  unit?: string;
  /** For "string": the accepted values, when they are a closed set. */
  options?: string[];
  description?: string;
}

/** An opened actuator (a relay, a valve). Opening drives its configured safe state; so does closing. */
export interface ActuatorDevice {
  readonly parameters: ParameterSpec[];
  /** The current state, as fields flagged writable. */
  read(): Promise<Field[]>;
  /** Applies values already validated against `parameters`, in order. */
  write(values: { name: string; value: ParameterValue }[]): Promise<void>;
  /** Drives the safe state, then releases the hardware. */
  close(): Promise<void>;
}

export interface ActuatorDriverDefinition<Shape extends z.ZodRawShape> {
  name: string;
  summary: string;
  options: Shape;
  open(hal: Hal, options: z.output<z.ZodObject<Shape>>): Promise<ActuatorDevice>;
}

export interface ActuatorDriver {
  name: string;
  summary: string;
  options: z.ZodRawShape;
  open(hal: Hal, options: Record<string, unknown>): Promise<ActuatorDevice>;
}

export function defineActuatorDriver<Shape extends z.ZodRawShape>(definition: ActuatorDriverDefinition<Shape>): ActuatorDriver {
  const schema = z.object(definition.options);
  return {
    name: definition.name,
    summary: definition.summary,
    options: definition.options,
    open: (hal, options) => definition.open(hal, schema.parse(options)),
  };
}

/** Shared option schemas, so every driver describes a bus address the same way (and errors read the same). */
export const i2cOptions = z
  .object({
    bus: z.number().int().min(0).max(255),
    address: z
      .number()
      .int()
      .refine((a) => a >= 0x03 && a <= 0x77, {
        error: (issue) => `expected 0x03..0x77, got ${formatHex(issue.input)}`,
      }),
  })
  .strict();

function formatHex(input: unknown): string {
  return typeof input === "number" ? `0x${input.toString(16).padStart(2, "0")}` : String(input);
}

// What a device driver is, as the registry and the sampler see it.
import { z } from "zod";
import type { Field } from "../agent/model.ts";
import type { Hal } from "./hal.ts";

/** An opened sensor: one `read()` is one sample of all its fields. */
export interface SensorDevice {
  read(): Promise<Field[]>;
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

// What a device driver is, as the registry and the sampler see it.
import * as z from "../lib/zod.ts";
import type { Field } from "../lib/model.ts";
import type { Hal } from "./hal.ts";
import { once } from "../lib/once.ts";

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
 * A driver as its folder defines it. `options` builds the zod shape of the keys the driver adds to its config entry
 * (besides the keys every entry has, such as id and driver); config validation and documentation both come from it.
 * It runs the first time the shape is asked for, so a config that names no such driver never builds its schemas.
 */
export interface DriverDefinition<Shape extends z.core.$ZodShape, Device> {
  name: string;
  summary: string;
  options: () => Shape;
  /** The field names a sensor's samples carry, when fixed: config checks the alert rules against them. */
  fields?: readonly string[];
  open(hal: Hal, options: z.output<z.ZodMiniObject<Shape>>): Promise<Device>;
}

/** The registry's type-erased view of a driver; options were validated against `options` by config. */
export interface Driver<Device> {
  name: string;
  summary: string;
  options: z.core.$ZodShape;
  fields?: readonly string[];
  open(hal: Hal, options: Record<string, unknown>): Promise<Device>;
}

export type SensorDriver = Driver<SensorDevice>;

/** An actuator driver also says, from its options alone, which state opening and closing drive. */
export interface ActuatorDriver extends Driver<ActuatorDevice> {
  /** The safe state in words (e.g. "off (GPIO 27 low)"): `xedge check` lists it without opening the device. */
  safeState?(options: Record<string, unknown>): string;
}

/** A driver as its folder exports it: the registry's view, with the static type of its option keys kept. */
export interface DefinedDriver<Shape extends z.core.$ZodShape, Device> extends Driver<Device> {
  options: Shape;
}

/** The options a driver's `open` receives, as its schema reads them (e.g. `DriverOptions<typeof bme280>`). */
export type DriverOptions<D extends { options: z.core.$ZodShape }> = z.output<z.ZodMiniObject<D["options"]>>;

/** A driver, and the parse of its option keys that it opens with, for a definer to reuse. */
function defineDriver<Shape extends z.core.$ZodShape, Device>(
  definition: DriverDefinition<Shape, Device>,
): { driver: DefinedDriver<Shape, Device>; parse: (options: Record<string, unknown>) => z.output<z.ZodMiniObject<Shape>> } {
  const shape = once(definition.options);
  const schema = once(() => z.object(shape()));
  // Config has already validated these keys; parsing again restores their static type.
  const parse = (options: Record<string, unknown>) => schema().parse(options);
  const driver: DefinedDriver<Shape, Device> = {
    name: definition.name,
    summary: definition.summary,
    get options() {
      return shape();
    },
    ...(definition.fields ? { fields: definition.fields } : {}),
    open: (hal, options) => definition.open(hal, parse(options)),
  };
  return { driver, parse };
}

/** A `sensors[]` driver. */
export function defineSensorDriver<Shape extends z.core.$ZodShape>(
  definition: DriverDefinition<Shape, SensorDevice>,
): DefinedDriver<Shape, SensorDevice> {
  return defineDriver(definition).driver;
}

/** An actuator's definition: a driver, and the safe state it drives, described from its options. */
export interface ActuatorDefinition<Shape extends z.core.$ZodShape> extends DriverDefinition<Shape, ActuatorDevice> {
  safeState(options: z.output<z.ZodMiniObject<Shape>>): string;
}

/** An `actuators[]` driver. */
export function defineActuatorDriver<Shape extends z.core.$ZodShape>(
  definition: ActuatorDefinition<Shape>,
): DefinedDriver<Shape, ActuatorDevice> & Required<Pick<ActuatorDriver, "safeState">> {
  const { driver, parse } = defineDriver(definition);
  // Assigned, not spread: a spread would read `options` and build the schemas now.
  return Object.assign(driver, { safeState: (options: Record<string, unknown>) => definition.safeState(parse(options)) });
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

/** Shared option schemas, so every driver describes a bus address the same way (and errors read the same). */
export const i2cOptions = z.strictObject({
  bus: z.number().check(z.int(), z.gte(0), z.lte(255)),
  address: z.number().check(
    z.int(),
    z.refine((a) => a >= 0x03 && a <= 0x77, {
      error: (issue) => `expected 0x03..0x77, got ${formatHex(issue.input)}`,
    }),
  ),
});

function formatHex(input: unknown): string {
  return typeof input === "number" ? `0x${input.toString(16).padStart(2, "0")}` : String(input);
}

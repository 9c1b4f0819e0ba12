// A microcontroller printing key=value or JSON lines on a serial port: the registry's card, what config validation
// needs. The device code, device.ts, is loaded when a config opens one.
import * as z from "../../lib/zod.ts";
import { durationMs, durationText } from "../duration-text.ts";
import { defineSensorDriver, type DriverOptions } from "../driver.ts";
import { once } from "../../lib/once.ts";
import { serialOptions } from "../serial-options.ts";

/** A key as a device prints it, and as a declared field names it. */
export const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const fieldSchema = once(() =>
  z.strictObject({
    name: z.string().check(z.regex(KEY, { message: "expected the key as the device prints it (letters, digits, _ . -)" })),
    type: z._default(z.enum(["numeric", "int", "boolean", "string"]), "numeric"),
    unit: z._default(z.string(), ""),
    decimals: z.optional(z.number().check(z.int(), z.gte(0), z.lte(10))),
  }));

export type FieldSpec = z.output<ReturnType<typeof fieldSchema>>;

export const serialLines = defineSensorDriver({
  name: "serial-lines",
  summary: "Microcontroller printing key=value or JSON lines on a serial port (Arduino, ESP32, Pico)",
  options: () => ({
    serial: serialOptions({ baudRate: 9600 }),
    format: z._default(z.enum(["kv", "json", "auto"]), "auto"),
    fields: z.optional(z.array(fieldSchema()).check(z.minLength(1))),
    /** A line older than this makes a reading an error (the sketch stopped, hung or was unplugged). */
    staleAfter: z._default(durationText("5s"), "5s"),
  }),
  open: async (hal, options) => {
    const { LineDevice } = await import("./device.ts");
    return LineDevice.open(hal, options.serial, options.format, options.fields, durationMs(options.staleAfter));
  },
});

export type SerialLinesOptions = DriverOptions<typeof serialLines>;

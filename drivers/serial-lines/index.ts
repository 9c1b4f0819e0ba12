// A microcontroller printing key=value or JSON lines on a serial port: the registry's card, what config validation
// needs. The device code, device.ts, is loaded when a config opens one.
import { z } from "zod";
import { durationMs, durationText } from "../duration-text.ts";
import { defineSensorDriver, type DriverOptions } from "../driver.ts";
import { once } from "../../lib/once.ts";
import { serialOptions } from "../serial-options.ts";

/** A key as a device prints it, and as a declared field names it. */
export const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const fieldSchema = once(() =>
  z
    .object({
      name: z.string().regex(KEY, { message: "expected the key as the device prints it (letters, digits, _ . -)" }),
      type: z.enum(["numeric", "int", "boolean", "string"]).default("numeric"),
      unit: z.string().default(""),
      decimals: z.number().int().min(0).max(10).optional(),
    })
    .strict());

export type FieldSpec = z.output<ReturnType<typeof fieldSchema>>;

export const serialLines = defineSensorDriver({
  name: "serial-lines",
  summary: "Microcontroller printing key=value or JSON lines on a serial port (Arduino, ESP32, Pico)",
  options: () => ({
    serial: serialOptions({ baudRate: 9600 }),
    format: z.enum(["kv", "json", "auto"]).default("auto"),
    fields: z.array(fieldSchema()).min(1).optional(),
    /** A line older than this makes a reading an error (the sketch stopped, hung or was unplugged). */
    staleAfter: durationText("5s").default("5s"),
  }),
  open: async (hal, options) => {
    const { LineDevice } = await import("./device.ts");
    return LineDevice.open(hal, options.serial, options.format, options.fields, durationMs(options.staleAfter));
  },
});

export type SerialLinesOptions = DriverOptions<typeof serialLines>;

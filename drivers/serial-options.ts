// The `serial:` option schema the serial drivers' cards share (config validation needs it at start; the device
// code in serial-util.ts is loaded only with a serial driver's device).
import * as z from "../lib/zod.ts";

/** The `serial:` key of a serial sensor; each driver passes its device class's usual settings as defaults. */
export function serialOptions(defaults: { baudRate: number; parity?: "none" | "even" | "odd"; stopBits?: 1 | 2 }) {
  return z.strictObject({
    path: z.string().check(z.regex(/^\/\S+$/, { message: "expected an absolute device path such as /dev/ttyUSB0 or /dev/serial0" })),
    baudRate: z._default(z.number().check(z.int(), z.gte(50), z.lte(4_000_000)), defaults.baudRate),
    dataBits: z._default(z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]), 8),
    parity: z._default(z.enum(["none", "even", "odd"]), defaults.parity ?? "none"),
    stopBits: z._default(z.union([z.literal(1), z.literal(2)]), defaults.stopBits ?? 1),
  });
}

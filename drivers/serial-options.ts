// The `serial:` option schema the serial drivers' cards share (config validation needs it at start; the device
// code in serial-util.ts is loaded only with a serial driver's device).
import { z } from "zod";

/** The `serial:` key of a serial sensor; each driver passes its device class's usual settings as defaults. */
export function serialOptions(defaults: { baudRate: number; parity?: "none" | "even" | "odd"; stopBits?: 1 | 2 }) {
  return z
    .object({
      path: z.string().regex(/^\/\S+$/, { message: "expected an absolute device path such as /dev/ttyUSB0 or /dev/serial0" }),
      baudRate: z.number().int().min(50).max(4_000_000).default(defaults.baudRate),
      dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
      parity: z.enum(["none", "even", "odd"]).default(defaults.parity ?? "none"),
      stopBits: z.union([z.literal(1), z.literal(2)]).default(defaults.stopBits ?? 1),
    })
    .strict();
}

// TI ADS1115 (16-bit ADC on I2C): the registry's card, what config validation needs. The device code, device.ts,
// is loaded when a config opens an ADS1115.
import * as z from "../../lib/zod.ts";
import { defineSensorDriver, i2cOptions } from "../driver.ts";
import { once } from "../../lib/once.ts";

/** Full-scale ranges (±V) in PGA[2:0] order, Table 8. */
export const GAINS = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256] as const;
/** Data rates (samples per second) in DR[2:0] order, Table 8. */
export const DATA_RATES = [8, 16, 32, 64, 128, 250, 475, 860] as const;
export type Gain = (typeof GAINS)[number];
export type DataRate = (typeof DATA_RATES)[number];

const channelSchema = once(() =>
  z.strictObject({
    /** AIN0..AIN3, measured against GND. */
    channel: z.number().check(z.int(), z.gte(0), z.lte(3)),
    /** The field name this channel is published under. */
    name: z.string().check(z.regex(/^[a-z][A-Za-z0-9]*$/, { message: "expected a lowerCamelCase field name such as tankLevel" })),
    /** Full-scale range in volts (the PGA setting). */
    gain: z._default(z.literal(GAINS), 4.096),
    dataRate: z._default(z.literal(DATA_RATES), 128),
    /** A linear unit: value = volts · factor + offset (a 4–20 mA transmitter, a voltage divider). */
    scale: z.optional(
      z.strictObject({
        unit: z.string().check(z.minLength(1)),
        factor: z.number().check(z.refine((factor) => Number.isFinite(factor) && factor !== 0, { message: "expected a non-zero number" })),
        offset: z._default(z.number(), 0),
      }),
    ),
  }));

export type ChannelConfig = z.output<ReturnType<typeof channelSchema>>;

export const ads1115 = defineSensorDriver({
  name: "ads1115",
  summary: "TI ADS1115 16-bit ADC on I2C (address 0x48..0x4b): input voltages (V) or a configured linear unit",
  options: () => ({
    i2c: i2cOptions,
    channels: z.array(channelSchema()).check(
      z.minLength(1),
      z.superRefine((channels, ctx) => {
        const seen = new Set<string>();
        channels.forEach((channel, index) => {
          if (seen.has(channel.name)) {
            ctx.addIssue({ code: "custom", path: [index, "name"], message: `"${channel.name}" is already used by another channel` });
          }
          seen.add(channel.name);
        });
      }),
    ),
  }),
  open: async (hal, options) => {
    const { Ads1115Device } = await import("./device.ts");
    return Ads1115Device.open(hal, options.i2c, options.channels);
  },
});

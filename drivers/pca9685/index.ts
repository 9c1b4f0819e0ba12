// NXP PCA9685 (16-channel PWM on I2C), one channel per actuator entry: the registry's card, what config
// validation and `xedge check` need (the options and the safe state in words). The device code, device.ts, is
// loaded when a config opens a channel.
import * as z from "../../lib/zod.ts";
import { defineActuatorDriver, i2cOptions } from "../driver.ts";

export const MAX_DUTY = 4095;
/** Steps of one PWM period. */
export const COUNTS = 4096;
export const MIN_FREQUENCY = 24;
export const MAX_FREQUENCY = 1526;

/** The output, in percent of the period, for a duty (4095 is full on). */
export function percentOf(duty: number): number {
  return duty === MAX_DUTY ? 100 : (duty / COUNTS) * 100;
}

/** The duty whose output is nearest to `percent`. */
export function dutyFor(percent: number): number {
  return Math.min(Math.round((percent / 100) * COUNTS), MAX_DUTY);
}

export const pca9685 = defineActuatorDriver({
  name: "pca9685",
  summary: "NXP PCA9685 16-channel 12-bit PWM on I2C (LED dimmer, servo board), one channel per entry: duty (int 0–4095), percent (double 0–100)",
  options: () => ({
    i2c: z.extend(i2cOptions, { address: z._default(i2cOptions.shape.address, 0x40) }),
    channel: z.number().check(z.int(), z.gte(0), z.lte(15)),
    /** The PWM frequency in Hz, shared by all channels of the chip. */
    frequency: z._default(z.number().check(z.gte(MIN_FREQUENCY), z.lte(MAX_FREQUENCY)), 1000),
    safeDuty: z._default(z.number().check(z.int(), z.gte(0), z.lte(MAX_DUTY)), 0),
  }),
  open: async (hal, { i2c, channel, frequency, safeDuty }) => {
    const { openPwmChannel } = await import("./device.ts");
    return openPwmChannel(hal, i2c, channel, frequency, safeDuty);
  },
  safeState: ({ channel, safeDuty }) => `channel ${channel} duty ${safeDuty} (${percentOf(safeDuty).toFixed(2)} %)`,
});

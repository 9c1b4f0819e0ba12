// Sensirion SHT3x (temperature, humidity on I2C): the registry's card, what config validation needs. The device
// code, device.ts, is loaded when a config opens an SHT3x.
import * as z from "../../lib/zod.ts";
import { defineSensorDriver, i2cOptions } from "../driver.ts";

export const sht3x = defineSensorDriver({
  name: "sht3x",
  summary: "Sensirion SHT30/SHT31/SHT35 temperature (°C) and humidity (%RH) sensor on I2C (address 0x44 or 0x45)",
  options: () => ({
    i2c: i2cOptions,
    /** Higher repeatability: less noise, longer measurement (max 15 / 6 / 4 ms). */
    repeatability: z.optional(z.enum(["high", "medium", "low"])),
  }),
  open: async (hal, options) => {
    const { Sht3xDevice } = await import("./device.ts");
    return Sht3xDevice.open(hal, options.i2c, options.repeatability ?? "high");
  },
});

// Bosch BME280 (temperature, humidity, pressure on I2C): the registry's card, what config validation needs. The
// device code, device.ts, is loaded when a config opens a BME280.
import * as z from "../../lib/zod.ts";
import { defineSensorDriver, i2cOptions } from "../driver.ts";
import { once } from "../../lib/once.ts";

const oversamplingSchema = once(() =>
  z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8), z.literal(16)]));
export type Oversampling = z.output<ReturnType<typeof oversamplingSchema>>;

/** Oversampling per quantity; the default ×1/×1/×1 is the data sheet's "weather monitoring" setting (§3.5.1). */
const oversamplingOptions = once(() =>
  z.strictObject({
    temperature: z._default(oversamplingSchema(), 1),
    pressure: z._default(oversamplingSchema(), 1),
    humidity: z._default(oversamplingSchema(), 1),
  }));

export const bme280 = defineSensorDriver({
  name: "bme280",
  summary: "Bosch BME280 temperature (°C), humidity (%RH) and pressure (hPa) sensor on I2C (address 0x76 or 0x77)",
  options: () => ({
    i2c: i2cOptions,
    oversampling: z.optional(oversamplingOptions()),
  }),
  fields: ["temperature", "humidity", "pressure"],
  open: async (hal, options) => {
    const { Bme280Device } = await import("./device.ts");
    return Bme280Device.open(hal, options.i2c, options.oversampling ?? { temperature: 1, pressure: 1, humidity: 1 });
  },
});

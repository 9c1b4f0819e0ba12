// Maxim DS18B20 (1-Wire thermometer through the kernel's w1 sysfs): the registry's card, what config validation
// needs. The device code, device.ts, is loaded when a config opens a DS18B20.
import * as z from "../../lib/zod.ts";
import { defineSensorDriver } from "../driver.ts";
import { durationMs, durationText } from "../duration-text.ts";

/** A DS18B20's id as /sys/bus/w1/devices lists it (family code 28). */
export const DS18B20_ID = /^28-[0-9a-f]{12}$/;

export const ds18b20 = defineSensorDriver({
  name: "ds18b20",
  summary: "Maxim DS18B20 1-Wire temperature sensor (°C), through the kernel's w1 sysfs (dtoverlay=w1-gpio, GPIO 4)",
  options: () => ({
    onewire: z._default(
      z.strictObject({
        device: z.optional(
          z.string().check(z.regex(DS18B20_ID, { message: "expected a DS18B20 id as listed in /sys/bus/w1/devices, such as 28-0316a2795aff" })),
        ),
        timeout: z._default(durationText("10s"), "10s"),
      }),
      { timeout: "10s" },
    ),
  }),
  open: async (hal, options) => {
    const { Ds18b20Device } = await import("./device.ts");
    return Ds18b20Device.open(hal, options.onewire.device, durationMs(options.onewire.timeout));
  },
});

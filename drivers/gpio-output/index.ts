// A relay or other on/off load on a GPIO output: the registry's card, what config validation and `xedge check`
// need (the options and the safe state in words). The device code, device.ts, is loaded when a config opens one.
import * as z from "../../lib/zod.ts";
import { defineActuatorDriver } from "../driver.ts";
import { gpioLineKeys, refuseSysfsBias } from "../gpio-line.ts";

export const gpioOutput = defineActuatorDriver({
  name: "gpio-output",
  summary: "Relay or other on/off load on a GPIO output; parameter state (boolean); safe state at start and shutdown",
  options: () => ({
    gpio: z.strictObject(gpioLineKeys).check(z.superRefine(refuseSysfsBias("out"))),
    safeState: z._default(z.enum(["off", "on"]), "off"),
  }),
  open: async (hal, { gpio: { pin, ...line }, safeState }) => {
    const { RelayOutput } = await import("./device.ts");
    return RelayOutput.open(hal, pin, line, safeState === "on");
  },
  safeState: ({ gpio, safeState }) => `${safeState} (GPIO ${gpio.pin} ${(safeState === "on") !== gpio.activeLow ? "high" : "low"})`,
});

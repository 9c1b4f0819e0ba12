// A digital input on a GPIO pin (contact state or pulse counter): the registry's card, what config validation
// needs. The device code, device.ts, is loaded when a config opens one.
import { z } from "zod";
import { defineSensorDriver } from "../driver.ts";
import { once } from "../../lib/once.ts";
import { durationMs, durationText } from "../duration-text.ts";
import { gpioLineKeys, refuseSysfsBias } from "../gpio-line.ts";
import type { InputLine } from "./device.ts";

const counterOptions = once(() =>
  z
    .object({
      /** What one pulse is worth, in `unit`: 0.2794 (mm) for a common rain gauge, 1/450 (L) for a 7.5 Hz per L/min flow meter. */
      perPulse: z.number().positive(),
      unit: z.string().min(1).max(16),
      per: z.enum(["s", "min", "h"]).default("min"),
      decimals: z.number().int().min(0).max(6).default(2),
    })
    .strict());

export type CounterOptions = z.output<ReturnType<typeof counterOptions>>;

export const gpioInput = defineSensorDriver({
  name: "gpio-input",
  summary: "Digital input on a GPIO pin: contact state (level) or pulse count and rate (counter), debounced",
  options: () => ({
    gpio: z
      .object({
        ...gpioLineKeys,
        /** level: which transitions trigger an immediate sample; counter: which transitions are pulses. */
        edge: z.enum(["none", "rising", "falling", "both"]).optional(),
        debounce: durationText("20ms", { allowZero: true }).default("20ms"),
      })
      .strict()
      .superRefine(refuseSysfsBias("in")),
    mode: z.enum(["level", "counter"]).default("level"),
    counter: counterOptions().optional(),
  }),
  open: async (hal, { gpio, mode, counter }) => {
    const { LevelInput, PulseCounter } = await import("./device.ts");
    const where = `gpio-input on GPIO ${gpio.pin}`;
    const line: InputLine = { pin: gpio.pin, activeLow: gpio.activeLow, bias: gpio.bias, backend: gpio.backend, debounceMs: durationMs(gpio.debounce) };
    if (mode === "level") {
      if (counter !== undefined) throw new Error(`${where}: the counter block only applies to mode: counter`);
      return LevelInput.open(hal, line, gpio.edge ?? "both");
    }
    const edge = gpio.edge ?? "rising";
    if (edge === "none") throw new Error(`${where}: mode: counter needs gpio.edge rising, falling or both (the transitions to count)`);
    return PulseCounter.open(hal, line, edge, counter);
  },
});

// A digital input on a GPIO pin (contact state or pulse counter): the registry's card, what config validation
// needs. The device code, device.ts, is loaded when a config opens one.
import * as z from "../../lib/zod.ts";
import { defineSensorDriver } from "../driver.ts";
import { once } from "../../lib/once.ts";
import { durationMs, durationText } from "../duration-text.ts";
import { gpioLineKeys, refuseSysfsBias } from "../gpio-line.ts";
import type { InputLine } from "./device.ts";

const counterOptions = once(() =>
  z.strictObject({
    /** What one pulse is worth, in `unit`: 0.2794 (mm) for a common rain gauge, 1/450 (L) for a 7.5 Hz per L/min flow meter. */
    perPulse: z.number().check(z.positive()),
    unit: z.string().check(z.minLength(1), z.maxLength(16)),
    per: z._default(z.enum(["s", "min", "h"]), "min"),
    decimals: z._default(z.number().check(z.int(), z.gte(0), z.lte(6)), 2),
  }));

export type CounterOptions = z.output<ReturnType<typeof counterOptions>>;

export const gpioInput = defineSensorDriver({
  name: "gpio-input",
  summary: "Digital input on a GPIO pin: contact state (level) or pulse count and rate (counter), debounced",
  options: () => ({
    gpio: z
      .strictObject({
        ...gpioLineKeys,
        /** level: which transitions trigger an immediate sample; counter: which transitions are pulses. */
        edge: z.optional(z.enum(["none", "rising", "falling", "both"])),
        debounce: z._default(durationText("20ms", { allowZero: true }), "20ms"),
      })
      .check(z.superRefine(refuseSysfsBias("in"))),
    mode: z._default(z.enum(["level", "counter"]), "level"),
    counter: z.optional(counterOptions()),
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

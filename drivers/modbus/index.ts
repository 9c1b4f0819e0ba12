// Modbus RTU devices on a serial port, read through a register map: the registry's card, what config validation
// needs. The device code, device.ts (and the RTU framing, rtu.ts), is loaded when a config opens one.
import * as z from "../../lib/zod.ts";
import { durationMs, durationText } from "../duration-text.ts";
import { defineSensorDriver } from "../driver.ts";
import { once } from "../../lib/once.ts";
import { serialOptions } from "../serial-options.ts";

/** Registers per value type. */
export const WORDS = { uint16: 1, int16: 1, uint32: 2, int32: 2, float32: 2 } as const;
export type RegisterType = keyof typeof WORDS;

const registerSchema = once(() =>
  z
    .strictObject({
      name: z.string().check(z.regex(/^[a-z][A-Za-z0-9]*$/, { message: "expected a lowerCamelCase field name such as activePower" })),
      function: z._default(z.enum(["holding", "input"]), "holding"),
      address: z.number().check(z.int(), z.gte(0), z.lte(0xffff)),
      type: z._default(z.enum(["uint16", "int16", "uint32", "int32", "float32"]), "uint16"),
      /** For 32-bit types: "big" = high word at the lower address (the Modbus convention), "little" = swapped. */
      wordOrder: z._default(z.enum(["big", "little"]), "big"),
      scale: z.optional(z.number().check(z.refine((s) => s !== 0 && Number.isFinite(s), { message: "must be a non-zero number" }))),
      unit: z._default(z.string(), ""),
      decimals: z.optional(z.number().check(z.int(), z.gte(0), z.lte(10))),
    })
    .check(z.refine((r) => r.address + WORDS[r.type] - 1 <= 0xffff, { message: "the register runs past address 65535" })));

export type RegisterSpec = z.output<ReturnType<typeof registerSchema>>;

export const modbus = defineSensorDriver({
  name: "modbus",
  summary: "Modbus RTU device (energy meter, PLC, RS-485 sensor) on a serial port: holding/input registers through a register map",
  options: () => ({
    // The serial line spec's default is even parity (8E1); many meters ship with 8N1 or 8N2: match the device.
    serial: serialOptions({ baudRate: 9600, parity: "even" }),
    unitId: z.number().check(z.int(), z.gte(1), z.lte(247)),
    timeout: z._default(durationText("1s"), "1s"),
    registers: z.array(registerSchema()).check(
      z.minLength(1),
      z.superRefine((registers, ctx) => {
        const seen = new Set<string>();
        registers.forEach((register, index) => {
          if (seen.has(register.name)) ctx.addIssue({ code: "custom", path: [index, "name"], message: `duplicate field name "${register.name}"` });
          seen.add(register.name);
        });
      }),
    ),
  }),
  open: async (hal, options) => {
    const { ModbusDevice } = await import("./device.ts");
    return ModbusDevice.open(hal, options.serial, options.unitId, durationMs(options.timeout), options.registers);
  },
});

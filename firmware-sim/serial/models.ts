// World models for the serial drivers: a configured nmea, modbus or serial-lines sensor gets a firmware program on
// a pseudo-terminal at its serial path. Sensors on the same path share the pty pair; modbus sensors with the same
// unit id on it share one slave (several register sets of one meter).
import { modbus, type RegisterSpec } from "../../drivers/modbus/index.ts";
import { nmea } from "../../drivers/nmea/index.ts";
import { serialLines, type SerialLinesOptions } from "../../drivers/serial-lines/index.ts";
import { simulate, type DeviceModel, type Placement } from "../model.ts";
import { SimGps } from "./gps.ts";
import { SimLinePrinter, type PrintedValue } from "./line-printer.ts";
import { SimModbusSlave } from "./modbus-slave.ts";
import { placeSimSerialPort, releaseSimSerialPort, type SimSerialPort } from "./pty.ts";

/** The fields a sketch prints: the configured ones, else what a typical climate sketch prints. */
type PrintedField = Pick<NonNullable<SerialLinesOptions["fields"]>[number], "name" | "type" | "unit">;

const slaves = new Map<SimSerialPort, Map<number, { slave: SimModbusSlave; users: number }>>();

export const serialSensorModels: Record<string, DeviceModel> = {
  ...simulate(nmea, async (_hal, { serial }) => {
    const port = await placeSimSerialPort(serial);
    const gps = new SimGps(port);
    gps.start();
    return {
      faults: gps,
      close: async () => {
        gps.stop();
        await releaseSimSerialPort(port);
      },
    };
  }),

  ...simulate(modbus, async (_hal, { serial, unitId, registers }, index) => {
    const port = await placeSimSerialPort(serial);
    const onPort = slaves.get(port) ?? new Map<number, { slave: SimModbusSlave; users: number }>();
    slaves.set(port, onPort);
    let entry = onPort.get(unitId);
    if (!entry) {
      entry = { slave: new SimModbusSlave(port, unitId), users: 0 };
      entry.slave.start();
      onPort.set(unitId, entry);
    }
    entry.users += 1;
    const { slave } = entry;
    const startedAt = Date.now();
    const drive = (nowMs: number) => {
      for (const register of registers) {
        const value = plausibleValue(register.name, register.unit, nowMs, startedAt, index);
        slave.setRegisters(register.function, register.address, encodeRegister(register, value));
      }
    };
    drive(Date.now());
    const placement: Placement = {
      faults: slave,
      drive,
      close: async () => {
        const current = onPort.get(unitId);
        if (current && --current.users === 0) {
          current.slave.stop();
          onPort.delete(unitId);
        }
        if (onPort.size === 0) slaves.delete(port);
        await releaseSimSerialPort(port);
      },
    };
    return placement;
  }),

  ...simulate(serialLines, async (_hal, { serial, format, fields }, index) => {
    const port = await placeSimSerialPort(serial);
    const declared: PrintedField[] = fields ?? [
      { name: "temp", type: "numeric", unit: "°C" },
      { name: "hum", type: "numeric", unit: "%RH" },
    ];
    const printer = new SimLinePrinter(port, { format: format === "json" ? "json" : "kv" });
    const startedAt = Date.now();
    const drive = (nowMs: number) => {
      const values: Record<string, PrintedValue> = {};
      for (const field of declared) {
        const value = plausibleValue(field.name, field.unit, nowMs, startedAt, index);
        values[field.name] =
          field.type === "boolean" ? Math.sin(nowMs / 20_000) > 0 : field.type === "string" ? "ok" : field.type === "int" ? Math.round(value) : value;
      }
      printer.setValues(values);
    };
    drive(Date.now());
    printer.start();
    return {
      faults: printer,
      drive,
      close: async () => {
        printer.stop();
        await releaseSimSerialPort(port);
      },
    };
  }),
};

/** A value that moves plausibly for what the name or unit says the quantity is. */
export function plausibleValue(name: string, unit: string, nowMs: number, startedAt: number, index: number): number {
  const key = `${name} ${unit}`.toLowerCase();
  const wave = Math.sin(nowMs / 60_000 + index * 1.3);
  const hours = (nowMs - startedAt) / 3_600_000;
  if (/energy|kwh|wh\b/.test(key)) return 12_345.6 + hours * 1.15;
  if (/volt|\bv\b/.test(key)) return 230 + 3 * wave;
  if (/current|amp|\ba\b/.test(key)) return 5 + 2 * wave;
  if (/factor|\bpf\b|cos/.test(key)) return 0.95 + 0.03 * wave;
  if (/power|\bkw\b|\bw\b/.test(key)) return (/\bkw\b/.test(key) ? 1.15 : 1150) + (/\bkw\b/.test(key) ? 0.4 : 400) * wave;
  if (/freq|hz/.test(key)) return 50 + 0.02 * wave;
  if (/hum|%rh/.test(key)) return 45 + 10 * wave;
  if (/temp|°c/.test(key)) return 21 + 3 * wave;
  return 100 + 10 * wave;
}

/** The register image (big-endian registers) of a value as the configured type, scale and word order describe it. */
function encodeRegister(register: RegisterSpec, value: number): Buffer {
  const raw = value / (register.scale ?? 1);
  const bytes = Buffer.alloc(register.type === "uint16" || register.type === "int16" ? 2 : 4);
  const clamp = (min: number, max: number) => Math.min(max, Math.max(min, Math.round(raw)));
  switch (register.type) {
    case "uint16":
      bytes.writeUInt16BE(clamp(0, 0xffff));
      return bytes;
    case "int16":
      bytes.writeInt16BE(clamp(-0x8000, 0x7fff));
      return bytes;
    case "uint32":
      bytes.writeUInt32BE(clamp(0, 0xffffffff));
      break;
    case "int32":
      bytes.writeInt32BE(clamp(-0x80000000, 0x7fffffff));
      break;
    case "float32":
      bytes.writeFloatBE(raw);
      break;
  }
  return register.wordOrder === "little" ? Buffer.concat([bytes.subarray(2), bytes.subarray(0, 2)]) : bytes;
}

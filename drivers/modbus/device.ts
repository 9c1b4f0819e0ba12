// Modbus RTU devices (energy meters, PLCs, RS-485 sensors) read through a register map in the config: holding
// registers (function 0x03) and input registers (0x04) as uint16/int16/uint32/int32/float32, scaled, with units.
// Registers that are consecutive are fetched together (up to 125 per request, the protocol's limit); a gap starts
// a new request, because devices answer "illegal data address" for unmapped registers in between.
import type { Field } from "../../lib/model.ts";
import type { SensorDevice } from "../driver.ts";
import { HardwareAccessError, type Hal } from "../hal.ts";
import type { SerialSettings } from "../serial-util.ts";
import { WORDS, type RegisterSpec, type RegisterType } from "./index.ts";
import { ModbusBus, ModbusError } from "./rtu.ts";

/** Registers per read request (application protocol §6.3/§6.4: 1 to 125). */
export const MAX_REGISTERS_PER_REQUEST = 125;

/** One read request and the registers it carries. */
export interface PlannedRequest {
  function: "holding" | "input";
  address: number;
  quantity: number;
  registers: RegisterSpec[];
}

/** Groups the register map into as few requests as possible: consecutive or overlapping registers, ≤ 125 each. */
export function planRequests(registers: RegisterSpec[]): PlannedRequest[] {
  const requests: PlannedRequest[] = [];
  for (const bank of ["holding", "input"] as const) {
    const sorted = registers.filter((r) => r.function === bank).sort((a, b) => a.address - b.address);
    let current: PlannedRequest | undefined;
    for (const register of sorted) {
      const end = register.address + WORDS[register.type];
      const currentEnd = current ? current.address + current.quantity : -1;
      if (current && register.address <= currentEnd && Math.max(end, currentEnd) - current.address <= MAX_REGISTERS_PER_REQUEST) {
        current.quantity = Math.max(end, currentEnd) - current.address;
        current.registers.push(register);
      } else {
        current = { function: bank, address: register.address, quantity: WORDS[register.type], registers: [register] };
        requests.push(current);
      }
    }
  }
  return requests;
}

/** The value of one register (pair) from the bytes a read returned, before scaling. */
export function decodeRegister(data: Buffer, offset: number, type: RegisterType, wordOrder: "big" | "little"): number {
  if (type === "uint16") return data.readUInt16BE(offset);
  if (type === "int16") return data.readInt16BE(offset);
  // Registers are big-endian; the word order of 32-bit values is the device's choice.
  const words = wordOrder === "big" ? data.subarray(offset, offset + 4) : Buffer.concat([data.subarray(offset + 2, offset + 4), data.subarray(offset, offset + 2)]);
  if (type === "uint32") return words.readUInt32BE(0);
  if (type === "int32") return words.readInt32BE(0);
  return words.readFloatBE(0);
}

/** Decimals that show a scaled value's resolution: scale 0.1 → 1, 0.01 → 2, 10 → 0. */
function decimalsForScale(scale: number): number {
  return Math.max(0, -Math.floor(Math.log10(Math.abs(scale)) + 1e-9));
}

/** The field for one decoded register: an int without scale or decimals, a numeric value otherwise. */
export function registerField(register: RegisterSpec, raw: number): Field {
  const flags = { momentary: true };
  const integral = register.type !== "float32";
  if (integral && register.scale === undefined && register.decimals === undefined) {
    return { name: register.name, type: "int", value: raw, ...(register.unit ? { unit: register.unit } : {}), flags };
  }
  const decimals = register.decimals ?? (register.scale !== undefined ? decimalsForScale(register.scale) : integral ? 0 : 2);
  return { name: register.name, type: "numeric", value: raw * (register.scale ?? 1), unit: register.unit, decimals, flags };
}

export class ModbusDevice implements SensorDevice {
  private closed = false;
  private readonly requests: PlannedRequest[];
  private readonly names: string[];

  private constructor(
    private readonly hal: Hal,
    private readonly bus: ModbusBus,
    private readonly unitId: number,
    private readonly timeoutMs: number,
    registers: RegisterSpec[],
  ) {
    this.requests = planRequests(registers);
    this.names = registers.map((r) => r.name);
  }

  static async open(hal: Hal, settings: SerialSettings, unitId: number, timeoutMs: number, registers: RegisterSpec[]): Promise<ModbusDevice> {
    try {
      return new ModbusDevice(hal, await ModbusBus.acquire(hal, settings), unitId, timeoutMs, registers);
    } catch (error) {
      if (error instanceof HardwareAccessError) throw error;
      throw new Error(`modbus unit ${unitId} on ${settings.path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  private get where(): string {
    return `modbus unit ${this.unitId} on ${this.bus.path}`;
  }

  async read(): Promise<Field[]> {
    if (this.closed) throw new Error(`${this.where}: device is closed`);
    const values = new Map<string, Field>();
    for (const request of this.requests) {
      const functionCode = request.function === "holding" ? 0x03 : 0x04;
      const range = `${request.function} registers ${request.address}..${request.address + request.quantity - 1}`;
      let data: Buffer;
      try {
        data = await this.bus.readRegisters(this.unitId, functionCode, request.address, request.quantity, this.timeoutMs);
      } catch (error) {
        throw this.describeError(error, range);
      }
      for (const register of request.registers) {
        const raw = decodeRegister(data, (register.address - request.address) * 2, register.type, register.wordOrder);
        if (!Number.isFinite(raw)) {
          throw new Error(`${this.where}: ${register.name} (${request.function} register ${register.address}) reads ${raw}: the device has no value for it`);
        }
        values.set(register.name, registerField(register, raw));
      }
    }
    // Fields in the order the config lists the registers.
    return this.names.flatMap((name) => values.get(name) ?? []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bus.release(this.hal);
  }

  private describeError(error: unknown, range: string): Error {
    if (error instanceof HardwareAccessError) return error;
    const message = error instanceof Error ? error.message : String(error);
    const settings = this.bus.settings;
    const hint =
      error instanceof ModbusError && message.startsWith("no answer")
        ? `: check unitId ${this.unitId}, ${settings.baudRate} baud ${settings.dataBits}${settings.parity[0]?.toUpperCase() ?? "N"}${settings.stopBits} ` +
          "as set on the device, and the RS-485 wiring (swap A and B if nothing ever answers)"
        : "";
    return new Error(`${this.where}: reading ${range}: ${message}${hint}`, { cause: error });
  }
}

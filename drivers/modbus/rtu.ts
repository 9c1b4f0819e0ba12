// Modbus RTU master on one serial port (MODBUS over Serial Line V1.02, application protocol V1.1b3): frames with
// CRC-16, t3.5 inter-frame silence, one transaction in flight per port. Sensors on the same RS-485 bus (several
// meters, one adapter) share one ModbusBus, whose queue serialises their requests.
import { setTimeout as sleep } from "node:timers/promises";
import type { Hal } from "../hal.ts";
import { modbusFrameSilenceMs, ReopeningSerialLink, type SerialSettings } from "../serial-util.ts";

/** Exception codes (application protocol §7) and what they mean for the person configuring the register map. */
export const EXCEPTIONS: Record<number, string> = {
  0x01: "illegal function (the device does not support this function code)",
  0x02: "illegal data address (a register in this range does not exist on the device: check the register map)",
  0x03: "illegal data value (the device refuses this quantity of registers)",
  0x04: "server device failure (the device failed while reading the registers)",
  0x05: "acknowledge (the device accepted a long-running request)",
  0x06: "server device busy (try again later)",
  0x08: "memory parity error",
  0x0a: "gateway path unavailable",
  0x0b: "gateway target device failed to respond",
};

/** A Modbus exception response, or a frame that could not be used; `code` is set for exception responses. */
export class ModbusError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = "ModbusError";
  }
}

/** CRC-16/MODBUS (reflected polynomial 0xA001, initial value 0xFFFF); sent low byte first. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** A read request (0x03 or 0x04) as an RTU frame. */
export function readRequest(unitId: number, functionCode: number, address: number, quantity: number): Buffer {
  const frame = Buffer.alloc(8);
  frame.writeUInt8(unitId, 0);
  frame.writeUInt8(functionCode, 1);
  frame.writeUInt16BE(address, 2);
  frame.writeUInt16BE(quantity, 4);
  frame.writeUInt16LE(crc16(frame.subarray(0, 6)), 6);
  return frame;
}

/** Bytes the answer will have once its header has arrived, or undefined while it cannot tell (or never will). */
function expectedLength(frame: Buffer, unitId: number, functionCode: number): number | undefined {
  if (frame.length < 3 || frame[0] !== unitId) return undefined;
  if (frame[1] === (functionCode | 0x80)) return 5;
  if (frame[1] === functionCode) return 3 + (frame[2] ?? 0) + 2;
  return undefined;
}

/** Checks a complete answer to a read request and returns its register bytes. */
export function parseReadResponse(frame: Buffer, unitId: number, functionCode: number, quantity: number): Buffer {
  const bytes = hexBytes(frame);
  if (frame.length < 5) throw new ModbusError(`answer too short (${frame.length} bytes: ${bytes})`);
  const crc = frame.readUInt16LE(frame.length - 2);
  const computed = crc16(frame.subarray(0, -2));
  if (crc !== computed) {
    throw new ModbusError(`CRC mismatch: frame carries ${hex4(crc)}, computed ${hex4(computed)} (${bytes}); noise on the line or a wrong baud rate/parity`);
  }
  if (frame[0] !== unitId) throw new ModbusError(`answer from unit ${frame[0]} while unit ${unitId} was asked (${bytes}): two devices share this unit id?`);
  if (frame[1] === (functionCode | 0x80)) {
    const code = frame[2] ?? 0;
    throw new ModbusError(`exception ${hex2(code)}: ${EXCEPTIONS[code] ?? "unknown exception code"}`, code);
  }
  if (frame[1] !== functionCode) throw new ModbusError(`answer with function ${hex2(frame[1] ?? 0)} to a ${hex2(functionCode)} request (${bytes})`);
  const byteCount = frame[2] ?? 0;
  if (byteCount !== quantity * 2 || frame.length !== 5 + byteCount) {
    throw new ModbusError(`answer carries ${byteCount} data bytes for ${quantity} registers (${bytes})`);
  }
  return frame.subarray(3, 3 + byteCount);
}

interface Pending {
  unitId: number;
  functionCode: number;
  received: Buffer;
  done: (frame: Buffer) => void;
  fail: (error: Error) => void;
}

/** One serial port with Modbus devices on it. */
export class ModbusBus {
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | undefined;
  private lastActivity = 0;
  private readonly silenceMs: number;
  private users = 0;

  private constructor(
    private readonly link: ReopeningSerialLink,
    readonly settings: SerialSettings,
  ) {
    this.silenceMs = modbusFrameSilenceMs(settings);
    link.onData((chunk) => this.receive(chunk));
    link.onLost((error) => this.pending?.fail(error));
  }

  private static readonly buses = new WeakMap<Hal, Map<string, Promise<ModbusBus>>>();

  /** The bus on `settings.path`, opened by the first sensor on it and shared with the next ones. */
  static async acquire(hal: Hal, settings: SerialSettings): Promise<ModbusBus> {
    let byPath = ModbusBus.buses.get(hal);
    if (!byPath) {
      byPath = new Map();
      ModbusBus.buses.set(hal, byPath);
    }
    let opening = byPath.get(settings.path);
    if (!opening) {
      // Registered before the port is open, so sensors opened at the same time share it instead of racing for it.
      opening = ReopeningSerialLink.open(hal, settings).then((link) => new ModbusBus(link, settings));
      byPath.set(settings.path, opening);
      opening.catch(() => byPath.delete(settings.path));
    }
    const bus = await opening;
    const a = bus.settings;
    if (a.baudRate !== settings.baudRate || a.parity !== settings.parity || a.stopBits !== settings.stopBits || a.dataBits !== settings.dataBits) {
      throw new Error(
        `${settings.path} is already used by another modbus sensor at ${describeSettings(a)}; all devices on one bus ` +
          `must use the same settings (this one asks for ${describeSettings(settings)})`,
      );
    }
    bus.users += 1;
    return bus;
  }

  get path(): string {
    return this.settings.path;
  }

  /** Lets go of the bus; the last sensor closes the port. */
  async release(hal: Hal): Promise<void> {
    this.users -= 1;
    if (this.users > 0) return;
    ModbusBus.buses.get(hal)?.delete(this.path);
    await this.queue;
    await this.link.close();
  }

  /** Reads `quantity` registers; runs after every transaction queued before it on this port. */
  readRegisters(unitId: number, functionCode: 0x03 | 0x04, address: number, quantity: number, timeoutMs: number): Promise<Buffer> {
    const result = this.queue.then(async () => {
      const frame = await this.transact(readRequest(unitId, functionCode, address, quantity), unitId, functionCode, timeoutMs);
      return parseReadResponse(frame, unitId, functionCode, quantity);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async transact(request: Buffer, unitId: number, functionCode: number, timeoutMs: number): Promise<Buffer> {
    // t3.5 of silence before a request, so a late or garbled answer to the previous one is over and discarded.
    for (let quiet = performance.now() - this.lastActivity; quiet < this.silenceMs; quiet = performance.now() - this.lastActivity) {
      await sleep(Math.ceil(this.silenceMs - quiet));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        const got = this.pending?.received ?? Buffer.alloc(0);
        this.pending = undefined;
        const wanted = expectedLength(got, unitId, functionCode);
        if (got.length === 0) reject(new ModbusError(`no answer within ${timeoutMs} ms`));
        else if (wanted !== undefined) reject(new ModbusError(`answer cut short: ${got.length} of ${wanted} bytes within ${timeoutMs} ms (${hexBytes(got)})`));
        else reject(new ModbusError(`garbled answer: ${got.length} byte(s) that are not a frame from unit ${unitId} (${hexBytes(got)}); check baud rate, parity and wiring`));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.pending = undefined;
      };
      this.pending = {
        unitId,
        functionCode,
        received: Buffer.alloc(0),
        done: (frame) => {
          settle();
          resolve(frame);
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      this.link.write(request).then(
        () => {
          this.lastActivity = performance.now();
        },
        (error: unknown) => this.pending?.fail(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }

  private receive(chunk: Buffer): void {
    this.lastActivity = performance.now();
    const pending = this.pending;
    if (!pending) return; // not an answer to anything: a late reply or line noise
    pending.received = Buffer.concat([pending.received, chunk]);
    const wanted = expectedLength(pending.received, pending.unitId, pending.functionCode);
    if (wanted !== undefined && pending.received.length >= wanted) pending.done(pending.received.subarray(0, wanted));
    else if (pending.received.length >= 256) pending.done(pending.received); // longer than any RTU frame: let parsing say why
  }
}

function describeSettings(s: SerialSettings): string {
  return `${s.baudRate} ${s.dataBits}${s.parity[0]?.toUpperCase() ?? "N"}${s.stopBits}`;
}

function hexBytes(frame: Buffer): string {
  const shown = [...frame.subarray(0, 32)].map(hex2).join(" ");
  return frame.length > 32 ? `${shown} …` : shown;
}

function hex2(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, "0");
}

function hex4(value: number): string {
  return `0x${value.toString(16).toUpperCase().padStart(4, "0")}`;
}

// A Modbus RTU slave (an energy meter, a PLC) on a simulated RS-485 bus: answers 0x03 (holding registers) and
// 0x04 (input registers) from its register banks, with exception responses for unknown functions, unmapped
// addresses and bad quantities. Frames are found by t3.5 silence, as a slave's UART interrupt handler does.
// Several slaves may share one port (multi-drop): each answers only its own unit id and ignores broadcasts.
// Faults: garbage, truncated, crc, slow, stuck (registers frozen), unplug (this slave falls silent: the meter is
// off the bus; other slaves on the port keep answering).
import { randomBytes } from "node:crypto";
import { modbusFrameSilenceMs, SilenceFramer } from "../../drivers/serial-util.ts";
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimSerialPort } from "./pty.ts";

export type RegisterBank = "holding" | "input";

/** Exception codes of the Modbus application protocol (V1.1b3 §7). */
export const EXCEPTION = {
  illegalFunction: 0x01,
  illegalDataAddress: 0x02,
  illegalDataValue: 0x03,
  serverDeviceFailure: 0x04,
  serverDeviceBusy: 0x06,
  gatewayTargetFailedToRespond: 0x0b,
} as const;

/** The largest quantity one 0x03/0x04 request may ask for. */
const MAX_QUANTITY = 125;
/** An RTU frame is at most 256 bytes. */
const MAX_FRAME = 256;

export class SimModbusSlave implements Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["garbage", "truncated", "crc", "slow", "stuck", "unplug"];
  private readonly banks: Record<RegisterBank, Map<number, number>> = { holding: new Map(), input: new Map() };
  private frozen: Record<RegisterBank, Map<number, number>> | undefined;
  private fault: Fault | null = null;
  private framer: SilenceFramer | undefined;
  private stopListening: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** When set, every request is answered with this exception code (a device reporting a failure). */
  forcedException: number | null = null;
  /** Request frames addressed to this slave that arrived with a valid CRC. */
  requests = 0;

  constructor(
    private readonly port: SimSerialPort,
    readonly unitId: number,
  ) {}

  start(): void {
    const settings = { dataBits: 8 as const, parity: "none" as const, stopBits: 1 as const, ...this.port.settings };
    this.framer = new SilenceFramer(modbusFrameSilenceMs(settings), MAX_FRAME, (frame) => this.handle(frame));
    this.stopListening = this.port.onData((chunk) => this.framer?.push(chunk));
  }

  stop(): void {
    this.stopListening?.();
    this.framer?.stop();
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
  }

  setRegister(bank: RegisterBank, address: number, value: number): void {
    this.banks[bank].set(address, value & 0xffff);
  }

  /** Writes consecutive registers from a big-endian byte image (two bytes per register). */
  setRegisters(bank: RegisterBank, address: number, bytes: Buffer): void {
    for (let i = 0; i + 1 < bytes.length; i += 2) this.setRegister(bank, address + i / 2, bytes.readUInt16BE(i));
  }

  setFault(fault: Fault | null): void {
    this.fault = fault;
    this.frozen =
      fault?.kind === "stuck" ? { holding: new Map(this.banks.holding), input: new Map(this.banks.input) } : undefined;
  }

  private handle(frame: Buffer): void {
    // Too short, a bad CRC or another unit id: a slave discards the frame without answering (serial line §2.4.1).
    if (frame.length < 4 || crc16(frame.subarray(0, -2)) !== frame.readUInt16LE(frame.length - 2)) return;
    if (frame[0] !== this.unitId) return;
    this.requests += 1;
    if (this.fault?.kind === "unplug") return;
    this.reply(this.answer(frame.subarray(0, -2)));
  }

  /** The response PDU (without CRC) for a request PDU. */
  private answer(request: Buffer): Buffer {
    const functionCode = request[1] ?? 0;
    const exception = (code: number) => Buffer.from([this.unitId, functionCode | 0x80, code]);
    if (this.forcedException !== null) return exception(this.forcedException);
    if (functionCode !== 0x03 && functionCode !== 0x04) return exception(EXCEPTION.illegalFunction);
    if (request.length !== 6) return exception(EXCEPTION.illegalDataValue);
    const address = request.readUInt16BE(2);
    const quantity = request.readUInt16BE(4);
    if (quantity < 1 || quantity > MAX_QUANTITY) return exception(EXCEPTION.illegalDataValue);
    const bank = (this.frozen ?? this.banks)[functionCode === 0x03 ? "holding" : "input"];
    const data = Buffer.alloc(quantity * 2);
    for (let i = 0; i < quantity; i++) {
      const value = bank.get(address + i);
      if (value === undefined) return exception(EXCEPTION.illegalDataAddress);
      data.writeUInt16BE(value, i * 2);
    }
    return Buffer.concat([Buffer.from([this.unitId, functionCode, data.length]), data]);
  }

  private reply(pdu: Buffer): void {
    let frame = withCrc(pdu);
    switch (this.fault?.kind) {
      case "garbage":
        frame = randomBytes(frame.length);
        break;
      case "truncated":
        frame = frame.subarray(0, Math.max(1, frame.length - 3));
        break;
      case "crc":
        frame[frame.length - 1] = (frame[frame.length - 1] ?? 0) ^ 0xff;
        break;
    }
    const delayMs = this.fault?.kind === "slow" ? (this.fault.delayMs ?? 2000) : 0;
    if (delayMs === 0) {
      void this.port.write(frame);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.port.write(frame);
    }, delayMs);
    this.timers.add(timer);
  }
}

/** CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF. */
export function crc16(bytes: Buffer): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** The frame with its CRC appended, low byte first. */
export function withCrc(pdu: Buffer): Buffer {
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(pdu));
  return Buffer.concat([pdu, crc]);
}

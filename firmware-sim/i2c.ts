// A simulated I2C bus. Chip models attach at a 7-bit address and see what a chip sees on the wire:
// the bytes the master writes (first byte usually a register pointer) and requests to read N bytes.
// Register-style transfers are built from those two primitives exactly as SMBus/i2c-dev builds them,
// so a chip model never knows whether it was spoken to with readByte, readBlock or a plain read.
//
// Errors look like the ones i2c-bus (through Linux i2c-dev) gives on a Raspberry Pi:
// a missing device or an address NACK rejects with code "EREMOTEIO" ("Remote I/O error", errno 121),
// a bus error with "EIO" ("Input/output error", errno 5), a transfer that outlasts the adapter's
// timeout with "ETIMEDOUT" (errno 110).
import { setTimeout as sleep } from "node:timers/promises";
import type { I2cBus } from "../drivers/hal.ts";

/** What a chip model answers instead of data or acceptance when it does not acknowledge. */
export const NACK = "nack";

/** What a chip model implements: one I2C target as seen on the wire. */
export interface SimI2cDevice {
  /**
   * The master wrote `data` in one transaction (START, address+W, bytes, STOP or repeated START).
   * NACK: the chip did not acknowledge (busy, or a command it rejects).
   */
  write(data: Buffer): void | typeof NACK;
  /**
   * The master reads `length` bytes in one transaction (address+R, `length` bytes, NACK, STOP).
   * NACK: the chip did not acknowledge the read header (e.g. an SHT3x with no result ready yet).
   * Fewer bytes than asked: the rest reads as 0xFF (SDA left high).
   */
  read(length: number): Buffer | typeof NACK;
  /** Power was removed and restored (replugged after an "unplug" fault): back to the power-on state. */
  powerCycle?(): void;
}

/**
 * A fault the bus applies to one address before the chip model is reached, so models stay unaware of it.
 * - eio / nack: transfers fail with EIO / EREMOTEIO; `times`: how many before the fault clears itself
 *   (omitted: until cleared).
 * - unplug: the chip is gone: every transfer NACKs and `scan()` no longer lists it. Clearing the fault
 *   plugs it back in, which power-cycles the model (`powerCycle`), as re-seating a board does.
 * - slow: every transfer completes `delayMs` late. Linux gives up on a transfer after the adapter
 *   timeout (i2c-core's default, 1 s): a longer delay rejects with ETIMEDOUT after that second.
 * Faults that need to know what the bytes mean (a stuck reading, a wrong checksum) are the chip
 * models' own (see each model's `setFault`).
 */
export type SimI2cFault =
  | { kind: "eio"; times?: number }
  | { kind: "nack"; times?: number }
  | { kind: "unplug" }
  | { kind: "slow"; delayMs: number };

/** i2c-core's default adapter timeout (HZ jiffies = 1 s), which the Pi's bcm2835 driver keeps. */
export const ADAPTER_TIMEOUT_MS = 1000;

interface Attachment {
  device: SimI2cDevice;
  fault: SimI2cFault | null;
  /** Failures still to inject when `fault.times` is set. */
  remaining: number;
}

/** An error shaped like the ErrnoException i2c-bus rejects with. */
export class SimI2cError extends Error {
  constructor(
    readonly code: "EREMOTEIO" | "EIO" | "ETIMEDOUT" | "EINVAL" | "EBADF",
    readonly errno: number,
    readonly syscall: string,
    description: string,
  ) {
    super(`${code}, ${description}`);
    this.name = "Error";
  }
}

const nack = (op: string) => new SimI2cError("EREMOTEIO", 121, op, "Remote I/O error");
const busError = (op: string) => new SimI2cError("EIO", 5, op, "Input/output error");
const timedOut = (op: string) => new SimI2cError("ETIMEDOUT", 110, op, "Connection timed out");

/**
 * One simulated bus. It implements `I2cBus` itself; `open()` hands out per-opener views, so one
 * driver closing its handle leaves the bus (and the chips on it) working for the others.
 */
export class SimI2cBus implements I2cBus {
  private readonly attachments = new Map<number, Attachment>();

  constructor(readonly busNumber: number) {}

  /** Wires a chip model to `address`. */
  attach(address: number, device: SimI2cDevice): void {
    checkAddress(address);
    if (this.attachments.has(address)) {
      throw new Error(`sim I2C bus ${this.busNumber}: address ${hex(address)} is already taken`);
    }
    this.attachments.set(address, { device, fault: null, remaining: 0 });
  }

  detach(address: number): void {
    this.attachments.delete(address);
  }

  /** Addresses that would ACK, as `i2cdetect` lists them. */
  scan(): number[] {
    return [...this.attachments.entries()]
      .filter(([, attachment]) => attachment.fault?.kind !== "unplug")
      .map(([address]) => address)
      .sort((a, b) => a - b);
  }

  /** Makes transfers to `address` fail or lag (`null` clears). The address must have a device attached. */
  injectFault(address: number, fault: SimI2cFault | null): void {
    const attachment = this.attachments.get(address);
    if (attachment === undefined) throw new Error(`sim I2C bus ${this.busNumber}: no device at ${hex(address)}`);
    const wasUnplugged = attachment.fault?.kind === "unplug";
    attachment.fault = fault;
    attachment.remaining = fault !== null && "times" in fault && fault.times !== undefined ? fault.times : Number.POSITIVE_INFINITY;
    if (wasUnplugged && fault?.kind !== "unplug") attachment.device.powerCycle?.();
  }

  /** A handle for one user of the bus (what `hal.i2c(n)` returns); closing it leaves the bus alone. */
  open(): I2cBus {
    return new SimI2cHandle(this);
  }

  async readByte(address: number, register: number): Promise<number> {
    checkRegister(register, "readByte");
    const device = await this.target(address, "readByte");
    send(device, Buffer.from([register]), "readByte");
    return byteAt(receive(device, 1, "readByte"), 0);
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    checkRegister(register, "writeByte");
    checkByte(value, "writeByte");
    send(await this.target(address, "writeByte"), Buffer.from([register, value]), "writeByte");
  }

  async readWord(address: number, register: number): Promise<number> {
    checkRegister(register, "readWord");
    const device = await this.target(address, "readWord");
    send(device, Buffer.from([register]), "readWord");
    const data = receive(device, 2, "readWord");
    return byteAt(data, 0) | (byteAt(data, 1) << 8);
  }

  async writeWord(address: number, register: number, value: number): Promise<void> {
    checkRegister(register, "writeWord");
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw invalid("writeWord", `word ${value}`);
    send(await this.target(address, "writeWord"), Buffer.from([register, value & 0xff, value >> 8]), "writeWord");
  }

  async readBlock(address: number, register: number, length: number): Promise<Buffer> {
    checkRegister(register, "readBlock");
    checkLength(length, "readBlock");
    const device = await this.target(address, "readBlock");
    send(device, Buffer.from([register]), "readBlock");
    return receive(device, length, "readBlock");
  }

  async writeBlock(address: number, register: number, data: Buffer): Promise<void> {
    checkRegister(register, "writeBlock");
    send(await this.target(address, "writeBlock"), Buffer.concat([Buffer.from([register]), data]), "writeBlock");
  }

  async write(address: number, data: Buffer): Promise<void> {
    send(await this.target(address, "i2cWrite"), Buffer.from(data), "i2cWrite");
  }

  async read(address: number, length: number): Promise<Buffer> {
    checkLength(length, "i2cRead");
    return receive(await this.target(address, "i2cRead"), length, "i2cRead");
  }

  /** The bus itself is wiring: closing it does nothing. Users close their `open()` handles. */
  async close(): Promise<void> {}

  /** The device a transfer reaches, after any injected fault has had its say. */
  private async target(address: number, op: string): Promise<SimI2cDevice> {
    if (!Number.isInteger(address) || address < 0 || address > 0x7f) throw invalid(op, `address ${address}`);
    const attachment = this.attachments.get(address);
    if (attachment === undefined) throw nack(op);
    const fault = attachment.fault;
    if (fault === null) return attachment.device;
    switch (fault.kind) {
      case "unplug":
        throw nack(op);
      case "slow":
        if (fault.delayMs > ADAPTER_TIMEOUT_MS) {
          await sleep(ADAPTER_TIMEOUT_MS);
          throw timedOut(op);
        }
        await sleep(fault.delayMs);
        return attachment.device;
      case "nack":
      case "eio":
        attachment.remaining -= 1;
        if (attachment.remaining <= 0) attachment.fault = null;
        throw fault.kind === "nack" ? nack(op) : busError(op);
    }
  }
}

function send(device: SimI2cDevice, data: Buffer, op: string): void {
  if (device.write(data) === NACK) throw nack(op);
}

function receive(device: SimI2cDevice, length: number, op: string): Buffer {
  const data = device.read(length);
  if (data === NACK) throw nack(op);
  return sized(data, length);
}

/** One opener's view of a shared simulated bus. */
class SimI2cHandle implements I2cBus {
  private closed = false;

  constructor(private readonly bus: SimI2cBus) {}

  get busNumber(): number {
    return this.bus.busNumber;
  }

  readByte(address: number, register: number): Promise<number> {
    return this.use("readByte", () => this.bus.readByte(address, register));
  }
  writeByte(address: number, register: number, value: number): Promise<void> {
    return this.use("writeByte", () => this.bus.writeByte(address, register, value));
  }
  readWord(address: number, register: number): Promise<number> {
    return this.use("readWord", () => this.bus.readWord(address, register));
  }
  writeWord(address: number, register: number, value: number): Promise<void> {
    return this.use("writeWord", () => this.bus.writeWord(address, register, value));
  }
  readBlock(address: number, register: number, length: number): Promise<Buffer> {
    return this.use("readBlock", () => this.bus.readBlock(address, register, length));
  }
  writeBlock(address: number, register: number, data: Buffer): Promise<void> {
    return this.use("writeBlock", () => this.bus.writeBlock(address, register, data));
  }
  write(address: number, data: Buffer): Promise<void> {
    return this.use("i2cWrite", () => this.bus.write(address, data));
  }
  read(address: number, length: number): Promise<Buffer> {
    return this.use("i2cRead", () => this.bus.read(address, length));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async use<T>(op: string, transfer: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SimI2cError("EBADF", 9, op, "Bad file descriptor");
    return transfer();
  }
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0x7f) {
    throw new Error(`invalid 7-bit I2C address ${address}`);
  }
}

function checkRegister(register: number, op: string): void {
  if (!Number.isInteger(register) || register < 0 || register > 0xff) throw invalid(op, `register ${register}`);
}

function checkByte(value: number, op: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw invalid(op, `byte ${value}`);
}

function checkLength(length: number, op: string): void {
  if (!Number.isInteger(length) || length < 0) throw invalid(op, `length ${length}`);
}

function invalid(op: string, what: string): SimI2cError {
  return new SimI2cError("EINVAL", 22, op, `invalid ${what}`);
}

/** A chip model that returns too few bytes reads as 0xFF for the rest (SDA pulled high). */
function sized(data: Buffer, length: number): Buffer {
  if (data.length === length) return Buffer.from(data);
  const out = Buffer.alloc(length, 0xff);
  data.copy(out, 0, 0, Math.min(length, data.length));
  return out;
}

function byteAt(data: Buffer, index: number): number {
  return data[index] ?? 0xff;
}

function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, "0")}`;
}

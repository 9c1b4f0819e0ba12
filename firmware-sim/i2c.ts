// A simulated I2C bus. Chip models attach at a 7-bit address and see what a chip sees on the wire:
// the bytes the master writes (first byte usually a register pointer) and requests to read N bytes.
// Register-style transfers are built from those two primitives exactly as SMBus/i2c-dev builds them,
// so a chip model never knows whether it was spoken to with readByte, readBlock or a plain read.
//
// Errors look like the ones i2c-bus (through Linux i2c-dev) gives on a Raspberry Pi:
// a missing device or an address NACK rejects with code "EREMOTEIO" ("Remote I/O error", errno 121),
// a bus error with "EIO" ("Input/output error", errno 5).
import type { I2cBus } from "../drivers/hal.ts";

/** What a chip model implements: one I2C target as seen on the wire. */
export interface SimI2cDevice {
  /** The master wrote `data` in one transaction (START, address+W, bytes, STOP or repeated START). */
  write(data: Buffer): void;
  /** The master reads `length` bytes in one transaction (address+R, `length` bytes, NACK, STOP). */
  read(length: number): Buffer;
}

/**
 * A fault the bus applies to one address before the chip model is reached.
 * `times`: how many transfers fail before the fault clears itself (omitted: until cleared).
 * Later tasks can add kinds here (stuck bus, corrupted bytes, ...) without touching chip models.
 */
export type SimI2cFault = { kind: "eio"; times?: number } | { kind: "nack"; times?: number };

interface Attachment {
  device: SimI2cDevice;
  fault: SimI2cFault | null;
  /** Failures still to inject when `fault.times` is set. */
  remaining: number;
}

/** An error shaped like the ErrnoException i2c-bus rejects with. */
export class SimI2cError extends Error {
  constructor(
    readonly code: "EREMOTEIO" | "EIO" | "EINVAL" | "EBADF",
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
    return [...this.attachments.keys()].sort((a, b) => a - b);
  }

  /** Makes transfers to `address` fail (`null` clears). The address must have a device attached. */
  injectFault(address: number, fault: SimI2cFault | null): void {
    const attachment = this.attachments.get(address);
    if (attachment === undefined) throw new Error(`sim I2C bus ${this.busNumber}: no device at ${hex(address)}`);
    attachment.fault = fault;
    attachment.remaining = fault?.times ?? Number.POSITIVE_INFINITY;
  }

  /** A handle for one user of the bus (what `hal.i2c(n)` returns); closing it leaves the bus alone. */
  open(): I2cBus {
    return new SimI2cHandle(this);
  }

  async readByte(address: number, register: number): Promise<number> {
    checkRegister(register, "readByte");
    const device = this.target(address, "readByte");
    device.write(Buffer.from([register]));
    return byteAt(device.read(1), 0);
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    checkRegister(register, "writeByte");
    checkByte(value, "writeByte");
    this.target(address, "writeByte").write(Buffer.from([register, value]));
  }

  async readWord(address: number, register: number): Promise<number> {
    checkRegister(register, "readWord");
    const device = this.target(address, "readWord");
    device.write(Buffer.from([register]));
    const data = device.read(2);
    return byteAt(data, 0) | (byteAt(data, 1) << 8);
  }

  async writeWord(address: number, register: number, value: number): Promise<void> {
    checkRegister(register, "writeWord");
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw invalid("writeWord", `word ${value}`);
    this.target(address, "writeWord").write(Buffer.from([register, value & 0xff, value >> 8]));
  }

  async readBlock(address: number, register: number, length: number): Promise<Buffer> {
    checkRegister(register, "readBlock");
    checkLength(length, "readBlock");
    const device = this.target(address, "readBlock");
    device.write(Buffer.from([register]));
    return sized(device.read(length), length);
  }

  async writeBlock(address: number, register: number, data: Buffer): Promise<void> {
    checkRegister(register, "writeBlock");
    this.target(address, "writeBlock").write(Buffer.concat([Buffer.from([register]), data]));
  }

  async write(address: number, data: Buffer): Promise<void> {
    this.target(address, "i2cWrite").write(Buffer.from(data));
  }

  async read(address: number, length: number): Promise<Buffer> {
    checkLength(length, "i2cRead");
    return sized(this.target(address, "i2cRead").read(length), length);
  }

  /** The bus itself is wiring: closing it does nothing. Users close their `open()` handles. */
  async close(): Promise<void> {}

  /** The device a transfer reaches, after any injected fault has had its say. */
  private target(address: number, op: string): SimI2cDevice {
    if (!Number.isInteger(address) || address < 0 || address > 0x7f) throw invalid(op, `address ${address}`);
    const attachment = this.attachments.get(address);
    if (attachment === undefined) throw nack(op);
    const fault = attachment.fault;
    if (fault !== null) {
      attachment.remaining -= 1;
      if (attachment.remaining <= 0) attachment.fault = null;
      switch (fault.kind) {
        case "nack":
          throw nack(op);
        case "eio":
          throw busError(op);
      }
    }
    return attachment.device;
  }
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

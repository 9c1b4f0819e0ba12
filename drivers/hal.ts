// Hardware abstraction layer: the only way device drivers touch hardware.
// `hardware: real` hands drivers backends over the kernel's devices (GPIO character device or sysfs, i2c-dev,
// serial ports);
// `hardware: sim` hands them firmware-sim. Device code never knows which.

/** One I2C bus (e.g. /dev/i2c-1). Addresses are 7-bit. All methods reject on a bus error or NACK. */
export interface I2cBus {
  readonly busNumber: number;
  readByte(address: number, register: number): Promise<number>;
  writeByte(address: number, register: number, value: number): Promise<void>;
  /** SMBus word: little-endian, low byte at `register`. */
  readWord(address: number, register: number): Promise<number>;
  writeWord(address: number, register: number, value: number): Promise<void>;
  /** Reads `length` bytes starting at `register` (register auto-increment, repeated start). */
  readBlock(address: number, register: number, length: number): Promise<Buffer>;
  writeBlock(address: number, register: number, data: Buffer): Promise<void>;
  /** Plain transfers without a register byte, for command-based chips (e.g. SHT3x). */
  write(address: number, data: Buffer): Promise<void>;
  read(address: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export type Edge = "none" | "rising" | "falling" | "both";

/** A line's pull resistor: up, down, or none (floating, for lines driven by a push-pull output). */
export type Bias = "up" | "down" | "none";

/** Which kernel interface the real backend uses: the character device (/dev/gpiochipN), sysfs, or the first that exists. */
export type GpioBackend = "auto" | "cdev" | "sysfs";

/** One GPIO line (BCM numbering). */
export interface GpioLine {
  readonly pin: number;
  /** The debounce window the kernel applies to this line's edges and values (GpioOptions.debounceMs); 0 when it applies none. */
  readonly kernelDebounceMs: number;
  read(): Promise<0 | 1>;
  write(value: 0 | 1): Promise<void>;
  /** Calls `listener` on each edge selected when the line was opened; returns a function that stops watching. */
  watch(listener: (value: 0 | 1, at: Date) => void): () => void;
  close(): Promise<void>;
}

export interface GpioOptions {
  direction: "in" | "out";
  edge?: Edge;
  /** For outputs: the level driven as soon as the line is opened. */
  initial?: 0 | 1;
  activeLow?: boolean;
  /** The pull resistor to set; absent leaves the line's pull as the board set it (sysfs can set none). */
  bias?: Bias;
  /** The real backend's kernel interface (default auto); the simulation has one. */
  backend?: GpioBackend;
  /** For inputs with edges: filter edges and values over this window in the kernel where it can (see kernelDebounceMs). */
  debounceMs?: number;
}

/** A serial link (UART, USB serial adapter). */
export interface SerialLink {
  readonly path: string;
  write(data: Buffer | string): Promise<void>;
  /** Raw bytes as they arrive. */
  onData(listener: (chunk: Buffer) => void): () => void;
  onError(listener: (error: Error) => void): () => void;
  onClose(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface SerialOptions {
  path: string;
  baudRate: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: "none" | "even" | "odd";
  stopBits?: 1 | 2;
}

/** The kernel's w1 sysfs tree (/sys/bus/w1/devices). */
export interface OneWire {
  /** Device ids present on the bus, e.g. "28-0316a2795aff". */
  list(): Promise<string[]>;
  /** The text of a device's slave file (w1_slave). */
  readSlave(deviceId: string): Promise<string>;
}

/** What a driver is handed: factories for the buses it may open. */
export interface Hal {
  readonly kind: "real" | "sim";
  i2c(busNumber: number): Promise<I2cBus>;
  gpio(pin: number, options: GpioOptions): Promise<GpioLine>;
  serial(options: SerialOptions): Promise<SerialLink>;
  oneWire(): OneWire;
}

/** A device node or interface that is absent or not permitted, with the fix for the person at the gateway. */
export class HardwareAccessError extends Error {
  constructor(
    readonly device: string,
    readonly fix: string,
    cause?: unknown,
  ) {
    super(`${device}: ${fix}`, { cause });
    this.name = "HardwareAccessError";
  }
}

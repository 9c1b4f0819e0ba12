// The real GPIO backend over the kernel's GPIO character device, uAPI v2 (linux/gpio.h, kernel 5.10 and later):
// one line request per pin on /dev/gpiochipN. Unlike sysfs it sets the pull resistors (bias), debounces in
// the kernel, and stamps each edge with the kernel's clock when the interrupt fires. The chip is the Pi's pin
// controller, found by its label; on it the line offset is the BCM number (no global numbering, no base).
// ioctl goes through koffi. Edge events are read when epoll reports the request's file readable (the addon
// comes with onoff, which watches sysfs with it): its own thread waits, so no libuv pool thread is held while
// a contact stays still. Both are loaded on first use, so `hardware: sim` loads neither.
import { closeSync, openSync, readSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Epoll } from "epoll";
import { HardwareAccessError, type Bias, type Edge, type GpioBackend, type GpioLine, type GpioOptions } from "../hal.ts";
import { gpioAccessError, HEADER_CONTROLLERS } from "./gpio.ts";

export const GPIO_DEV = "/dev";

/** The consumer label the kernel shows for our lines (gpioinfo, /sys/kernel/debug/gpio). */
export const CONSUMER = "xedge";

/**
 * The uAPI v2 structs as bytes: each struct's size and its fields' offsets. The header pads every struct
 * explicitly and aligns its 64-bit fields, so the layout is the same on armhf, arm64 and x86-64;
 * gpio-cdev.test.ts compares these numbers with what the C compiler makes of linux/gpio.h. Integers are
 * little-endian, as on every Pi.
 */
export const LAYOUT = {
  gpiochip_info: { size: 68, name: 0, label: 32, lines: 64 },
  gpio_v2_line_values: { size: 16, bits: 0, mask: 8 },
  gpio_v2_line_attribute: { size: 16, id: 0, flags: 8, values: 8, debounce_period_us: 8 },
  gpio_v2_line_config_attribute: { size: 24, attr: 0, mask: 16 },
  gpio_v2_line_config: { size: 272, flags: 0, num_attrs: 8, attrs: 32 },
  gpio_v2_line_request: { size: 592, offsets: 0, consumer: 256, config: 288, num_lines: 560, event_buffer_size: 564, fd: 588 },
  gpio_v2_line_info: { size: 256, name: 0, consumer: 32, offset: 64, num_attrs: 68, flags: 72, attrs: 80 },
  gpio_v2_line_event: { size: 48, timestamp_ns: 0, id: 8, offset: 12, seqno: 16, line_seqno: 20 },
} as const;

/** GPIO_MAX_NAME_SIZE. */
const NAME_SIZE = 32;

/** enum gpio_v2_line_flag (the ones this backend sets or reads). */
export const LINE_FLAG = {
  ACTIVE_LOW: 1n << 1n,
  INPUT: 1n << 2n,
  OUTPUT: 1n << 3n,
  EDGE_RISING: 1n << 4n,
  EDGE_FALLING: 1n << 5n,
  BIAS_PULL_UP: 1n << 8n,
  BIAS_PULL_DOWN: 1n << 9n,
  BIAS_DISABLED: 1n << 10n,
} as const;

/** enum gpio_v2_line_attr_id. */
export const ATTR_ID = { FLAGS: 1, OUTPUT_VALUES: 2, DEBOUNCE: 3 } as const;

/** enum gpio_v2_line_event_id. */
export const EVENT_ID = { RISING_EDGE: 1, FALLING_EDGE: 2 } as const;

/** _IOR and _IOWR of asm-generic/ioctl.h (arm, arm64, x86): direction in bits 30–31, size, type 0xB4, number. */
function ioctlNumber(direction: "r" | "rw", number: number, size: number): number {
  return ((direction === "r" ? 2 : 3) * 2 ** 30 + (size << 16) + (0xb4 << 8) + number) >>> 0;
}

export const IOCTL = {
  GPIO_GET_CHIPINFO_IOCTL: ioctlNumber("r", 0x01, LAYOUT.gpiochip_info.size),
  GPIO_V2_GET_LINEINFO_IOCTL: ioctlNumber("rw", 0x05, LAYOUT.gpio_v2_line_info.size),
  GPIO_V2_GET_LINE_IOCTL: ioctlNumber("rw", 0x07, LAYOUT.gpio_v2_line_request.size),
  GPIO_V2_LINE_GET_VALUES_IOCTL: ioctlNumber("rw", 0x0e, LAYOUT.gpio_v2_line_values.size),
  GPIO_V2_LINE_SET_VALUES_IOCTL: ioctlNumber("rw", 0x0f, LAYOUT.gpio_v2_line_values.size),
} as const;

/** Edges the kernel queues for a line while the event loop is busy (it caps this at 1024). */
const EVENT_BUFFER = 256;

// ---------------------------------------------------------------------------------------------------------
// Encoding

export interface LineRequest {
  offset: number;
  flags: bigint;
  /** For outputs: the logical level the line comes up at (attribute OUTPUT_VALUES). */
  outputValue?: 0 | 1;
  /** For inputs: the kernel's debounce period (attribute DEBOUNCE). */
  debounceUs?: number;
}

/** A struct gpio_v2_line_request for one line (so every attribute's mask is bit 0; at most 2 of the 10 attributes). */
export function encodeLineRequest(request: LineRequest): Buffer {
  const layout = LAYOUT.gpio_v2_line_request;
  const config = layout.config;
  const buffer = Buffer.alloc(layout.size);
  buffer.writeUInt32LE(request.offset, layout.offsets);
  buffer.write(CONSUMER, layout.consumer, NAME_SIZE - 1, "utf8");
  buffer.writeBigUInt64LE(request.flags, config + LAYOUT.gpio_v2_line_config.flags);
  let attributes = 0;
  const attribute = (id: number, write: (at: number) => void) => {
    const at = config + LAYOUT.gpio_v2_line_config.attrs + attributes * LAYOUT.gpio_v2_line_config_attribute.size;
    buffer.writeUInt32LE(id, at + LAYOUT.gpio_v2_line_attribute.id);
    write(at + LAYOUT.gpio_v2_line_config_attribute.attr);
    buffer.writeBigUInt64LE(1n, at + LAYOUT.gpio_v2_line_config_attribute.mask);
    attributes += 1;
  };
  if (request.outputValue !== undefined) {
    const value = BigInt(request.outputValue);
    attribute(ATTR_ID.OUTPUT_VALUES, (at) => buffer.writeBigUInt64LE(value, at + LAYOUT.gpio_v2_line_attribute.values));
  }
  if (request.debounceUs !== undefined && request.debounceUs > 0) {
    const period = request.debounceUs;
    attribute(ATTR_ID.DEBOUNCE, (at) => buffer.writeUInt32LE(period, at + LAYOUT.gpio_v2_line_attribute.debounce_period_us));
  }
  buffer.writeUInt32LE(attributes, config + LAYOUT.gpio_v2_line_config.num_attrs);
  buffer.writeUInt32LE(1, layout.num_lines);
  buffer.writeUInt32LE(EVENT_BUFFER, layout.event_buffer_size);
  return buffer;
}

/** The request flags for a line opened with `options`. */
export function lineFlags(options: Pick<GpioOptions, "direction" | "edge" | "activeLow" | "bias">): bigint {
  let flags = options.direction === "in" ? LINE_FLAG.INPUT : LINE_FLAG.OUTPUT;
  if (options.activeLow) flags |= LINE_FLAG.ACTIVE_LOW;
  const edge: Edge = options.direction === "in" ? (options.edge ?? "none") : "none";
  if (edge === "rising" || edge === "both") flags |= LINE_FLAG.EDGE_RISING;
  if (edge === "falling" || edge === "both") flags |= LINE_FLAG.EDGE_FALLING;
  const bias: Record<Bias, bigint> = { up: LINE_FLAG.BIAS_PULL_UP, down: LINE_FLAG.BIAS_PULL_DOWN, none: LINE_FLAG.BIAS_DISABLED };
  if (options.bias !== undefined) flags |= bias[options.bias];
  return flags;
}

function cString(buffer: Buffer, at: number): string {
  const bytes = buffer.subarray(at, at + NAME_SIZE);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? NAME_SIZE : end).toString("utf8");
}

export interface LineEvent {
  /** 1 for a rising edge, 0 for a falling one: the logical level after it (active-low already applied). */
  value: 0 | 1;
  /** CLOCK_MONOTONIC, ns, taken by the kernel when the edge happened. */
  timestampNs: bigint;
}

/** The struct gpio_v2_line_event records in the first `length` bytes of `buffer`. */
export function decodeEvents(buffer: Buffer, length: number): LineEvent[] {
  const layout = LAYOUT.gpio_v2_line_event;
  const events: LineEvent[] = [];
  for (let at = 0; at + layout.size <= length; at += layout.size) {
    events.push({
      value: buffer.readUInt32LE(at + layout.id) === EVENT_ID.RISING_EDGE ? 1 : 0,
      timestampNs: buffer.readBigUInt64LE(at + layout.timestamp_ns),
    });
  }
  return events;
}

/** A CLOCK_MONOTONIC time (what the kernel stamps events with, and process.hrtime reads) as wall-clock time. */
export function monotonicToDate(timestampNs: bigint, nowNs: bigint = process.hrtime.bigint(), nowMs: number = Date.now()): Date {
  return new Date(nowMs - Number(nowNs - timestampNs) / 1e6);
}

// ---------------------------------------------------------------------------------------------------------
// The kernel

interface Kernel {
  /** ioctl(2) with a struct in `argument`; throws an Error with the errno's name as `code`. */
  ioctl: (fd: number, request: number, argument: Buffer) => void;
}

let kernel: Promise<Kernel> | undefined;

function loadKernel(): Promise<Kernel> {
  kernel ??= (async () => {
    const { default: koffi } = await import("koffi");
    const libc = koffi.load("libc.so.6");
    // ioctl is variadic in libc: declared so, the struct pointer is passed as the ABI passes variadic arguments.
    const ioctl = libc.func("int ioctl(int fd, unsigned long request, ...)") as (fd: number, request: number, type: string, argument: Buffer) => number;
    const errnoNames = new Map(Object.entries(koffi.os.errno).map(([name, value]) => [value, name]));
    return {
      ioctl: (fd, request, argument) => {
        if (ioctl(fd, request, "void *", argument) >= 0) return;
        const errno = koffi.errno();
        const code = errnoNames.get(errno) ?? `errno ${errno}`;
        throw Object.assign(new Error(`ioctl 0x${request.toString(16)}: ${code}`), { code, errno });
      },
    };
  })();
  return kernel;
}

async function loadEpoll(): Promise<typeof Epoll> {
  const { default: epoll } = await import("epoll");
  return epoll.Epoll;
}

// ---------------------------------------------------------------------------------------------------------
// Finding the header's chip

export interface ChipInfo {
  /** /dev/gpiochipN */
  path: string;
  label: string;
  lines: number;
  /** Whether the kernel speaks uAPI v2 on it (5.10 and later); older kernels answer ENOTTY. */
  v2: boolean;
}

/** Reads a chip's label and line count (GPIO_GET_CHIPINFO_IOCTL), and whether it answers uAPI v2. */
export async function readChipInfo(path: string): Promise<ChipInfo> {
  const { ioctl } = await loadKernel();
  const fd = openSync(path, "r+");
  try {
    const info = Buffer.alloc(LAYOUT.gpiochip_info.size);
    ioctl(fd, IOCTL.GPIO_GET_CHIPINFO_IOCTL, info);
    const lines = info.readUInt32LE(LAYOUT.gpiochip_info.lines);
    let v2 = true;
    try {
      lineConsumer(ioctl, fd, 0);
    } catch (error) {
      if (errorCode(error) !== "ENOTTY") throw error;
      v2 = false;
    }
    return { path, label: cString(info, LAYOUT.gpiochip_info.label), lines, v2 };
  } finally {
    closeSync(fd);
  }
}

/** GPIO_V2_GET_LINEINFO_IOCTL: who holds the line (empty when nobody does). */
function lineConsumer(ioctl: Kernel["ioctl"], chipFd: number, offset: number): string {
  const layout = LAYOUT.gpio_v2_line_info;
  const info = Buffer.alloc(layout.size);
  info.writeUInt32LE(offset, layout.offset);
  ioctl(chipFd, IOCTL.GPIO_V2_GET_LINEINFO_IOCTL, info);
  return cString(info, layout.consumer);
}

/** The character devices present: /dev/gpiochipN in N order. */
async function chipPaths(devRoot: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(devRoot);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return [];
    throw error;
  }
  return entries
    .filter((entry) => /^gpiochip\d+$/.test(entry))
    .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)))
    .map((entry) => join(devRoot, entry));
}

export type GpioRoute = { backend: "cdev"; chip: ChipInfo } | { backend: "sysfs"; why: string };

export interface ChooserOptions {
  devRoot?: string;
  inspect?: (path: string) => Promise<ChipInfo>;
}

/**
 * Which interface opens the header's lines. auto: the character device when a /dev/gpiochipN labelled as a
 * Pi's pin controller speaks uAPI v2, else sysfs. cdev: that chip, or the only chip there is (another board).
 */
export async function chooseGpioBackend(requested: GpioBackend, { devRoot = GPIO_DEV, inspect = readChipInfo }: ChooserOptions = {}): Promise<GpioRoute> {
  if (requested === "sysfs") return { backend: "sysfs", why: "the config asks for backend: sysfs" };
  const chips: ChipInfo[] = [];
  for (const path of await chipPaths(devRoot)) {
    try {
      chips.push(await inspect(path));
    } catch (error) {
      throw chipError(path, error);
    }
  }
  const usable = chips.filter((chip) => chip.v2);
  const header = usable.find((chip) => HEADER_CONTROLLERS.includes(chip.label));
  if (header !== undefined) return { backend: "cdev", chip: header };
  const found = chips.map((chip) => `${chip.path} (${chip.label}${chip.v2 ? "" : ", no uAPI v2"})`).join(", ") || "no gpiochip";
  if (requested === "auto") return { backend: "sysfs", why: `no GPIO character device labelled ${HEADER_CONTROLLERS.join(" or ")} (${devRoot} has ${found})` };
  const [only] = usable;
  if (usable.length === 1 && chips.length === 1 && only !== undefined) return { backend: "cdev", chip: only };
  throw new HardwareAccessError(
    `${devRoot}/gpiochip*`,
    `no GPIO character device drives the 40-pin header: ${devRoot} has ${found}, none labelled ${HEADER_CONTROLLERS.join(" or ")} ` +
      "with uAPI v2 (kernel 5.10 or later). Use gpio.backend: sysfs on an older kernel, and `hardware: sim` on a machine without GPIO",
  );
}

function chipError(path: string, error: unknown): Error {
  const access = gpioAccessError(0, 0, error);
  const code = errorCode(error);
  if (access instanceof HardwareAccessError && (code === "EACCES" || code === "EPERM")) return new HardwareAccessError(path, access.fix, error);
  return new Error(`${path}: cannot read the chip's label: ${code ?? String(error)}`, { cause: error });
}

// ---------------------------------------------------------------------------------------------------------
// Lines

/** Pins this process has open: two devices on one pin are a config mistake, named as such. */
const openPins = new Set<number>();

export async function openCdevLine(pin: number, options: GpioOptions, chip: ChipInfo): Promise<GpioLine> {
  if (!Number.isInteger(pin) || pin < 0) throw new Error(`invalid GPIO number ${pin}`);
  const device = `GPIO ${pin} (${chip.path} line ${pin})`;
  if (pin >= chip.lines) {
    throw new Error(`${device}: GPIO ${pin} does not exist on this board (${chip.label} has ${chip.lines} lines) (EINVAL)`);
  }
  if (openPins.has(pin)) {
    throw Object.assign(
      new Error(`GPIO ${pin} is already in use by another device of this agent: each pin can have one owner; check the config for two entries on GPIO ${pin}`),
      { code: "EBUSY" },
    );
  }
  openPins.add(pin); // at once: a second open of this pin must not slip in during the awaits below
  try {
    const [{ ioctl }, Poller] = await Promise.all([loadKernel(), loadEpoll()]);
    const { fd, debounceMs } = requestLine(ioctl, pin, options, chip, device);
    return new CdevLine(pin, device, fd, debounceMs, ioctl, Poller);
  } catch (error) {
    openPins.delete(pin);
    throw error;
  }
}

function requestLine(ioctl: Kernel["ioctl"], pin: number, options: GpioOptions, chip: ChipInfo, device: string): { fd: number; debounceMs: number } {
  let chipFd: number;
  try {
    chipFd = openSync(chip.path, "r+");
  } catch (error) {
    throw lineError(device, error) ?? error;
  }
  try {
    const flags = lineFlags(options);
    const edges = options.direction === "in" && (options.edge ?? "none") !== "none";
    const debounceMs = edges ? Math.max(0, Math.round(options.debounceMs ?? 0)) : 0;
    const request = (debounce: number) => {
      const buffer = encodeLineRequest({
        offset: pin,
        flags,
        ...(options.direction === "out" ? { outputValue: options.initial ?? 0 } : {}),
        ...(debounce > 0 ? { debounceUs: debounce * 1000 } : {}),
      });
      ioctl(chipFd, IOCTL.GPIO_V2_GET_LINE_IOCTL, buffer);
      return buffer.readInt32LE(LAYOUT.gpio_v2_line_request.fd);
    };
    try {
      try {
        return { fd: request(debounceMs), debounceMs };
      } catch (error) {
        // A line whose chip cannot debounce it (no interrupt for the kernel's own timer): the driver debounces.
        if (debounceMs === 0 || errorCode(error) !== "EINVAL") throw error;
        return { fd: request(0), debounceMs: 0 };
      }
    } catch (error) {
      if (errorCode(error) === "EBUSY") throw lineBusy(device, lineOwner(ioctl, chipFd, pin), error);
      if (errorCode(error) === "EINVAL") {
        throw new Error(`${device}: the kernel refused the line configuration (EINVAL): ${describeOptions(options)}`, { cause: error });
      }
      throw lineError(device, error) ?? error;
    }
  } finally {
    closeSync(chipFd);
  }
}

function lineOwner(ioctl: Kernel["ioctl"], chipFd: number, pin: number): string {
  try {
    return lineConsumer(ioctl, chipFd, pin);
  } catch {
    return "";
  }
}

function lineBusy(device: string, consumer: string, cause: unknown): Error {
  const owner = consumer === "" ? "another program or a kernel driver" : `"${consumer}"`;
  const interfaces = "1-Wire uses GPIO 4, I2C GPIO 2/3, SPI GPIO 7–11, the UART GPIO 14/15";
  const fix =
    consumer === CONSUMER
      ? "another xedge process holds it: stop that agent, or pick another pin"
      : `pick a free pin, or stop that program or disable that interface (${interfaces}); \`gpioinfo\` lists every line's consumer`;
  return Object.assign(new HardwareAccessError(device, `line in use by ${owner} (EBUSY): ${fix}`, cause), { code: "EBUSY" });
}

function describeOptions(options: GpioOptions): string {
  const parts = [options.direction === "in" ? "input" : "output"];
  if (options.activeLow) parts.push("active-low");
  if (options.edge !== undefined && options.edge !== "none") parts.push(`edge ${options.edge}`);
  if (options.bias !== undefined) parts.push(`bias ${options.bias}`);
  if (options.debounceMs) parts.push(`debounce ${options.debounceMs} ms`);
  return parts.join(", ");
}

/** Access and presence errors with the fix, or undefined for anything else. */
function lineError(device: string, error: unknown): Error | undefined {
  switch (errorCode(error)) {
    case "EACCES":
    case "EPERM": {
      // The same fix as for sysfs: the gpio group grants both interfaces on Raspberry Pi OS.
      const access = gpioAccessError(0, 0, error);
      return access instanceof HardwareAccessError ? new HardwareAccessError(device, access.fix, error) : access;
    }
    case "ENOENT":
      return new HardwareAccessError(device, "the GPIO character device is gone (was the chip's driver unloaded?)", error);
    default:
      return undefined;
  }
}

class CdevLine implements GpioLine {
  private readonly listeners = new Set<(value: 0 | 1, at: Date) => void>();
  private poller: Epoll | undefined;
  private readonly events = Buffer.alloc(LAYOUT.gpio_v2_line_event.size * 16);
  private closed = false;

  constructor(
    readonly pin: number,
    private readonly device: string,
    private readonly fd: number,
    readonly kernelDebounceMs: number,
    private readonly ioctl: Kernel["ioctl"],
    private readonly Poller: typeof Epoll,
  ) {}

  async read(): Promise<0 | 1> {
    this.checkOpen();
    const values = Buffer.alloc(LAYOUT.gpio_v2_line_values.size);
    values.writeBigUInt64LE(1n, LAYOUT.gpio_v2_line_values.mask);
    this.call(IOCTL.GPIO_V2_LINE_GET_VALUES_IOCTL, values, "read");
    return (values.readBigUInt64LE(LAYOUT.gpio_v2_line_values.bits) & 1n) === 1n ? 1 : 0;
  }

  async write(value: 0 | 1): Promise<void> {
    this.checkOpen();
    const values = Buffer.alloc(LAYOUT.gpio_v2_line_values.size);
    values.writeBigUInt64LE(BigInt(value), LAYOUT.gpio_v2_line_values.bits);
    values.writeBigUInt64LE(1n, LAYOUT.gpio_v2_line_values.mask);
    this.call(IOCTL.GPIO_V2_LINE_SET_VALUES_IOCTL, values, "write");
  }

  watch(listener: (value: 0 | 1, at: Date) => void): () => void {
    this.checkOpen();
    this.listeners.add(listener);
    if (this.poller === undefined) {
      // Level-triggered: epoll reports the file readable until every queued event has been read.
      this.poller = new this.Poller((error) => {
        if (error === null) this.drain();
      });
      this.poller.add(this.fd, this.Poller.EPOLLIN);
    }
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.poller?.remove(this.fd).close();
    // Releasing the request leaves the level to the kernel: some pin controllers keep an output driving it,
    // others make the pin an input again (see drivers/gpio-output/README.md).
    closeSync(this.fd);
    openPins.delete(this.pin);
  }

  private drain(): void {
    if (this.closed) return;
    let length: number;
    try {
      length = readSync(this.fd, this.events, 0, this.events.length, null);
    } catch {
      return; // the next readiness report tries again; a read() of the line still sees its level
    }
    const nowNs = process.hrtime.bigint();
    const nowMs = Date.now();
    for (const event of decodeEvents(this.events, length)) {
      const at = monotonicToDate(event.timestampNs, nowNs, nowMs);
      for (const listener of this.listeners) listener(event.value, at);
    }
  }

  private call(request: number, argument: Buffer, what: string): void {
    try {
      this.ioctl(this.fd, request, argument);
    } catch (error) {
      const code = errorCode(error);
      if (code === "EPERM" && what === "write") {
        throw Object.assign(new Error(`${this.device}: cannot write an input line (EPERM)`), { code, cause: error });
      }
      throw Object.assign(new Error(`${this.device}: ${what} failed (${code ?? String(error)})`), { code, cause: error });
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`GPIO ${this.pin}: line is closed`);
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

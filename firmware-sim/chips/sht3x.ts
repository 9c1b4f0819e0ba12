// A command-level model of the Sensirion SHT3x-DIS (SHT30/31/35) humidity and temperature sensor on I2C.
// Source: Sensirion SHT3x-DIS data sheet (v5, May 2018): commands §4.3–4.11 (Tables 9, 13, 16, 17, 19),
// status register Table 18, CRC-8 Table 20, conversion §4.13, timing Table 4.
//
// The chip has no registers: the master writes 16-bit commands and reads answers made of 16-bit words,
// each followed by a CRC-8. This model answers the commands a single-shot driver uses:
//   0x2400 / 0x240B / 0x2416  single-shot measurement, high / medium / low repeatability, no clock stretching
//   0x30A2 soft reset, 0x3093 break, 0xF32D read status, 0x3041 clear status, 0x306D / 0x3066 heater on / off
// While a measurement runs, a read header is NACKed (data sheet §4.4/§4.6: "if no measurement data is
// present the I2C read header is responded with a NACK"); once read, the result is gone (the next read
// NACKs again). During a soft reset or power-up the chip NACKs everything.
// Not modelled: clock-stretching measurement commands (0x2Cxx; a synchronous model cannot hold SCL, and the
// Pi's I2C controller mishandles clock stretching anyway), periodic mode and ART, alert limits, the
// heater's warming, the serial number command, noise. Unknown commands are NACKed and set status bit 1
// ("last command not processed").
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import { NACK, type SimI2cDevice } from "../i2c.ts";

export interface Sht3xEnvironment {
  /** °C */
  temperature: number;
  /** %RH */
  humidity: number;
}

/** Raw 16-bit sensor outputs S_T and S_RH. */
export interface Sht3xRaw {
  temperature: number;
  humidity: number;
}

export type Sht3xRepeatability = "high" | "medium" | "low";

/**
 * How long a measurement runs: "instant", "typical" or "max" (data sheet Table 4 for the commanded
 * repeatability), or a fixed number of milliseconds. Soft reset and power-up take no time with "instant",
 * their maximum with "max", and their typical time otherwise.
 */
export type Sht3xTiming = "instant" | "typical" | "max" | { ms: number };

export interface SimSht3xOptions {
  environment?: Partial<Sht3xEnvironment>;
  /** Default "typical". */
  timing?: Sht3xTiming;
  /** Milliseconds, monotonic. Default performance.now(). */
  clock?: () => number;
}

/** Data sheet Table 4: measurement duration in ms, typical and maximum. */
export const MEASUREMENT_MS: Readonly<Record<Sht3xRepeatability, { typical: number; max: number }>> = Object.freeze({
  low: { typical: 2.5, max: 4 },
  medium: { typical: 4.5, max: 6 },
  high: { typical: 12.5, max: 15 },
});
/** Data sheet Table 4: soft reset time t_SR and power-up time t_PU (both 0.5 ms typical). */
const RESET_MS = { typical: 0.5, max: 1.5 };
const POWER_UP_MS = { typical: 0.5, max: 1 };

const SINGLE_SHOT: ReadonlyMap<number, Sht3xRepeatability> = new Map([
  [0x2400, "high"],
  [0x240b, "medium"],
  [0x2416, "low"],
]);
const CMD_SOFT_RESET = 0x30a2;
const CMD_BREAK = 0x3093;
const CMD_READ_STATUS = 0xf32d;
const CMD_CLEAR_STATUS = 0x3041;
const CMD_HEATER_ON = 0x306d;
const CMD_HEATER_OFF = 0x3066;

/** Status register after power-up or reset: alert pending (bit 15) and system reset detected (bit 4). */
const STATUS_AFTER_RESET = 0x8010;
const STATUS_HEATER = 1 << 13;
const STATUS_COMMAND_FAILED = 1 << 1;
/** The flags "clear status" clears: bits 15, 11, 10 and 4. */
const STATUS_CLEARABLE = 0x8c10;

/** CRC-8 of the data sheet (Table 20): polynomial 0x31, init 0xFF, no reflection, no final XOR. */
export function sensirionCrc8(data: Uint8Array): number {
  let crc = 0xff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** How many command words SimSht3x remembers for tests to inspect. */
export const COMMAND_HISTORY = 64;

export class SimSht3x implements SimI2cDevice, Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["stuck", "crc"];
  /**
   * The latest command words the chip accepted or rejected, oldest first: at most COMMAND_HISTORY, since every
   * read sends one and a simulated gateway runs for hours.
   */
  readonly commands: number[] = [];

  private environment: Sht3xEnvironment = { temperature: 20, humidity: 50 };
  /** While "stuck": what the sensing elements keep reporting. */
  private frozen: Sht3xEnvironment | null = null;
  private corruptCrc = false;
  private rawOverride: Sht3xRaw | null = null;
  private readonly timing: Sht3xTiming;
  private readonly clock: () => number;

  private status = STATUS_AFTER_RESET;
  private busyUntil = Number.NEGATIVE_INFINITY;
  /** The answer the next read gets, available from `readyAt`; null: nothing to read (NACK). */
  private answer: { bytes: Buffer; readyAt: number } | null = null;

  constructor(options: SimSht3xOptions = {}) {
    this.timing = options.timing ?? "typical";
    this.clock = options.clock ?? (() => performance.now());
    this.setEnvironment(options.environment ?? {});
  }

  /** Sets what the next measurements see; omitted quantities keep their value. */
  setEnvironment(values: Partial<Sht3xEnvironment>): void {
    this.environment = { ...this.environment, ...values };
  }

  getEnvironment(): Sht3xEnvironment {
    return { ...this.environment };
  }

  /** Makes measurements report these raw words as they are (for data sheet examples); null: back to the environment. */
  setRaw(raw: Sht3xRaw | null): void {
    this.rawOverride = raw === null ? null : { ...raw };
  }

  /** "stuck": the sensing elements keep reporting the environment of this moment; "crc": every answer's first CRC is wrong. */
  setFault(fault: Fault | null): void {
    if (fault !== null && !this.supportedFaults.includes(fault.kind)) {
      throw new Error(`the SHT3x model cannot inject "${fault.kind}"`);
    }
    this.frozen = fault?.kind === "stuck" ? (this.frozen ?? { ...this.environment }) : null;
    this.corruptCrc = fault?.kind === "crc";
  }

  write(bytes: Buffer): void | typeof NACK {
    if (this.clock() < this.busyUntil) return NACK;
    if (bytes.length === 0) return; // address-only probe
    if (bytes.length !== 2) {
      // A lone byte (e.g. an SMBus register pointer) is half a command: the chip waits for the rest.
      return;
    }
    const command = bytes.readUInt16BE(0);
    this.commands.push(command);
    if (this.commands.length > COMMAND_HISTORY) this.commands.shift();
    return this.execute(command);
  }

  read(length: number): Buffer | typeof NACK {
    const now = this.clock();
    if (now < this.busyUntil || this.answer === null || now < this.answer.readyAt) return NACK;
    const { bytes } = this.answer;
    this.answer = null; // read once: after that there is no data until the next command
    return bytes.subarray(0, Math.min(length, bytes.length));
  }

  powerCycle(): void {
    this.reset(POWER_UP_MS);
  }

  private execute(command: number): void | typeof NACK {
    this.answer = null; // a new command abandons whatever was not read
    const repeatability = SINGLE_SHOT.get(command);
    if (repeatability !== undefined) {
      const readyAt = this.clock() + this.measurementMs(MEASUREMENT_MS[repeatability]);
      this.answer = { bytes: this.words(this.measure()), readyAt };
      return;
    }
    switch (command) {
      case CMD_SOFT_RESET:
        this.reset(RESET_MS);
        return;
      case CMD_BREAK:
        return;
      case CMD_READ_STATUS:
        this.answer = { bytes: this.words([this.status]), readyAt: this.clock() };
        this.status &= ~STATUS_COMMAND_FAILED; // reports the last command; reading it is a command too
        return;
      case CMD_CLEAR_STATUS:
        this.status &= ~STATUS_CLEARABLE;
        return;
      case CMD_HEATER_ON:
        this.status |= STATUS_HEATER;
        return;
      case CMD_HEATER_OFF:
        this.status &= ~STATUS_HEATER;
        return;
      default:
        this.status |= STATUS_COMMAND_FAILED;
        return NACK;
    }
  }

  private reset(time: { typical: number; max: number }): void {
    this.status = STATUS_AFTER_RESET;
    this.answer = null;
    const ms = this.timing === "instant" ? 0 : this.timing === "max" ? time.max : time.typical;
    this.busyUntil = this.clock() + ms;
  }

  /** Raw S_T, S_RH for the current (or frozen) environment: the inverse of the data sheet's §4.13 formulas. */
  private measure(): number[] {
    if (this.rawOverride !== null) return [this.rawOverride.temperature & 0xffff, this.rawOverride.humidity & 0xffff];
    const { temperature, humidity } = this.frozen ?? this.environment;
    const toRaw = (fraction: number) => Math.round(Math.min(Math.max(fraction, 0), 1) * 0xffff);
    return [toRaw((temperature + 45) / 175), toRaw(humidity / 100)];
  }

  /** Words as sent on the wire: MSB, LSB, CRC for each. */
  private words(values: number[]): Buffer {
    const out = Buffer.alloc(values.length * 3);
    values.forEach((value, i) => {
      out.writeUInt16BE(value, i * 3);
      const crc = sensirionCrc8(out.subarray(i * 3, i * 3 + 2));
      out[i * 3 + 2] = this.corruptCrc && i === 0 ? crc ^ 0xff : crc;
    });
    return out;
  }

  private measurementMs(time: { typical: number; max: number }): number {
    if (this.timing === "instant") return 0;
    if (typeof this.timing === "object") return this.timing.ms;
    return time[this.timing];
  }
}

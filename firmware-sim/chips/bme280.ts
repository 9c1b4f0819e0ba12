// A register-level model of the Bosch BME280 (humidity, pressure, temperature) on I2C.
// Source: Bosch BME280 data sheet BST-BME280-DS002 (rev 1.6): memory map §5.3, registers §5.4,
// trimming parameters Table 16, compensation formulas §4.2.3 and appendix 8.1, timing appendix 9.
//
// The model holds physical values (°C, Pa, %RH). When a conversion runs it produces the raw ADC
// values a real chip with this model's trimming would produce, by numerically inverting the
// data sheet's compensation (bisection over the ADC range; compensation is monotonic in the ADC
// value). It inverts the FLOATING-POINT formulas (appendix 8.1), while drivers typically use the
// integer ones (§4.2.3): the two are separate transcriptions, so a slip in either shows up as a
// mismatch larger than the ADC resolution.
//
// Modelled: chip id, soft reset (with a short NVM copy reported by status.im_update), ctrl_hum
// latched by the next ctrl_meas write, forced mode (measuring for a simulated time, then back to
// sleep), normal mode (always fresh data), oversampling resolution (16 bit at ×1 … 20 bit at ×16,
// 20 bit whenever the IIR filter is on), skipped measurements (0x80000 / 0x8000).
// Not modelled: the IIR filter's smoothing, standby timing in normal mode, SPI, noise.
// Faults: "stuck" (conversions keep measuring the environment of the moment it was set) is the model's own;
// bus faults (eio, nack, unplug, slow) are the simulated bus's. Replugging power-cycles the chip like a reset.
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimI2cDevice } from "../i2c.ts";

export const BME280_CHIP_ID = 0x60;
/** BMP280 (mass production): same pressure/temperature registers, no humidity. */
export const BMP280_CHIP_ID = 0x58;

const REG_CALIB_TP = 0x88; // 0x88..0xA1: dig_T1..dig_P9, reserved 0xA0, dig_H1 at 0xA1
const REG_ID = 0xd0;
const REG_RESET = 0xe0;
const REG_CALIB_H = 0xe1; // 0xE1..0xE7: dig_H2..dig_H6
const REG_CTRL_HUM = 0xf2;
const REG_STATUS = 0xf3;
const REG_CTRL_MEAS = 0xf4;
const REG_CONFIG = 0xf5;
const REG_DATA = 0xf7; // 0xF7..0xFE: press msb/lsb/xlsb, temp msb/lsb/xlsb, hum msb/lsb
const RESET_COMMAND = 0xb6;

/** Data registers after power-on or reset (data sheet §5.3): the "skipped" values. */
const DATA_RESET = [0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00] as const;
const SKIPPED_20BIT = 0x80000;
const SKIPPED_16BIT = 0x8000;

/** Trimming parameters (data sheet Table 16), as the driver reads them back. */
export interface Bme280Calibration {
  digT1: number; // unsigned 16
  digT2: number; // signed 16
  digT3: number;
  digP1: number; // unsigned 16
  digP2: number; // signed 16 (P2..P9)
  digP3: number;
  digP4: number;
  digP5: number;
  digP6: number;
  digP7: number;
  digP8: number;
  digP9: number;
  digH1: number; // unsigned 8
  digH2: number; // signed 16
  digH3: number; // unsigned 8
  digH4: number; // signed 12
  digH5: number; // signed 12
  digH6: number; // signed 8
}

/**
 * T and P: the worked example of the Bosch BMP280 data sheet (BST-BMP280-DS001, §3.12), which the
 * BME280 shares register for register; there adc_T = 519888 gives 25.08 °C and adc_P = 415148 gives
 * 100653.27 Pa. H: the data sheet has no humidity example; these are of the size real chips carry.
 */
export const DATASHEET_EXAMPLE_CALIBRATION: Readonly<Bme280Calibration> = Object.freeze({
  digT1: 27504,
  digT2: 26435,
  digT3: -1000,
  digP1: 36477,
  digP2: -10685,
  digP3: 3024,
  digP4: 2855,
  digP5: 140,
  digP6: -7,
  digP7: 15500,
  digP8: -14600,
  digP9: 6000,
  digH1: 75,
  digH2: 362,
  digH3: 0,
  digH4: 313,
  digH5: 50,
  digH6: 30,
});

/** What the chip is exposed to. */
export interface Bme280Environment {
  /** °C */
  temperature: number;
  /** Pa */
  pressure: number;
  /** %RH */
  humidity: number;
}

/** Raw ADC words: 20-bit temperature and pressure, 16-bit humidity. */
export interface Bme280RawAdc {
  temperature: number;
  pressure: number;
  humidity: number;
}

/**
 * How long a forced conversion keeps status.measuring set: "instant" (none), "typical" or "max"
 * (data sheet appendix 9.1 for the selected oversampling), or a fixed number of milliseconds.
 */
export type Bme280Timing = "instant" | "typical" | "max" | { ms: number };

export interface SimBme280Options {
  /** 0x60 (default). Set 0x58 to impersonate a BMP280 at the id register. */
  chipId?: number;
  calibration?: Bme280Calibration;
  environment?: Partial<Bme280Environment>;
  /** Default "typical". "instant" also makes the post-reset NVM copy instantaneous. */
  timing?: Bme280Timing;
  /** Milliseconds, monotonic. Default performance.now(). */
  clock?: () => number;
}

/** How many ctrl_meas writes SimBme280 remembers for tests to inspect. */
export const CTRL_MEAS_HISTORY = 64;

interface PendingConversion {
  endsAt: number;
  data: Buffer;
}

export class SimBme280 implements SimI2cDevice, Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["stuck"];
  readonly chipId: number;
  readonly calibration: Readonly<Bme280Calibration>;
  /**
   * The latest values written to ctrl_meas (0xF4), oldest first: at most CTRL_MEAS_HISTORY, since every forced
   * read writes it and a simulated gateway runs for hours (an unbounded list grew the agent's heap in the soak).
   */
  readonly ctrlMeasWrites: number[] = [];
  /** Conversions started in forced mode. */
  forcedConversions = 0;

  private environment: Bme280Environment = { temperature: 20, pressure: 101325, humidity: 50 };
  /** While "stuck": what the sensing elements keep reporting. */
  private frozen: Bme280Environment | null = null;
  private rawOverride: Partial<Bme280RawAdc> | null = null;
  private readonly timing: Bme280Timing;
  private readonly clock: () => number;
  private readonly nvm = new Uint8Array(256);

  private pointer = 0;
  private ctrlHum = 0;
  private ctrlHumLatched = 0;
  private ctrlMeas = 0;
  private config = 0;
  private data: Buffer = Buffer.from(DATA_RESET);
  private pending: PendingConversion | null = null;
  private nvmCopyUntil = Number.NEGATIVE_INFINITY;

  constructor(options: SimBme280Options = {}) {
    this.chipId = options.chipId ?? BME280_CHIP_ID;
    this.calibration = Object.freeze({ ...(options.calibration ?? DATASHEET_EXAMPLE_CALIBRATION) });
    this.timing = options.timing ?? "typical";
    this.clock = options.clock ?? (() => performance.now());
    this.setEnvironment(options.environment ?? {});
    writeCalibration(this.nvm, this.calibration);
  }

  /** Sets what the next conversions measure; omitted quantities keep their value. */
  setEnvironment(values: Partial<Bme280Environment>): void {
    this.environment = { ...this.environment, ...values };
  }

  getEnvironment(): Bme280Environment {
    return { ...this.environment };
  }

  /** "stuck": conversions keep measuring the environment of this moment (the chip itself keeps working). */
  setFault(fault: Fault | null): void {
    if (fault !== null && !this.supportedFaults.includes(fault.kind)) {
      throw new Error(`the BME280 model cannot inject "${fault.kind}"`);
    }
    this.frozen = fault?.kind === "stuck" ? (this.frozen ?? { ...this.environment }) : null;
  }

  /** Power restored: registers as after a reset (the trimming NVM keeps its contents). */
  powerCycle(): void {
    this.reset();
  }

  /**
   * Makes conversions report these ADC words as they are, bypassing the physical values (for checking
   * a driver against the data sheet's worked example). Omitted quantities still come from the
   * environment; `null` goes back to the environment entirely. A skipped measurement still reads 0x80000.
   */
  setRawAdc(raw: Partial<Bme280RawAdc> | null): void {
    this.rawOverride = raw === null ? null : { ...raw };
  }

  /** The raw words a conversion at the current settings would report (what the model inverts to). */
  rawAdcFor(environment: Bme280Environment = this.environment): Bme280RawAdc {
    const osrsT = (this.ctrlMeas >> 5) & 0x7;
    const osrsP = (this.ctrlMeas >> 2) & 0x7;
    const filtered = ((this.config >> 2) & 0x7) !== 0;
    const tBits = filtered ? 20 : resolutionBits(osrsT);
    const pBits = filtered ? 20 : resolutionBits(osrsP);
    return invertCompensation(this.calibration, environment, tBits, pBits);
  }

  write(bytes: Buffer): void {
    this.tick();
    const first = bytes[0];
    if (first === undefined) return; // address-only write (a probe)
    this.pointer = first;
    // I2C writes on the BME280 are register/value pairs; there is no auto-increment on write (§6.2.1).
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const register = bytes[i] ?? 0;
      const value = bytes[i + 1] ?? 0;
      this.writeRegister(register, value);
    }
  }

  read(length: number): Buffer {
    this.tick();
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      out[i] = this.readRegister(this.pointer);
      if (this.pointer < 0xff) this.pointer += 1; // auto-increment on read
    }
    return out;
  }

  private readRegister(register: number): number {
    if (register === REG_ID) return this.chipId;
    if (register === REG_CTRL_HUM) return this.ctrlHum;
    if (register === REG_STATUS) {
      const measuring = this.pending !== null ? 0x08 : 0;
      const imUpdate = this.clock() < this.nvmCopyUntil ? 0x01 : 0;
      return measuring | imUpdate;
    }
    if (register === REG_CTRL_MEAS) return this.ctrlMeas;
    if (register === REG_CONFIG) return this.config;
    if (register >= REG_DATA && register < REG_DATA + 8) return this.data[register - REG_DATA] ?? 0;
    const isCalibration =
      (register >= REG_CALIB_TP && register <= REG_CALIB_TP + 25) || (register >= REG_CALIB_H && register <= REG_CALIB_H + 6);
    if (isCalibration) {
      // While the NVM is being copied after a reset the trimming registers do not hold it yet.
      return this.clock() < this.nvmCopyUntil ? 0x00 : (this.nvm[register] ?? 0);
    }
    return 0x00; // reserved
  }

  private writeRegister(register: number, value: number): void {
    switch (register) {
      case REG_RESET:
        if (value === RESET_COMMAND) this.reset();
        return;
      case REG_CTRL_HUM:
        this.ctrlHum = value & 0x07; // takes effect with the next ctrl_meas write (§5.4.3)
        return;
      case REG_CTRL_MEAS:
        this.ctrlMeasWrites.push(value);
        if (this.ctrlMeasWrites.length > CTRL_MEAS_HISTORY) this.ctrlMeasWrites.shift();
        this.ctrlMeas = value;
        this.ctrlHumLatched = this.ctrlHum;
        this.startMode(value & 0x03);
        return;
      case REG_CONFIG:
        this.config = value & 0xfd; // bit 1 is reserved
        return;
      default:
        return; // read-only or reserved: ignored
    }
  }

  private startMode(mode: number): void {
    if (mode === 0b00) {
      this.pending = null;
      return;
    }
    if (mode === 0b11) {
      // Normal mode: treated as always holding a fresh measurement (standby timing not modelled).
      this.pending = null;
      this.data = this.convert();
      return;
    }
    // Forced (0b01 or 0b10): one conversion, then back to sleep.
    this.forcedConversions += 1;
    const data = this.convert();
    const duration = this.conversionMs();
    if (duration <= 0) {
      this.finish(data);
    } else {
      this.pending = { endsAt: this.clock() + duration, data };
    }
  }

  private finish(data: Buffer): void {
    this.data = data;
    this.pending = null;
    this.ctrlMeas &= ~0x03; // forced mode returns to sleep
  }

  /** Lets simulated time pass: completes a conversion whose time is up, refreshes normal mode. */
  private tick(): void {
    if (this.pending !== null && this.clock() >= this.pending.endsAt) this.finish(this.pending.data);
    if ((this.ctrlMeas & 0x03) === 0b11) this.data = this.convert();
  }

  private reset(): void {
    this.ctrlHum = 0;
    this.ctrlHumLatched = 0;
    this.ctrlMeas = 0;
    this.config = 0;
    this.data = Buffer.from(DATA_RESET);
    this.pending = null;
    this.nvmCopyUntil = this.timing === "instant" ? Number.NEGATIVE_INFINITY : this.clock() + 2; // start-up time 2 ms
  }

  /** Data registers 0xF7..0xFE for one conversion at the current settings. */
  private convert(): Buffer {
    const osrsT = (this.ctrlMeas >> 5) & 0x7;
    const osrsP = (this.ctrlMeas >> 2) & 0x7;
    const osrsH = this.ctrlHumLatched & 0x7;
    const physical = this.rawAdcFor(this.frozen ?? this.environment);
    const raw = { ...physical, ...(this.rawOverride ?? {}) };
    const adcT = osrsT === 0 ? SKIPPED_20BIT : raw.temperature & 0xfffff;
    const adcP = osrsP === 0 ? SKIPPED_20BIT : raw.pressure & 0xfffff;
    const adcH = osrsH === 0 ? SKIPPED_16BIT : raw.humidity & 0xffff;
    return Buffer.from([
      adcP >> 12,
      (adcP >> 4) & 0xff,
      (adcP & 0x0f) << 4,
      adcT >> 12,
      (adcT >> 4) & 0xff,
      (adcT & 0x0f) << 4,
      adcH >> 8,
      adcH & 0xff,
    ]);
  }

  private conversionMs(): number {
    if (this.timing === "instant") return 0;
    if (typeof this.timing === "object") return this.timing.ms;
    const t = oversamplingFactor((this.ctrlMeas >> 5) & 0x7);
    const p = oversamplingFactor((this.ctrlMeas >> 2) & 0x7);
    const h = oversamplingFactor(this.ctrlHumLatched & 0x7);
    // Data sheet appendix 9.1, measurement time.
    if (this.timing === "typical") return 1 + 2 * t + (p > 0 ? 2 * p + 0.5 : 0) + (h > 0 ? 2 * h + 0.5 : 0);
    return 1.25 + 2.3 * t + (p > 0 ? 2.3 * p + 0.575 : 0) + (h > 0 ? 2.3 * h + 0.575 : 0);
  }
}

/** osrs_x field → samples (0 = skipped). */
function oversamplingFactor(code: number): number {
  return code === 0 ? 0 : Math.min(16, 1 << (code - 1));
}

/** ADC resolution without the IIR filter: 16 bit at ×1 up to 20 bit at ×16 (§3.4, Table 4/5). */
function resolutionBits(code: number): number {
  return 15 + Math.min(Math.max(code, 1), 5);
}

// ---- The data sheet's floating-point compensation (appendix 8.1), and its inverse. ----

function temperatureDouble(c: Bme280Calibration, adcT: number): { celsius: number; tFine: number } {
  const var1 = (adcT / 16384 - c.digT1 / 1024) * c.digT2;
  const base = adcT / 131072 - c.digT1 / 8192;
  const var2 = base * base * c.digT3;
  return { celsius: (var1 + var2) / 5120, tFine: Math.trunc(var1 + var2) };
}

function pressureDouble(c: Bme280Calibration, adcP: number, tFine: number): number {
  let var1 = tFine / 2 - 64000;
  let var2 = (var1 * var1 * c.digP6) / 32768;
  var2 = var2 + var1 * c.digP5 * 2;
  var2 = var2 / 4 + c.digP4 * 65536;
  var1 = ((c.digP3 * var1 * var1) / 524288 + c.digP2 * var1) / 524288;
  var1 = (1 + var1 / 32768) * c.digP1;
  if (var1 === 0) return 0;
  let p = 1048576 - adcP;
  p = ((p - var2 / 4096) * 6250) / var1;
  var1 = (c.digP9 * p * p) / 2147483648;
  var2 = (p * c.digP8) / 32768;
  return p + (var1 + var2 + c.digP7) / 16;
}

function humidityDouble(c: Bme280Calibration, adcH: number, tFine: number): number {
  let h = tFine - 76800;
  h =
    (adcH - (c.digH4 * 64 + (c.digH5 / 16384) * h)) *
    ((c.digH2 / 65536) * (1 + (c.digH6 / 67108864) * h * (1 + (c.digH3 / 67108864) * h)));
  h = h * (1 - (c.digH1 * h) / 524288);
  return Math.min(100, Math.max(0, h));
}

/** Raw words whose compensation lands closest to `env`, on the grid of the given resolutions. */
function invertCompensation(c: Bme280Calibration, env: Bme280Environment, tBits: number, pBits: number): Bme280RawAdc {
  const tShift = 20 - tBits;
  const tStep = nearest((k) => temperatureDouble(c, k << tShift).celsius, 0, (1 << tBits) - 1, env.temperature);
  const adcT = tStep << tShift;
  const { tFine } = temperatureDouble(c, adcT);
  const pShift = 20 - pBits;
  const pStep = nearest((k) => pressureDouble(c, k << pShift, tFine), 0, (1 << pBits) - 1, env.pressure);
  const adcH = nearest((k) => humidityDouble(c, k, tFine), 0, 0xffff, env.humidity);
  return { temperature: adcT, pressure: pStep << pShift, humidity: adcH };
}

/** The integer x in [lo, hi] minimising |f(x) − target| for a monotonic f (either direction). */
function nearest(f: (x: number) => number, lo: number, hi: number, target: number): number {
  const increasing = f(hi) >= f(lo);
  const below = (x: number) => (increasing ? f(x) < target : f(x) > target);
  // First x where f has reached the target, by bisection.
  let a = lo;
  let b = hi;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (below(mid)) a = mid + 1;
    else b = mid;
  }
  if (a > lo && Math.abs(f(a - 1) - target) <= Math.abs(f(a) - target)) return a - 1;
  return a;
}

/** Lays the trimming parameters out in NVM as Table 16 does (little-endian, H4/H5 nibble-packed). */
function writeCalibration(nvm: Uint8Array, c: Bme280Calibration): void {
  const words = [c.digT1, c.digT2, c.digT3, c.digP1, c.digP2, c.digP3, c.digP4, c.digP5, c.digP6, c.digP7, c.digP8, c.digP9];
  words.forEach((word, i) => {
    nvm[REG_CALIB_TP + 2 * i] = word & 0xff;
    nvm[REG_CALIB_TP + 2 * i + 1] = (word >> 8) & 0xff;
  });
  nvm[0xa1] = c.digH1 & 0xff;
  nvm[0xe1] = c.digH2 & 0xff;
  nvm[0xe2] = (c.digH2 >> 8) & 0xff;
  nvm[0xe3] = c.digH3 & 0xff;
  nvm[0xe4] = (c.digH4 >> 4) & 0xff; // dig_H4 [11:4]
  nvm[0xe5] = (c.digH4 & 0x0f) | ((c.digH5 & 0x0f) << 4); // dig_H4 [3:0] | dig_H5 [3:0] << 4
  nvm[0xe6] = (c.digH5 >> 4) & 0xff; // dig_H5 [11:4]
  nvm[0xe7] = c.digH6 & 0xff;
}

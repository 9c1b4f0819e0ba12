// A register-level model of the Texas Instruments ADS1115 16-bit delta-sigma ADC on I2C.
// Source: TI ADS111x data sheet (SBAS444): pointer register and register map §9.6, Config register
// Table 8 (OS, MUX, PGA, MODE, DR, comparator bits; reset value 0x8583), conversion register and
// full-scale codes §9.3.3 (Table 3: FSR and LSB size), I2C reads and writes MSB first (§9.5.3).
//
// The model holds a voltage per input (AIN0..AIN3, relative to GND). A conversion takes the MUX's
// differential voltage, divides by the PGA's LSB size (FSR / 2^15) and clips to 0x7FFF / 0x8000.
// Single-shot mode: writing OS = 1 while powered down starts one conversion; while it runs, OS reads 0;
// it takes 1 / DR. Continuous mode: the conversion register follows the input once the first conversion
// is done. The conversion register reads 0 after power-up until a conversion completes.
// Not modelled: the comparator and ALERT/RDY pin (threshold registers are stored only), the ±10 %
// oscillator spread, noise and offset, the absolute input limits (GND − 0.3 V … VDD + 0.3 V).
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimI2cDevice } from "../i2c.ts";

export const REG_CONVERSION = 0x00;
export const REG_CONFIG = 0x01;
const REG_LO_THRESH = 0x02;
const REG_HI_THRESH = 0x03;

export const CONFIG_RESET = 0x8583;
const OS = 0x8000;
const MODE_SINGLE_SHOT = 0x0100;

/** Full-scale range in volts per PGA[2:0] (codes 110 and 111 are ±0.256 V as well). */
export const PGA_FULL_SCALE = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256] as const;
/** Samples per second per DR[2:0]. */
export const DATA_RATES = [8, 16, 32, 64, 128, 250, 475, 860] as const;

/** Input voltages against GND, AIN0..AIN3. */
export type Ads1115Inputs = [number, number, number, number];

/** How long a conversion takes: "instant", "nominal" (1 / DR) or a fixed number of milliseconds. */
export type Ads1115Timing = "instant" | "nominal" | { ms: number };

export interface SimAds1115Options {
  /** Volts by input index, e.g. `{ 0: 1.2, 3: 2.5 }` or `[1.2, 0, 0, 2.5]`. */
  inputs?: Readonly<Record<number, number>>;
  /** Default "nominal". */
  timing?: Ads1115Timing;
  /** Milliseconds, monotonic. Default performance.now(). */
  clock?: () => number;
}

/** The conversion result for `volts` at full-scale range `fullScale`: two's complement, clipped. */
export function outputCode(volts: number, fullScale: number): number {
  const code = Math.round((volts / fullScale) * 0x8000);
  return Math.min(Math.max(code, -0x8000), 0x7fff);
}

export class SimAds1115 implements SimI2cDevice, Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["stuck"];
  /** Conversions started in single-shot mode. */
  singleShotConversions = 0;

  private inputs: Ads1115Inputs = [0, 0, 0, 0];
  /** While "stuck": the inputs every conversion keeps seeing. */
  private frozen: Ads1115Inputs | null = null;
  private readonly timing: Ads1115Timing;
  private readonly clock: () => number;

  private pointer = REG_CONVERSION;
  private config = CONFIG_RESET & ~OS;
  private loThresh = 0x8000;
  private hiThresh = 0x7fff;
  private conversion = 0;
  /** A conversion under way: when it completes. */
  private convertingUntil: number | null = null;

  constructor(options: SimAds1115Options = {}) {
    this.timing = options.timing ?? "nominal";
    this.clock = options.clock ?? (() => performance.now());
    this.setInputs(options.inputs ?? {});
  }

  /** Sets input voltages by index (AIN0..AIN3); omitted inputs keep theirs. */
  setInputs(values: Readonly<Record<number, number>>): void {
    const next: Ads1115Inputs = [...this.inputs];
    for (const [key, volts] of Object.entries(values)) {
      const index = Number(key);
      if (index >= 0 && index <= 3) next[index] = volts;
    }
    this.inputs = next;
  }

  getInputs(): Ads1115Inputs {
    return [...this.inputs];
  }

  /** "stuck": conversions keep seeing the inputs of this moment (the chip itself keeps working). */
  setFault(fault: Fault | null): void {
    if (fault !== null && !this.supportedFaults.includes(fault.kind)) {
      throw new Error(`the ADS1115 model cannot inject "${fault.kind}"`);
    }
    this.frozen = fault?.kind === "stuck" ? (this.frozen ?? [...this.inputs]) : null;
  }

  write(bytes: Buffer): void {
    this.tick();
    const pointer = bytes[0];
    if (pointer === undefined) return; // address-only probe
    this.pointer = pointer & 0x03;
    if (bytes.length < 3) return; // a pointer write only selects what the next read returns
    const value = ((bytes[1] ?? 0) << 8) | (bytes[2] ?? 0);
    switch (this.pointer) {
      case REG_CONFIG:
        this.writeConfig(value);
        return;
      case REG_LO_THRESH:
        this.loThresh = value;
        return;
      case REG_HI_THRESH:
        this.hiThresh = value;
        return;
      default:
        return; // the conversion register is read-only
    }
  }

  read(length: number): Buffer {
    this.tick();
    const word = this.registerValue(this.pointer);
    // Registers are 16 bits, MSB first; reading on repeats the same register.
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = i % 2 === 0 ? word >> 8 : word & 0xff;
    return out;
  }

  powerCycle(): void {
    this.pointer = REG_CONVERSION;
    this.config = CONFIG_RESET & ~OS;
    this.loThresh = 0x8000;
    this.hiThresh = 0x7fff;
    this.conversion = 0;
    this.convertingUntil = null;
  }

  private registerValue(pointer: number): number {
    switch (pointer) {
      case REG_CONVERSION:
        return this.conversion & 0xffff;
      case REG_CONFIG:
        return this.config | (this.convertingUntil === null ? OS : 0);
      case REG_LO_THRESH:
        return this.loThresh;
      default:
        return this.hiThresh;
    }
  }

  private writeConfig(value: number): void {
    const startSingleShot = (value & OS) !== 0 && (value & MODE_SINGLE_SHOT) !== 0 && this.convertingUntil === null;
    this.config = value & ~OS;
    if ((value & MODE_SINGLE_SHOT) === 0) {
      // Continuous mode: converting from now on; the first result arrives after one conversion time.
      this.convertingUntil = this.clock() + this.conversionMs();
      return;
    }
    if (startSingleShot) {
      this.singleShotConversions += 1;
      this.convertingUntil = this.clock() + this.conversionMs();
      this.tick();
    }
  }

  /** Lets simulated time pass: a conversion whose time is up lands in the conversion register. */
  private tick(): void {
    if (this.convertingUntil === null || this.clock() < this.convertingUntil) return;
    this.conversion = this.convert();
    // In continuous mode the chip keeps converting: later reads see fresh results.
    this.convertingUntil = (this.config & MODE_SINGLE_SHOT) === 0 ? this.clock() : null;
  }

  private convert(): number {
    const inputs = this.frozen ?? this.inputs;
    const mux = (this.config >> 12) & 0x7;
    const fullScale = PGA_FULL_SCALE[(this.config >> 9) & 0x7] ?? 2.048;
    const at = (index: number) => inputs[index] ?? 0;
    // MUX[2:0] (Table 8): 000 AIN0−AIN1, 001 AIN0−AIN3, 010 AIN1−AIN3, 011 AIN2−AIN3, 1xx AINx−GND.
    const differential = [at(0) - at(1), at(0) - at(3), at(1) - at(3), at(2) - at(3)];
    const volts = mux >= 4 ? at(mux - 4) : (differential[mux] ?? 0);
    return outputCode(volts, fullScale);
  }

  private conversionMs(): number {
    if (this.timing === "instant") return 0;
    if (typeof this.timing === "object") return this.timing.ms;
    return 1000 / (DATA_RATES[(this.config >> 5) & 0x7] ?? 128);
  }
}

// A register-level model of the NXP PCA9685 16-channel, 12-bit PWM controller on I2C.
// Source: NXP PCA9685 product data sheet (Rev. 4, 16 April 2015): register map Table 4, MODE1 Table 5
// (RESTART, EXTCLK, AI, SLEEP, SUB1..3, ALLCALL; reset 0x11), MODE2 Table 6 (INVRT, OCH, OUTDRV, OUTNE;
// reset 0x04), LEDn_ON/OFF and ALL_LED registers Table 7 (bit 4 of LEDn_ON_H is full on, bit 4 of
// LEDn_OFF_H full off and takes precedence; LEDn_OFF_H resets to 0x10, every output off), restart §7.3.1.1,
// PRE_SCALE §7.3.5 (Equation 1, reset 0x1E = 200 Hz, minimum 3, writable only while SLEEP is set).
//
// What the model keeps: the register pointer moves on after each byte only while MODE1's AI bit is set
// (from LED15_OFF_H and from PRE_SCALE back to MODE1); without it, every byte of a transfer goes to the
// same register. A write to ALL_LED_x loads that byte into every channel's register x; the ALL_LED
// registers read back as zero. Putting the chip to sleep while a channel runs sets RESTART; writing 1 to
// RESTART clears it once the oscillator has been awake 500 µs (earlier, the write is not taken); writing a
// channel register clears it too (the data sheet's rule for OCH = 0; the model applies it whatever OCH says).
// EXTCLK, once set, stays set until power is cycled. Reserved bits and registers read as zero.
// Not modelled: the sub-addresses and the All Call address (the chip answers at its own address only),
// software reset, the external clock input, output drive and polarity (MODE2 is stored only), the phase of
// each output within the period, and OE.
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimI2cDevice } from "../i2c.ts";

export const REG_MODE1 = 0x00;
export const REG_MODE2 = 0x01;
const REG_SUBADR1 = 0x02;
const REG_SUBADR2 = 0x03;
const REG_SUBADR3 = 0x04;
const REG_ALLCALLADR = 0x05;
export const REG_LED0_ON_L = 0x06;
const REG_LED15_OFF_H = 0x45;
export const REG_ALL_LED_ON_L = 0xfa;
const REG_ALL_LED_OFF_H = 0xfd;
export const REG_PRE_SCALE = 0xfe;

export const MODE1_RESTART = 0x80;
const MODE1_EXTCLK = 0x40;
export const MODE1_AI = 0x20;
export const MODE1_SLEEP = 0x10;
export const MODE1_RESET = 0x11; // SLEEP | ALLCALL
export const MODE2_RESET = 0x04; // OUTDRV: totem pole
export const PRE_SCALE_RESET = 0x1e;
export const PRE_SCALE_MIN = 3;
/** Bit 4 of LEDn_ON_H (full on) and of LEDn_OFF_H (full off). */
export const LED_FULL = 0x10;
/** LEDn_x_H carries 4 count bits and the full bit; bits 7:5 are reserved. */
const LED_HIGH_MASK = 0x1f;

export const CHANNELS = 16;
export const OSCILLATOR_HZ = 25_000_000;
/** The data sheet's wait between clearing SLEEP and writing RESTART: the oscillator's start-up. */
export const OSCILLATOR_STARTUP_MS = 0.5;

/** The PWM frequency a PRE_SCALE value gives with the internal 25 MHz oscillator (Equation 1 turned round). */
export function frequencyOf(prescale: number): number {
  return OSCILLATOR_HZ / (4096 * (prescale + 1));
}

export interface SimPca9685Options {
  /** Milliseconds, monotonic. Default performance.now(). */
  clock?: () => number;
}

/** One channel's four registers, decoded. */
export interface ChannelRegisters {
  on: number;
  off: number;
  fullOn: boolean;
  fullOff: boolean;
}

export class SimPca9685 implements SimI2cDevice, Faultable {
  /** Only the bus's faults (eio, nack, unplug, slow) apply: the chip has no readings to corrupt. */
  readonly supportedFaults: readonly FaultKind[] = [];
  /** Writes of 1 to RESTART that restarted the channels. */
  restarts = 0;

  private readonly clock: () => number;
  private readonly registers = new Uint8Array(256);
  private pointer = REG_MODE1;
  /** When SLEEP was last cleared; null while asleep. */
  private awakeSince: number | null = null;

  constructor(options: SimPca9685Options = {}) {
    this.clock = options.clock ?? (() => performance.now());
    this.powerCycle();
  }

  setFault(fault: Fault | null): void {
    if (fault !== null) throw new Error(`the PCA9685 model cannot inject "${fault.kind}"`);
  }

  powerCycle(): void {
    this.registers.fill(0);
    this.registers[REG_MODE1] = MODE1_RESET;
    this.registers[REG_MODE2] = MODE2_RESET;
    this.registers[REG_SUBADR1] = 0xe2;
    this.registers[REG_SUBADR2] = 0xe4;
    this.registers[REG_SUBADR3] = 0xe8;
    this.registers[REG_ALLCALLADR] = 0xe0;
    for (let channel = 0; channel < CHANNELS; channel++) this.registers[offHigh(channel)] = LED_FULL;
    this.registers[REG_PRE_SCALE] = PRE_SCALE_RESET;
    this.pointer = REG_MODE1;
    this.awakeSince = null;
  }

  write(bytes: Buffer): void {
    const [pointer, ...data] = bytes;
    if (pointer === undefined) return; // address-only probe
    this.pointer = pointer;
    for (const value of data) {
      this.writeRegister(this.pointer, value);
      this.advance();
    }
  }

  read(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      out[i] = this.readRegister(this.pointer);
      this.advance();
    }
    return out;
  }

  /** A register as the bus would read it. */
  register(address: number): number {
    return this.readRegister(address);
  }

  get sleeping(): boolean {
    return (this.mode1 & MODE1_SLEEP) !== 0;
  }

  get prescale(): number {
    return this.registers[REG_PRE_SCALE] ?? PRE_SCALE_RESET;
  }

  /** The PWM frequency in Hz the chip runs at now. */
  get frequency(): number {
    return frequencyOf(this.prescale);
  }

  channel(channel: number): ChannelRegisters {
    const base = channelBase(channel);
    const at = (offset: number) => this.registers[base + offset] ?? 0;
    return {
      on: at(0) | ((at(1) & 0x0f) << 8),
      off: at(2) | ((at(3) & 0x0f) << 8),
      fullOn: (at(1) & LED_FULL) !== 0,
      fullOff: (at(3) & LED_FULL) !== 0,
    };
  }

  /**
   * The fraction of each period the output is high (MODE2's INVRT not applied); undefined while SLEEP is set:
   * the PWM counter stops with the oscillator.
   */
  dutyCycle(channel: number): number | undefined {
    if (this.sleeping) return undefined;
    const { on, off, fullOn, fullOff } = this.channel(channel);
    if (fullOff) return 0; // full off takes precedence over full on
    if (fullOn) return 1;
    // High from count ON to count OFF, wrapping at 4096 (the data sheet says never to program them equal).
    return (off - on + 4096) % 4096 / 4096;
  }

  private get mode1(): number {
    return this.registers[REG_MODE1] ?? MODE1_RESET;
  }

  private advance(): void {
    if ((this.mode1 & MODE1_AI) === 0) return;
    this.pointer = this.pointer === REG_LED15_OFF_H || this.pointer >= REG_PRE_SCALE ? REG_MODE1 : this.pointer + 1;
  }

  private readRegister(address: number): number {
    const inReservedGap = address > REG_LED15_OFF_H && address < REG_ALL_LED_ON_L;
    const allLed = address >= REG_ALL_LED_ON_L && address <= REG_ALL_LED_OFF_H;
    return inReservedGap || allLed ? 0 : (this.registers[address] ?? 0);
  }

  private writeRegister(address: number, value: number): void {
    if (address === REG_MODE1) return this.writeMode1(value);
    if (address === REG_MODE2) {
      this.registers[REG_MODE2] = value & 0x1f;
      return;
    }
    if (address >= REG_SUBADR1 && address <= REG_ALLCALLADR) {
      this.registers[address] = value & 0xfe; // 7-bit addresses, stored left-aligned
      return;
    }
    if (address >= REG_LED0_ON_L && address <= REG_LED15_OFF_H) {
      this.writeLed(address, value);
      return;
    }
    if (address >= REG_ALL_LED_ON_L && address <= REG_ALL_LED_OFF_H) {
      const offset = address - REG_ALL_LED_ON_L;
      for (let channel = 0; channel < CHANNELS; channel++) this.writeLed(channelBase(channel) + offset, value);
      return;
    }
    if (address === REG_PRE_SCALE && this.sleeping) this.registers[REG_PRE_SCALE] = Math.max(value, PRE_SCALE_MIN);
    // PRE_SCALE while awake, the reserved registers and TestMode: not taken.
  }

  private writeLed(address: number, value: number): void {
    const high = (address - REG_LED0_ON_L) % 2 === 1;
    this.registers[address] = high ? value & LED_HIGH_MASK : value;
    this.registers[REG_MODE1] = this.mode1 & ~MODE1_RESTART;
  }

  private writeMode1(value: number): void {
    const before = this.mode1;
    let restart = before & MODE1_RESTART;
    const wasAsleep = (before & MODE1_SLEEP) !== 0;
    const sleep = (value & MODE1_SLEEP) !== 0;
    if (!wasAsleep && sleep) {
      if (this.anyChannelRunning()) restart = MODE1_RESTART;
      this.awakeSince = null;
    } else if (wasAsleep && !sleep) {
      this.awakeSince = this.clock();
    } else if (!sleep && (value & MODE1_RESTART) !== 0 && this.awakeSince !== null) {
      // Writing 1 clears RESTART (and restarts the channels), once the oscillator has had its 500 µs.
      if (restart !== 0 && this.clock() - this.awakeSince >= OSCILLATOR_STARTUP_MS) {
        restart = 0;
        this.restarts += 1;
      }
    }
    const extclk = (before | value) & MODE1_EXTCLK;
    this.registers[REG_MODE1] = (value & ~(MODE1_RESTART | MODE1_EXTCLK)) | restart | extclk;
  }

  private anyChannelRunning(): boolean {
    for (let channel = 0; channel < CHANNELS; channel++) if (!this.channel(channel).fullOff) return true;
    return false;
  }
}

function channelBase(channel: number): number {
  if (!Number.isInteger(channel) || channel < 0 || channel >= CHANNELS) throw new Error(`PCA9685 has channels 0..15, not ${channel}`);
  return REG_LED0_ON_L + 4 * channel;
}

function offHigh(channel: number): number {
  return channelBase(channel) + 3;
}

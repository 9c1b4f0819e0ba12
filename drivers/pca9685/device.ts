// NXP PCA9685: 16-channel, 12-bit PWM controller on I2C (the chip on the common servo and LED-dimmer boards
// and Pi HATs). One actuator entry drives one channel, with two parameters for the same output: `duty`
// (int 0–4095) and `percent` (double 0–100).
// Data sheet: NXP PCA9685 product data sheet, Rev. 4: register map Table 4, MODE1 Table 5, MODE2 Table 6,
// LEDn_ON/OFF Table 7 and §7.3.3, restart §7.3.1.1, PRE_SCALE §7.3.5 (Equation 1).
//
// The chip has one PWM frequency for all 16 channels, so the entries on one chip (same hal, bus and address)
// share one `Pca9685Chip`: it is set up once, by the first entry that opens, and a later entry asking for a
// different frequency fails to open, naming both. Setup: PRE_SCALE = round(25 MHz / (4096 × f)) − 1 is
// written only if it differs, and only in SLEEP (the chip ignores it otherwise); then SLEEP is cleared,
// and after the oscillator's 500 µs, RESTART is written if the chip set it (channels that ran before the
// sleep carry on). MODE1 also sets AI, so one 4-byte transfer loads a channel's ON and OFF registers.
// Each channel: duty 0 is "full off" (bit 4 of LEDn_OFF_H), 4095 "full on" (bit 4 of LEDn_ON_H), n in
// between ON = 0, OFF = n: high for n/4096 of the period. `percent` is that output: n/4096 · 100, and 100
// for full on; a percent to set goes to the nearest output the chip has.
// A chip that lost power comes back asleep at 200 Hz with AI clear: every write checks MODE1 first and sets
// the chip up again when it finds it so, so a replugged board works from the next write on.
import { setTimeout as sleep } from "node:timers/promises";
import type { Field } from "../../lib/model.ts";
import { OneAtATime } from "../../lib/one-at-a-time.ts";
import type { ActuatorDevice, ParameterSpec, ParameterValue } from "../driver.ts";
import type { Hal, I2cBus } from "../hal.ts";
import { openI2cChip } from "../i2c-chip.ts";
import { describeI2cError, deviceLabel, hex, type I2cDeviceName } from "../i2c-errors.ts";
import { COUNTS, dutyFor, MAX_DUTY, percentOf } from "./index.ts";

const REG_MODE1 = 0x00;
const REG_MODE2 = 0x01;
const REG_LED0_ON_L = 0x06;
const REG_PRE_SCALE = 0xfe;
const MODE1_RESTART = 0x80;
const MODE1_AI = 0x20;
const MODE1_SLEEP = 0x10;
const MODE1_ALLCALL = 0x01;
/** MODE1 while running: auto-increment, All Call answered as after reset, no sub-addresses, internal clock. */
const MODE1_RUN = MODE1_AI | MODE1_ALLCALL;
/** MODE2 as after reset: totem-pole outputs, not inverted, outputs change on the I2C STOP. */
const MODE2_TOTEM_POLE = 0x04;
const LED_FULL = 0x10;
const OSCILLATOR_HZ = 25_000_000;
/**
 * The oscillator needs 500 µs after SLEEP is cleared. Node's timers count whole milliseconds from the loop's cached
 * clock, so a 1 ms timer may fire a few microseconds after it was set: 2 ms is the shortest wait that is sure.
 */
const OSCILLATOR_STARTUP_MS = 2;
const ADDRESS_HINT = "A0–A5 (solder jumpers on most boards) none bridged is 0x40, A0 adds 1, A1 2, A2 4, A3 8, A4 16, A5 32";

/** Equation 1: PRE_SCALE for a PWM frequency with the internal 25 MHz oscillator. */
export function prescaleFor(frequency: number): number {
  return Math.round(OSCILLATOR_HZ / (COUNTS * frequency)) - 1;
}

const PARAMETERS: ParameterSpec[] = [
  { name: "duty", type: "int", min: 0, max: MAX_DUTY, description: "high time in 1/4096 of the period; 0 is off, 4095 fully on" },
  { name: "percent", type: "double", min: 0, max: 100, unit: "%", description: "high time in percent of the period (the same output as duty)" },
];

/** The chips opened so far, per HAL, by "bus:address". */
const chipsByHal = new WeakMap<Hal, Map<string, SharedChip>>();

interface SharedChip {
  frequency: number;
  /** Channels held by open entries. */
  channels: Set<number>;
  /** The chip once it is set up; rejects (and the entry is gone) when setup failed. */
  ready: Promise<Pca9685Chip>;
}

/** A claimed channel of a set-up chip, and how to let go of it. */
interface Claim {
  chip: Pca9685Chip;
  /** Frees the channel; the last one to go closes the chip's bus. */
  release: () => Promise<void>;
}

/**
 * The chip at `name`, set up for `frequency` by the first entry that claims one of its channels. Claims are
 * recorded at once, so entries opened together share one setup and see each other's frequency and channel.
 */
/** Opens one channel of the chip at `i2c`, setting the chip up when no other entry has. */
export async function openPwmChannel(hal: Hal, i2c: { bus: number; address: number }, channel: number, frequency: number, safeDuty: number): Promise<ActuatorDevice> {
  const name: I2cDeviceName = { driver: "pca9685", busNumber: i2c.bus, address: i2c.address, addressHint: ADDRESS_HINT };
  return PwmChannel.open(await claimChannel(hal, name, channel, frequency), channel, safeDuty);
}

async function claimChannel(hal: Hal, name: I2cDeviceName, channel: number, frequency: number): Promise<Claim> {
  const chips = chipsByHal.get(hal) ?? new Map<string, SharedChip>();
  chipsByHal.set(hal, chips);
  const key = `${name.busNumber}:${name.address}`;
  const label = deviceLabel(name);
  let shared = chips.get(key);
  if (shared === undefined) {
    const created: SharedChip = { frequency, channels: new Set(), ready: Pca9685Chip.open(hal, name, frequency) };
    // A chip that failed to set up is forgotten, so a later open tries again.
    created.ready.catch(() => chips.get(key) === created && chips.delete(key));
    chips.set(key, created);
    shared = created;
  } else if (prescaleFor(shared.frequency) !== prescaleFor(frequency)) {
    // Frequencies the chip runs at the same PRE_SCALE (1000 and 1001 Hz) are the same frequency to it.
    const holders = [...shared.channels];
    const others = holders.length === 1 ? `channel ${holders[0]} runs` : `channels ${holders.join(", ")} run`;
    throw new Error(
      `${label}: channel ${channel} asks for ${frequency} Hz, but ${others} this chip at ${shared.frequency} Hz; ` +
        `the PCA9685 has one PWM frequency for all 16 channels: give every channel on it the same frequency`,
    );
  }
  if (shared.channels.has(channel)) {
    throw new Error(`${label}: channel ${channel} is already driven by another actuator; one entry per channel`);
  }
  const claimed = shared;
  claimed.channels.add(channel);
  let chip: Pca9685Chip;
  try {
    chip = await claimed.ready;
  } catch (error) {
    claimed.channels.delete(channel);
    throw error;
  }
  const release = async () => {
    claimed.channels.delete(channel);
    if (claimed.channels.size > 0) return;
    if (chips.get(key) === claimed) chips.delete(key);
    await chip.close();
  };
  return { chip, release };
}

/** One PCA9685 shared by the entries of its channels: transfers one at a time, set up once. */
class Pca9685Chip {
  private readonly turns = new OneAtATime();

  private constructor(
    private readonly bus: I2cBus,
    readonly name: I2cDeviceName,
    private readonly prescale: number,
  ) {}

  static open(hal: Hal, name: I2cDeviceName, frequency: number): Promise<Pca9685Chip> {
    return openI2cChip(hal, name, async (bus) => {
      const chip = new Pca9685Chip(bus, name, prescaleFor(frequency));
      await chip.probe();
      await chip.setUp();
      return chip;
    });
  }

  /** Runs `work` while no other entry of this chip uses the bus; errors name the chip. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.turns.run(async () => {
      try {
        return await work();
      } catch (error) {
        throw describeI2cError(error, this.name);
      }
    });
  }

  /** Loads a channel's four registers in one transfer (AI is set), after making sure the chip is running. */
  async writeDuty(channel: number, duty: number): Promise<void> {
    const mode1 = await this.bus.readByte(this.name.address, REG_MODE1);
    if ((mode1 & (MODE1_SLEEP | MODE1_AI)) !== MODE1_AI) await this.setUp();
    const registers =
      duty === 0 ? [0, 0, 0, LED_FULL] : duty === MAX_DUTY ? [0, LED_FULL, 0, 0] : [0, 0, duty & 0xff, duty >> 8];
    await this.bus.writeBlock(this.name.address, ledOnLow(channel), Buffer.from(registers));
  }

  /** The duty a channel's registers hold: full off → 0, full on → 4095, else OFF − ON counts. */
  async readDuty(channel: number): Promise<number> {
    const [onLow = 0, onHigh = 0, offLow = 0, offHigh = 0] = await this.bus.readBlock(this.name.address, ledOnLow(channel), 4);
    if (offHigh & LED_FULL) return 0;
    if (onHigh & LED_FULL) return MAX_DUTY;
    const on = onLow | ((onHigh & 0x0f) << 8);
    const off = offLow | ((offHigh & 0x0f) << 8);
    return (off - on + COUNTS) % COUNTS;
  }

  /** Lets a transfer under way finish, then closes the bus. */
  async close(): Promise<void> {
    await this.turns.idle();
    await this.bus.close();
  }

  /** Something else at the address: MODE2's reserved bits read 0 on a PCA9685, and PRE_SCALE is never below 3. */
  private async probe(): Promise<void> {
    const mode2 = await this.bus.readByte(this.name.address, REG_MODE2);
    const prescale = await this.bus.readByte(this.name.address, REG_PRE_SCALE);
    if ((mode2 & 0xe0) !== 0 || prescale < 3) {
      throw new Error(`${deviceLabel(this.name)}: not a PCA9685: MODE2 reads ${hex(mode2)}, PRE_SCALE ${hex(prescale)}`);
    }
  }

  /** Frequency, output mode and MODE1 as configured; wakes the chip and restarts what ran before it slept. */
  private async setUp(): Promise<void> {
    const address = this.name.address;
    if ((await this.bus.readByte(address, REG_PRE_SCALE)) !== this.prescale) {
      await this.bus.writeByte(address, REG_MODE1, MODE1_RUN | MODE1_SLEEP); // PRE_SCALE is writable only in SLEEP
      await this.bus.writeByte(address, REG_PRE_SCALE, this.prescale);
      const loaded = await this.bus.readByte(address, REG_PRE_SCALE);
      if (loaded !== this.prescale) {
        throw new Error(`${deviceLabel(this.name)}: PRE_SCALE reads ${loaded} after writing ${this.prescale} in SLEEP`);
      }
    }
    await this.bus.writeByte(address, REG_MODE2, MODE2_TOTEM_POLE);
    const wasAsleep = ((await this.bus.readByte(address, REG_MODE1)) & MODE1_SLEEP) !== 0;
    await this.bus.writeByte(address, REG_MODE1, MODE1_RUN);
    if (!wasAsleep) return;
    await sleep(OSCILLATOR_STARTUP_MS);
    if ((await this.bus.readByte(address, REG_MODE1)) & MODE1_RESTART) {
      await this.bus.writeByte(address, REG_MODE1, MODE1_RUN | MODE1_RESTART);
    }
  }
}

function ledOnLow(channel: number): number {
  return REG_LED0_ON_L + 4 * channel;
}

class PwmChannel implements ActuatorDevice {
  readonly parameters = PARAMETERS;
  private closed = false;

  private constructor(
    private readonly claim: Claim,
    private readonly channel: number,
    private readonly safeDuty: number,
  ) {}

  /** Drives the safe duty before the entry is handed out; a channel that cannot take it is let go again. */
  static async open(claim: Claim, channel: number, safeDuty: number): Promise<PwmChannel> {
    try {
      await claim.chip.exclusive(() => claim.chip.writeDuty(channel, safeDuty));
    } catch (error) {
      await claim.release();
      throw error;
    }
    return new PwmChannel(claim, channel, safeDuty);
  }

  private get chip(): Pca9685Chip {
    return this.claim.chip;
  }

  async read(): Promise<Field[]> {
    this.checkOpen();
    const duty = await this.chip.exclusive(() => this.chip.readDuty(this.channel));
    const flags = { writable: true, status: true };
    return [
      { name: "duty", type: "int", value: duty, flags },
      // One count is 0.024 %: two decimals show every step.
      { name: "percent", type: "numeric", value: percentOf(duty), unit: "%", decimals: 2, flags },
    ];
  }

  async write(values: { name: string; value: ParameterValue }[]): Promise<void> {
    this.checkOpen();
    for (const { name, value } of values) {
      const duty = typeof value !== "number" ? undefined : name === "duty" ? value : name === "percent" ? dutyFor(value) : undefined;
      if (duty === undefined || !Number.isInteger(duty) || duty < 0 || duty > MAX_DUTY) {
        throw new Error(`${this.where}: no parameter ${name} taking ${JSON.stringify(value)}; there are duty (int 0–4095) and percent (double 0–100)`);
      }
      await this.chip.exclusive(() => this.chip.writeDuty(this.channel, duty));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.chip.exclusive(() => this.chip.writeDuty(this.channel, this.safeDuty));
    } finally {
      await this.claim.release();
    }
  }

  private get where(): string {
    return `${deviceLabel(this.chip.name)} channel ${this.channel}`;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`${this.where}: device is closed`);
  }
}

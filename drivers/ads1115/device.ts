// Texas Instruments ADS1115: 16-bit ADC with four inputs and a programmable gain amplifier, over I2C.
// Data sheet: TI SBAS444 (ADS111x). Register map §9.6 (pointer 0x00 conversion, 0x01 config), Config
// register Table 8, full-scale range and LSB size Table 3 (LSB = FSR / 2^15), I2C transfers §9.5.3.
//
// Each read() converts every configured channel in turn, single-shot: write the config register with
// OS = 1 (start), MUX = AINx against GND, PGA, MODE = single-shot, DR and the comparator disabled; wait
// one conversion time (1 / DR), poll OS until it reads 1 (bounded by 1 / DR + 10 % oscillator spread +
// slack); read the conversion register.
// Byte order: the ADS1115 sends and takes registers MSB first. SMBus word transfers (readWord/writeWord)
// are LSB first, so registers go through 2-byte block transfers and explicit big-endian decoding.
// A code at either end of the range (0x7FFF, 0x8000) means the input is at or past full scale: the real
// voltage is unknown, so the reading fails with an error naming the channel rather than publishing it.
import { setTimeout as sleep } from "node:timers/promises";
import { momentaryNumeric, type Field, type NumericField } from "../../lib/model.ts";
import type { Hal, I2cBus } from "../hal.ts";
import { I2cChip, openI2cChip } from "../i2c-chip.ts";
import { describeI2cError, deviceLabel, hex, type I2cDeviceName } from "../i2c-errors.ts";
import { DATA_RATES, GAINS, type ChannelConfig, type DataRate } from "./index.ts";

const REG_CONVERSION = 0x00;
const REG_CONFIG = 0x01;
const OS_START = 0x8000;
const MUX_SINGLE_ENDED = 0b100; // MUX[2:0] = 1xx: AINx against GND
const MODE_SINGLE_SHOT = 0x0100;
const COMPARATOR_DISABLED = 0b11; // COMP_QUE = 11

/** The internal oscillator's spread: data rate variation ±10 % (electrical characteristics), so up to 10 % longer. */
const OSCILLATOR_SPREAD = 1.1;
/** Allowance on top of the data sheet's times for timer and scheduler jitter on a busy Pi. */
const TIMER_SLACK_MS = 20;
const ADDRESS_HINT = "ADDR to GND is 0x48, to VDD 0x49, to SDA 0x4a, to SCL 0x4b";

export class Ads1115Device extends I2cChip {
  private constructor(
    bus: I2cBus,
    name: I2cDeviceName,
    private readonly channels: ChannelConfig[],
  ) {
    super(bus, name);
  }

  static open(hal: Hal, where: { bus: number; address: number }, channels: ChannelConfig[]): Promise<Ads1115Device> {
    const name: I2cDeviceName = { driver: "ads1115", busNumber: where.bus, address: where.address, addressHint: ADDRESS_HINT };
    return openI2cChip(hal, name, async (bus) => {
      // Write a configuration without starting a conversion and read it back: an ADS1115 returns every
      // bit but OS as written; other chips often found at 0x48 (TMP102, PCF8591, ...) do not. This also
      // leaves the chip powered down in single-shot mode if something had put it in continuous mode.
      const first = channels[0];
      if (first === undefined) throw new Error(`${deviceLabel(name)}: no channels configured`);
      const probe = configWord(first) & ~OS_START;
      await writeRegister(bus, where.address, REG_CONFIG, probe);
      const readBack = await readRegister(bus, where.address, REG_CONFIG);
      if ((readBack & ~OS_START) !== probe) {
        throw new Error(
          `${deviceLabel(name)}: not an ADS1115: config register 0x01 reads back ${hex(readBack, 4)} after writing ` +
            `${hex(probe, 4)}`,
        );
      }
      return new Ads1115Device(bus, name, channels);
    });
  }

  protected async measure(): Promise<Field[]> {
    const fields: Field[] = [];
    for (const channel of this.channels) {
      let code: number;
      try {
        code = await this.convert(channel);
      } catch (error) {
        throw describeI2cError(error, this.name);
      }
      fields.push(this.field(channel, code));
    }
    return fields;
  }

  /** One single-shot conversion; the signed 16-bit result. */
  private async convert(channel: ChannelConfig): Promise<number> {
    const address = this.name.address;
    await writeRegister(this.bus, address, REG_CONFIG, configWord(channel) | OS_START);
    const started = performance.now();
    const nominalMs = conversionMs(channel.dataRate);
    const deadline = started + nominalMs * OSCILLATOR_SPREAD + TIMER_SLACK_MS;
    await sleep(Math.ceil(nominalMs));
    for (;;) {
      const config = await readRegister(this.bus, address, REG_CONFIG);
      if ((config & OS_START) !== 0) break; // OS reads 1: not converting any more
      if (performance.now() >= deadline) {
        throw new Error(
          `${deviceLabel(this.name)}: conversion of channel ${channel.channel} (${channel.name}) did not finish within ` +
            `${Math.round(performance.now() - started)} ms (${nominalMs.toFixed(1)} ms at ${channel.dataRate} SPS); ` +
            `config register reads ${hex(config, 4)}`,
        );
      }
      await sleep(1);
    }
    const raw = await readRegister(this.bus, address, REG_CONVERSION);
    return raw >= 0x8000 ? raw - 0x10000 : raw;
  }

  private field(channel: ChannelConfig, code: number): NumericField {
    const where = `${deviceLabel(this.name)}: channel ${channel.channel} (${channel.name})`;
    if (code === 0x7fff) {
      throw new Error(
        `${where} is at full scale (code 0x7fff: +${channel.gain} V or more); the input is over range for ` +
          `gain ${channel.gain} V: configure a larger gain or check the wiring`,
      );
    }
    if (code === -0x8000) {
      throw new Error(
        `${where} is at negative full scale (code 0x8000: -${channel.gain} V or less); a single-ended input ` +
          `cannot be that far below GND: check the wiring`,
      );
    }
    const lsb = channel.gain / 0x8000;
    const volts = code * lsb;
    if (channel.scale === undefined) return momentaryNumeric(channel.name, volts, "V", decimalsFor(lsb));
    const { unit, factor, offset } = channel.scale;
    return momentaryNumeric(channel.name, volts * factor + offset, unit, decimalsFor(lsb * Math.abs(factor)));
  }
}

/** Config register for a single-ended single-shot conversion of `channel` (OS not set). */
function configWord(channel: ChannelConfig): number {
  const pga = GAINS.indexOf(channel.gain);
  const dr = DATA_RATES.indexOf(channel.dataRate);
  return ((MUX_SINGLE_ENDED | channel.channel) << 12) | (pga << 9) | MODE_SINGLE_SHOT | (dr << 5) | COMPARATOR_DISABLED;
}

/** Nominal conversion time: one sample period. */
export function conversionMs(dataRate: DataRate): number {
  return 1000 / dataRate;
}

/** Decimals that show one step of `step` and no more: 187.5 µV → 4, 62.5 µV → 5, 7.8125 µV → 6. */
export function decimalsFor(step: number): number {
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
}

/** Registers are 16 bits, MSB first on the wire (unlike SMBus words). */
async function readRegister(bus: I2cBus, address: number, register: number): Promise<number> {
  return (await bus.readBlock(address, register, 2)).readUInt16BE(0);
}

async function writeRegister(bus: I2cBus, address: number, register: number, value: number): Promise<void> {
  const data = Buffer.alloc(2);
  data.writeUInt16BE(value);
  await bus.writeBlock(address, register, data);
}

// Sensirion SHT3x-DIS (SHT30, SHT31, SHT35): temperature and relative humidity over I2C.
// Data sheet: Sensirion "Datasheet SHT3x-DIS" (v5, May 2018). Single-shot commands Table 9, soft reset
// §4.9, break §4.8, status register Tables 17–19, CRC-8 Table 20 (polynomial 0x31, init 0xFF,
// CRC(0xBEEF) = 0x92), conversion §4.13, timing Table 4.
//
// Each read() is one single-shot measurement without clock stretching: write the 16-bit command, wait
// the typical measurement time, then read the six result bytes (T MSB, T LSB, CRC, RH MSB, RH LSB, CRC).
// Until the result is ready the sensor NACKs the read header, so a NACK there means "not yet" and is
// retried until the data sheet's maximum time (plus slack) has passed. Clock stretching is not used: the
// Raspberry Pi's I2C controller is known to mishandle it.
// Both CRCs are checked; a mismatch fails the reading rather than publishing a corrupted value.
import { setTimeout as sleep } from "node:timers/promises";
import { momentaryNumeric, type Field } from "../../lib/model.ts";
import type { Hal, I2cBus } from "../hal.ts";
import { I2cChip, openI2cChip } from "../i2c-chip.ts";
import { describeI2cError, deviceLabel, errorCode, hex, type I2cDeviceName } from "../i2c-errors.ts";

export type Repeatability = "high" | "medium" | "low";

/** Single-shot commands without clock stretching (Table 9) and measurement times in ms (Table 4). */
const SINGLE_SHOT: Readonly<Record<Repeatability, { command: number; typicalMs: number; maxMs: number }>> = {
  high: { command: 0x2400, typicalMs: 12.5, maxMs: 15 },
  medium: { command: 0x240b, typicalMs: 4.5, maxMs: 6 },
  low: { command: 0x2416, typicalMs: 2.5, maxMs: 4 },
};
const CMD_BREAK = 0x3093;
const CMD_SOFT_RESET = 0x30a2;
const CMD_READ_STATUS = 0xf32d;
const CMD_CLEAR_STATUS = 0x3041;
const STATUS_RESET_DETECTED = 0x0010;
/** Soft reset time t_SR, maximum (Table 4: 1.5 ms). */
const SOFT_RESET_MS = 1.5;
/** The data sheet's minimal wait between a command and the next transfer (Table 9: "SCL free" 1 ms). */
const COMMAND_GAP_MS = 1;
/** Allowance on top of the data sheet's maximum times for timer and scheduler jitter on a busy Pi. */
const TIMER_SLACK_MS = 20;
const ADDRESS_HINT = "ADDR to GND is 0x44 (most boards), ADDR to 3V3 is 0x45";

export class Sht3xDevice extends I2cChip {
  private constructor(
    bus: I2cBus,
    name: I2cDeviceName,
    private readonly repeatability: Repeatability,
  ) {
    super(bus, name);
  }

  static open(hal: Hal, where: { bus: number; address: number }, repeatability: Repeatability): Promise<Sht3xDevice> {
    const name: I2cDeviceName = { driver: "sht3x", busNumber: where.bus, address: where.address, addressHint: ADDRESS_HINT };
    return openI2cChip(hal, name, async (bus) => {
      // Break first: a soft reset is only accepted while idle, and another program may have left the
      // sensor in periodic mode (§4.8, §4.9).
      await command(bus, where.address, CMD_BREAK);
      await sleep(COMMAND_GAP_MS);
      await command(bus, where.address, CMD_SOFT_RESET);
      await sleep(Math.ceil(SOFT_RESET_MS) + 1);
      await command(bus, where.address, CMD_READ_STATUS);
      const status = checkedWords(await bus.read(where.address, 3), ["status"], name)[0] ?? 0;
      if ((status & STATUS_RESET_DETECTED) === 0) {
        throw new Error(
          `${deviceLabel(name)}: not an SHT3x: after a soft reset its status word reads ${hex(status, 4)} ` +
            `without the "reset detected" bit (0x0010)`,
        );
      }
      await command(bus, where.address, CMD_CLEAR_STATUS);
      await sleep(COMMAND_GAP_MS);
      return new Sht3xDevice(bus, name, repeatability);
    });
  }

  protected async measure(): Promise<Field[]> {
    let data: Buffer;
    try {
      const shot = SINGLE_SHOT[this.repeatability];
      await command(this.bus, this.name.address, shot.command);
      data = await this.readResult(shot.typicalMs, shot.maxMs);
    } catch (error) {
      throw describeI2cError(error, this.name);
    }
    const [rawTemperature = 0, rawHumidity = 0] = checkedWords(data, ["temperature", "humidity"], this.name);
    return [
      momentaryNumeric("temperature", temperatureFromRaw(rawTemperature), "°C", 2),
      momentaryNumeric("humidity", humidityFromRaw(rawHumidity), "%RH", 2),
    ];
  }

  /** Waits the typical time, then reads; a NACK means "not ready yet" until the maximum time (+ slack) is up. */
  private async readResult(typicalMs: number, maxMs: number): Promise<Buffer> {
    const started = performance.now();
    const deadline = started + maxMs + TIMER_SLACK_MS;
    await sleep(Math.ceil(typicalMs));
    for (;;) {
      try {
        return await this.bus.read(this.name.address, 6);
      } catch (error) {
        if (errorCode(error) !== "EREMOTEIO") throw error;
        if (performance.now() >= deadline) {
          throw new Error(
            `${deviceLabel(this.name)}: no measurement result after ${Math.round(performance.now() - started)} ms ` +
              `(data sheet maximum ${maxMs} ms at ${this.repeatability} repeatability): the sensor accepted the ` +
              `command but keeps NACKing the read; it is hung or was disconnected, power-cycle it`,
            { cause: error },
          );
        }
      }
      await sleep(1);
    }
  }
}

async function command(bus: I2cBus, address: number, code: number): Promise<void> {
  await bus.write(address, Buffer.from([code >> 8, code & 0xff]));
}

/** 16-bit words from [MSB, LSB, CRC] triplets, each CRC checked; `names` says what each word is for errors. */
function checkedWords(data: Buffer, names: string[], device: I2cDeviceName): number[] {
  return names.map((name, i) => {
    const word = data.subarray(i * 3, i * 3 + 2);
    const received = data[i * 3 + 2] ?? 0;
    const expected = crc8(word);
    if (received !== expected) {
      throw new Error(
        `${deviceLabel(device)}: CRC mismatch on the ${name} word (received ${hex(word.readUInt16BE(0), 4)} with CRC ` +
          `${hex(received)}, expected ${hex(expected)}); the reading was discarded. Repeated mismatches point to ` +
          `interference or a poor connection (long wires, missing pull-ups)`,
      );
    }
    return word.readUInt16BE(0);
  });
}

/** The data sheet's CRC-8 (Table 20): polynomial x^8 + x^5 + x^4 + 1 (0x31), init 0xFF, no reflection, no final XOR. */
export function crc8(bytes: Uint8Array): number {
  let crc = 0xff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      const carry = crc & 0x80;
      crc = (crc << 1) & 0xff;
      if (carry) crc ^= 0x31;
    }
  }
  return crc;
}

/** §4.13: T = −45 + 175 · S_T / (2^16 − 1) °C. */
export function temperatureFromRaw(raw: number): number {
  return -45 + (175 * raw) / 65535;
}

/** §4.13: RH = 100 · S_RH / (2^16 − 1) %RH. */
export function humidityFromRaw(raw: number): number {
  return (100 * raw) / 65535;
}

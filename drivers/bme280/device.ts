// Bosch BME280: temperature, humidity and pressure over I2C.
// Data sheet: BST-BME280-DS002 (rev 1.6). Register map §5.3/§5.4, trimming parameters Table 16,
// compensation §4.2.3 (integer: int32 temperature and humidity, int64 pressure via BigInt),
// measurement time appendix 9.1.
//
// Each read() is one forced-mode conversion: write ctrl_hum, write ctrl_meas with mode "forced",
// wait the typical conversion time, poll status.measuring (bounded by the data sheet's maximum
// time), then burst-read 0xF7..0xFE in one transfer so all three values belong to the same
// conversion (§4: data register shadowing only holds within one burst).
//
// A BMP280 (chip id 0x58, or samples 0x56/0x57) is rejected with an error that says so: it has
// no humidity sensor, and silently publishing two of three fields would hide a wrong part.
import { setTimeout as sleep } from "node:timers/promises";
import { momentaryNumeric, type Field } from "../../lib/model.ts";
import type { Hal, I2cBus } from "../hal.ts";
import { I2cChip, openI2cChip } from "../i2c-chip.ts";
import { describeI2cError, deviceLabel, hex, type I2cDeviceName } from "../i2c-errors.ts";
import type { Oversampling } from "./index.ts";

const REG_CALIB_TP = 0x88; // 26 bytes: 0x88..0xA1 (dig_T1..dig_P9, reserved, dig_H1)
const REG_ID = 0xd0;
const REG_RESET = 0xe0;
const REG_CALIB_H = 0xe1; // 7 bytes: 0xE1..0xE7 (dig_H2..dig_H6)
const REG_CTRL_HUM = 0xf2;
const REG_STATUS = 0xf3;
const REG_CTRL_MEAS = 0xf4;
const REG_CONFIG = 0xf5;
const REG_DATA = 0xf7; // 8 bytes: press[3], temp[3], hum[2]

const BME280_ID = 0x60;
const BMP280_IDS = new Set([0x56, 0x57, 0x58]);
const RESET_COMMAND = 0xb6;
const STATUS_MEASURING = 0x08;
const STATUS_IM_UPDATE = 0x01;
const MODE_FORCED = 0b01;
const SKIPPED_20BIT = 0x80000;
const SKIPPED_16BIT = 0x8000;
/** Start-up time after power-on or soft reset (data sheet Table 1: 2 ms). */
const STARTUP_MS = 2;
/** Allowance on top of the data sheet's maximum times for timer and scheduler jitter on a busy Pi. */
const TIMER_SLACK_MS = 20;
const ADDRESS_HINT = "SDO to GND is 0x76, SDO to 3V3 is 0x77";

interface Settings {
  temperature: Oversampling;
  pressure: Oversampling;
  humidity: Oversampling;
}

/** Trimming parameters as Table 16 types them. */
export interface Calibration {
  digT1: number;
  digT2: number;
  digT3: number;
  digP1: number;
  digP2: number;
  digP3: number;
  digP4: number;
  digP5: number;
  digP6: number;
  digP7: number;
  digP8: number;
  digP9: number;
  digH1: number;
  digH2: number;
  digH3: number;
  digH4: number;
  digH5: number;
  digH6: number;
}

export class Bme280Device extends I2cChip {
  private constructor(
    bus: I2cBus,
    name: I2cDeviceName,
    private readonly calibration: Calibration,
    private readonly settings: Settings,
  ) {
    super(bus, name);
  }

  static open(hal: Hal, where: { bus: number; address: number }, settings: Settings): Promise<Bme280Device> {
    const name: I2cDeviceName = { driver: "bme280", busNumber: where.bus, address: where.address, addressHint: ADDRESS_HINT };
    return openI2cChip(hal, name, async (bus) => {
      const id = await bus.readByte(where.address, REG_ID);
      if (id !== BME280_ID) throw new Error(wrongChipMessage(id));
      await bus.writeByte(where.address, REG_RESET, RESET_COMMAND);
      await waitForNvmCopy(bus, where.address);
      const tp = await bus.readBlock(where.address, REG_CALIB_TP, 26);
      const h = await bus.readBlock(where.address, REG_CALIB_H, 7);
      const calibration = parseCalibration(tp, h);
      // Sleep mode after the reset; config (standby, IIR filter off, SPI 3-wire off) is only
      // reliably written in sleep mode (§5.4.6).
      await bus.writeByte(where.address, REG_CONFIG, 0x00);
      return new Bme280Device(bus, name, calibration, settings);
    });
  }

  protected async measure(): Promise<Field[]> {
    const { temperature, pressure, humidity } = this.settings;
    let data: Buffer;
    try {
      // ctrl_hum only takes effect once ctrl_meas is written (§5.4.3), so it goes first.
      await this.bus.writeByte(this.name.address, REG_CTRL_HUM, osrsCode(humidity));
      await this.bus.writeByte(
        this.name.address,
        REG_CTRL_MEAS,
        (osrsCode(temperature) << 5) | (osrsCode(pressure) << 2) | MODE_FORCED,
      );
      await this.waitForConversion();
      data = await this.bus.readBlock(this.name.address, REG_DATA, 8);
    } catch (error) {
      throw describeI2cError(error, this.name);
    }
    return this.compensate(data);
  }

  /** Sleeps the typical conversion time, then polls status.measuring until the maximum time (+ slack) is up. */
  private async waitForConversion(): Promise<void> {
    const { typicalMs, maxMs } = measurementTime(this.settings);
    const started = performance.now();
    const deadline = started + maxMs + TIMER_SLACK_MS;
    // The measuring bit is not reliably set in the first instants after the ctrl_meas write,
    // so the first poll comes after the typical time rather than immediately.
    await sleep(Math.ceil(typicalMs));
    for (;;) {
      const status = await this.bus.readByte(this.name.address, REG_STATUS);
      if ((status & STATUS_MEASURING) === 0) return;
      if (performance.now() >= deadline) {
        throw new Error(
          `conversion did not finish within ${Math.round(performance.now() - started)} ms ` +
            `(data sheet maximum ${maxMs.toFixed(1)} ms for this oversampling); status register reads ${hex(status)}`,
        );
      }
      await sleep(1);
    }
  }

  private compensate(data: Buffer): Field[] {
    const b = (i: number) => data[i] ?? 0;
    const adcP = (b(0) << 12) | (b(1) << 4) | (b(2) >> 4);
    const adcT = (b(3) << 12) | (b(4) << 4) | (b(5) >> 4);
    const adcH = (b(6) << 8) | b(7);
    const where = deviceLabel(this.name);
    const skipped: string[] = [];
    if (adcT === SKIPPED_20BIT) skipped.push("temperature");
    if (adcP === SKIPPED_20BIT) skipped.push("pressure");
    if (adcH === SKIPPED_16BIT) skipped.push("humidity");
    if (skipped.length > 0) {
      throw new Error(
        `${where}: the chip reported no ${skipped.join(", ")} measurement (raw value 0x80000/0x8000 = skipped); ` +
          "it was probably reset or lost power during the conversion",
      );
    }
    const { celsius, tFine } = compensateTemperature(this.calibration, adcT);
    const pascal = compensatePressure(this.calibration, adcP, tFine);
    if (pascal === null) throw new Error(`${where}: pressure trimming parameter dig_P1 is 0; calibration data is corrupt`);
    const relativeHumidity = compensateHumidity(this.calibration, adcH, tFine);
    return [
      momentaryNumeric("temperature", celsius, "°C", 2),
      momentaryNumeric("humidity", relativeHumidity, "%RH", 2),
      momentaryNumeric("pressure", pascal / 100, "hPa", 2),
    ];
  }
}

/** osrs_x field value for an oversampling factor (Table 20/22/23: 1→001 … 16→101). */
function osrsCode(factor: Oversampling): number {
  return Math.log2(factor) + 1;
}

/** Data sheet appendix 9.1: typical and maximum measurement time in ms (all three quantities enabled). */
export function measurementTime(settings: Settings): { typicalMs: number; maxMs: number } {
  const { temperature: t, pressure: p, humidity: h } = settings;
  return {
    typicalMs: 1 + 2 * t + (2 * p + 0.5) + (2 * h + 0.5),
    maxMs: 1.25 + 2.3 * t + (2.3 * p + 0.575) + (2.3 * h + 0.575),
  };
}

/** After a soft reset the chip copies its NVM into the trimming registers; status.im_update is set meanwhile. */
async function waitForNvmCopy(bus: I2cBus, address: number): Promise<void> {
  await sleep(STARTUP_MS);
  const deadline = performance.now() + STARTUP_MS + TIMER_SLACK_MS;
  while ((await bus.readByte(address, REG_STATUS)) & STATUS_IM_UPDATE) {
    if (performance.now() >= deadline) throw new Error("chip still copying its calibration data (status.im_update) after reset");
    await sleep(1);
  }
}

export function parseCalibration(tp: Buffer, h: Buffer): Calibration {
  const u16 = (offset: number) => tp.readUInt16LE(offset);
  const s16 = (offset: number) => tp.readInt16LE(offset);
  const hb = (i: number) => h[i] ?? 0;
  return {
    digT1: u16(0),
    digT2: s16(2),
    digT3: s16(4),
    digP1: u16(6),
    digP2: s16(8),
    digP3: s16(10),
    digP4: s16(12),
    digP5: s16(14),
    digP6: s16(16),
    digP7: s16(18),
    digP8: s16(20),
    digP9: s16(22),
    digH1: tp[25] ?? 0, // 0xA1
    digH2: h.readInt16LE(0), // 0xE1/0xE2
    digH3: hb(2), // 0xE3
    // 12-bit signed values sharing 0xE5: H4 = 0xE4[7:0] << 4 | 0xE5[3:0]; H5 = 0xE6[7:0] << 4 | 0xE5[7:4].
    // The high byte carries the sign (as in Bosch's reference driver), hence the int8 reads.
    digH4: (h.readInt8(3) * 16) | (hb(4) & 0x0f),
    digH5: (h.readInt8(5) * 16) | (hb(4) >> 4),
    digH6: h.readInt8(6), // 0xE7
  };
}

// ---- Compensation, transcribed from §4.2.3 (rev 1.1 for T and P, rev 1.0 for H). ----
// C's `>>` on signed ints is an arithmetic shift, i.e. floor division by 2^n; `asr` does that on
// exact doubles, so an intermediate briefly above 2^31 does not wrap as JS's int32 `>>` would.

const asr = (x: number, n: number) => Math.floor(x / 2 ** n);

/** int32 version: 0.01 °C resolution; also returns t_fine for pressure and humidity. */
export function compensateTemperature(c: Calibration, adcT: number): { celsius: number; tFine: number } {
  const var1 = asr((asr(adcT, 3) - c.digT1 * 2) * c.digT2, 11);
  const d = asr(adcT, 4) - c.digT1;
  const var2 = asr(asr(d * d, 12) * c.digT3, 14);
  const tFine = var1 + var2;
  const t = asr(tFine * 5 + 128, 8);
  return { celsius: t / 100, tFine };
}

/** int64 version (BigInt): Pa with 1/256 Pa resolution (Q24.8); null when dig_P1 is 0. */
export function compensatePressure(c: Calibration, adcP: number, tFine: number): number | null {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.digP6);
  var2 = var2 + ((var1 * BigInt(c.digP5)) << 17n);
  var2 = var2 + (BigInt(c.digP4) << 35n);
  var1 = ((var1 * var1 * BigInt(c.digP3)) >> 8n) + ((var1 * BigInt(c.digP2)) << 12n);
  var1 = (((1n << 47n) + var1) * BigInt(c.digP1)) >> 33n;
  if (var1 === 0n) return null;
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1; // C division truncates toward zero, as BigInt's does
  var1 = (BigInt(c.digP9) * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (BigInt(c.digP8) * p) >> 19n;
  p = ((p + var1 + var2) >> 8n) + (BigInt(c.digP7) << 4n);
  return Number(BigInt.asUintN(32, p)) / 256;
}

/** int32 version: %RH with 1/1024 %RH resolution (Q22.10), clamped to 0..100. */
export function compensateHumidity(c: Calibration, adcH: number, tFine: number): number {
  let v = tFine - 76800;
  v =
    asr(adcH * 16384 - c.digH4 * 1048576 - c.digH5 * v + 16384, 15) *
    asr(
      (asr(asr(v * c.digH6, 10) * (asr(v * c.digH3, 11) + 32768), 10) + 2097152) * c.digH2 + 8192,
      14,
    );
  v = v - asr(asr(asr(v, 15) * asr(v, 15), 7) * c.digH1, 4);
  v = Math.min(Math.max(v, 0), 419430400);
  return asr(v, 12) / 1024;
}

function wrongChipMessage(id: number): string {
  if (BMP280_IDS.has(id)) {
    return (
      `found a BMP280 (chip id ${hex(id)}), which has no humidity sensor; the bme280 driver needs a BME280 ` +
      `(chip id 0x60). Boards sold as "BME280" sometimes carry a BMP280`
    );
  }
  return `not a BME280: chip id register 0xD0 reads ${hex(id)}, expected 0x60`;
}

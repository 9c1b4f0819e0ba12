// The bme280 driver with `hardware: real` on i2c-stub at 0x76, loaded with the trimming values of Bosch's
// worked example (BMP280 data sheet §3.12, the same temperature and pressure path as the BME280) and its raw
// ADC values: the driver's integer compensation must give the data sheet's 25.08 °C and 1006.53 hPa.
// i2c-stub only stores registers, so "measuring" (status bit 3) never shows and the data stay as loaded.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bme280 } from "../../../drivers/bme280/index.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { numericField, withDevice } from "../../../drivers/testing.ts";
import { loadStubRegisters, readStubRegisters } from "../../support/vm-guest.ts";
import { VM_I2C_BUS } from "../../support/vm-layout.ts";

const ADDRESS = 0x76;

/** Little-endian 16-bit trimming words from 0x88 (dig_T1..dig_P9), as the data sheet's Table 16 lays them out. */
function words(values: number[]): number[] {
  return values.flatMap((value) => [value & 0xff, (value >> 8) & 0xff]);
}

/** The worked example's trimming: dig_T1..T3, dig_P1..P9 (negative values as two's complement). */
const TRIMMING_TP = words([27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000]);
/** Humidity trimming (not in the BMP280 example): dig_H1 at 0xA1; dig_H2..H6 at 0xE1..0xE7 (H4/H5 share 0xE5). */
const DIG_H1 = 75;
const TRIMMING_H = [362 & 0xff, 362 >> 8, 0, 313 >> 4, ((50 & 0x0f) << 4) | (313 & 0x0f), 50 >> 4, 30];

/** press_msb..hum_lsb at 0xF7: adc_P 415148, adc_T 519888 (20 bits, left-aligned), adc_H 0x6A00. */
function dataRegisters(adcP: number, adcT: number, adcH: number): number[] {
  return [adcP >> 12, (adcP >> 4) & 0xff, (adcP & 0x0f) << 4, adcT >> 12, (adcT >> 4) & 0xff, (adcT & 0x0f) << 4, adcH >> 8, adcH & 0xff];
}

async function loadChip(options: { id?: number; trimmingTP?: number[] } = {}): Promise<void> {
  await loadStubRegisters(ADDRESS, 0xd0, [options.id ?? 0x60]);
  await loadStubRegisters(ADDRESS, 0x88, options.trimmingTP ?? TRIMMING_TP);
  await loadStubRegisters(ADDRESS, 0xa1, [DIG_H1]);
  await loadStubRegisters(ADDRESS, 0xe1, TRIMMING_H);
  await loadStubRegisters(ADDRESS, 0xf3, [0x00]); // status: not measuring, NVM copied
  await loadStubRegisters(ADDRESS, 0xf7, dataRegisters(415148, 519888, 0x6a00));
}

describe("bme280 on i2c-stub (hardware: real)", () => {
  test("the data sheet's worked example: 25.08 °C and 1006.53 hPa from the example trimming", async () => {
    await loadChip();
    const device = await bme280.open(createRealHal(), { i2c: { bus: VM_I2C_BUS, address: ADDRESS } });
    await withDevice(device, async () => {
      const fields = await device.read();
      assert.equal(numericField(fields, "temperature").value, 25.08);
      assert.equal(numericField(fields, "pressure").value.toFixed(2), "1006.53");
      const humidity = numericField(fields, "humidity").value;
      assert.ok(humidity >= 0 && humidity <= 100, `humidity ${humidity} %RH`);
    });
    // A forced measurement with ×1 oversampling: ctrl_hum 0x01, then ctrl_meas osrs_t 001, osrs_p 001, mode 01.
    assert.deepEqual(await readStubRegisters(ADDRESS, 0xf2, 1), [0x01]);
    assert.deepEqual(await readStubRegisters(ADDRESS, 0xf4, 1), [0b001_001_01]);
  });

  test("a wrong trimming image gives a different temperature (the test can tell)", async () => {
    await loadChip({ trimmingTP: words([27504, 26000, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000]) });
    const device = await bme280.open(createRealHal(), { i2c: { bus: VM_I2C_BUS, address: ADDRESS } });
    await withDevice(device, async () => {
      assert.notEqual(numericField(await device.read(), "temperature").value, 25.08);
    });
  });

  test("a chip id other than 0x60 is refused at open", async () => {
    await loadChip({ id: 0x58 });
    await assert.rejects(bme280.open(createRealHal(), { i2c: { bus: VM_I2C_BUS, address: ADDRESS } }), /0x58/);
  });
});

// The ADS1115 driver through the simulated HAL: sim I2C bus + register-level chip model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as z from "../../lib/zod.ts";
import { formatFieldValue } from "../../lib/model.ts";
import { outputCode, SimAds1115, type SimAds1115Options } from "../../firmware-sim/chips/ads1115.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { i2cFaults } from "../../firmware-sim/world.ts";
import { numericField, withDevice } from "../testing.ts";
import { decimalsFor } from "./device.ts";
import { ads1115, GAINS } from "./index.ts";

const BUS = 1;
const ADDRESS = 0x48;

type ChannelEntry = { channel: number; name: string; gain?: number; dataRate?: number; scale?: Record<string, unknown> };

async function setup(chip: SimAds1115Options, channels: ChannelEntry[]) {
  const hal = createSimHal();
  const model = new SimAds1115(chip);
  hal.i2cBus(BUS).attach(ADDRESS, model);
  const device = await ads1115.open(hal, { i2c: { bus: BUS, address: ADDRESS }, channels });
  return { hal, model, device, faults: i2cFaults(hal, { bus: BUS, address: ADDRESS }, model) };
}

describe("ads1115 transfer function (data sheet Table 3)", () => {
  const lsbMicrovolts = [187.5, 125, 62.5, 31.25, 15.625, 7.8125];
  const decimals = [4, 4, 5, 5, 5, 6];
  GAINS.forEach((gain, i) => {
    test(`±${gain} V: LSB ${lsbMicrovolts[i]} µV shown with ${decimals[i]} decimals; codes at mid, full and past full scale`, () => {
      assert.equal((gain / 0x8000) * 1e6, lsbMicrovolts[i]);
      assert.equal(decimalsFor(gain / 0x8000), decimals[i]);
      assert.equal(outputCode(gain / 2, gain), 0x4000);
      assert.equal(outputCode(gain, gain), 0x7fff); // +FS itself is past the last code, (2^15 − 1)·LSB
      assert.equal(outputCode(gain - gain / 0x8000, gain), 0x7fff);
      assert.equal(outputCode(gain * 3, gain), 0x7fff);
      assert.equal(outputCode(-gain, gain), -0x8000);
      assert.equal(outputCode(-gain * 3, gain), -0x8000);
      assert.equal(outputCode(0, gain), 0);
    });
  });
});

describe("ads1115 driver on the simulated chip", () => {
  for (const gain of GAINS) {
    test(`±${gain} V: mid scale and one LSB below full scale read back exactly`, async () => {
      const lsb = gain / 0x8000;
      const { model, device } = await setup({ timing: "instant" }, [
        { channel: 0, name: "mid", gain },
        { channel: 3, name: "top", gain },
      ]);
      await withDevice(device, async () => {
        model.setInputs({ 0: gain / 2, 3: gain - 2 * lsb });
        const fields = await device.read();
        assert.equal(numericField(fields, "mid").value, gain / 2);
        assert.equal(numericField(fields, "top").value, 0x7ffe * lsb);
        assert.equal(numericField(fields, "mid").unit, "V");
        assert.equal(numericField(fields, "mid").decimals, decimalsFor(lsb));
        assert.deepEqual(numericField(fields, "mid").flags, { momentary: true });
      });
    });
  }

  test("registers are big-endian on the wire: code 0x0102 reads as 258 LSB, not 0x0201", async () => {
    const { model, hal, device } = await setup({ timing: "instant" }, [{ channel: 2, name: "small", gain: 2.048 }]);
    await withDevice(device, async () => {
      model.setInputs({ 2: 0x0102 * (2.048 / 0x8000) });
      assert.equal(numericField(await device.read(), "small").value, 258 * 62.5e-6); // 16.125 mV
      const bus = await hal.i2c(BUS);
      assert.deepEqual([...(await bus.readBlock(ADDRESS, 0x00, 2))], [0x01, 0x02]);
      // What the driver wrote: OS=1, MUX=110 (AIN2–GND), PGA=010, MODE=1, DR=100, COMP_QUE=11; OS reads 1 again when done.
      assert.deepEqual([...(await bus.readBlock(ADDRESS, 0x01, 2))], [0xe5, 0x83]);
    });
  });

  test("a small negative input reads negative; negative full scale (0x8000) and positive full scale (0x7FFF) are errors", async () => {
    const { model, device } = await setup({ timing: "instant" }, [{ channel: 0, name: "input", gain: 0.256 }]);
    await withDevice(device, async () => {
      model.setInputs({ 0: -0.1 });
      assert.equal(numericField(await device.read(), "input").value, outputCode(-0.1, 0.256) * (0.256 / 0x8000));
      model.setInputs({ 0: -0.3 });
      await assert.rejects(
        device.read(),
        /^Error: ads1115 at 0x48 on I2C bus 1: channel 0 \(input\) is at negative full scale \(code 0x8000: -0.256 V or less\)/,
      );
      model.setInputs({ 0: 1.2 });
      await assert.rejects(
        device.read(),
        /^Error: ads1115 at 0x48 on I2C bus 1: channel 0 \(input\) is at full scale \(code 0x7fff: \+0.256 V or more\); the input is over range/,
      );
    });
  });

  test("a scaled channel reports its unit: 4–20 mA across 150 Ω as mA, a tank level in %", async () => {
    const { model, device } = await setup({ timing: "instant" }, [
      { channel: 1, name: "loopCurrent", gain: 4.096, scale: { unit: "mA", factor: 1000 / 150 } },
      { channel: 1, name: "tankLevel", gain: 4.096, scale: { unit: "%", factor: 100 / (16 * 0.15), offset: -25 } },
      { channel: 0, name: "supply", gain: 4.096 },
    ]);
    await withDevice(device, async () => {
      model.setInputs([3.3, 0.012 * 150]); // 12 mA → 1.8 V
      const fields = await device.read();
      assert.deepEqual(
        fields.map((f) => [f.name, formatFieldValue(f), f.type === "numeric" ? f.unit : ""]),
        [
          ["loopCurrent", "12.0000", "mA"], // 125 µV · 6.67 mA/V = 0.83 µA per step
          ["tankLevel", "50.000", "%"], // 125 µV · 41.7 %/V = 0.005 % per step
          ["supply", "3.3000", "V"],
        ],
      );
    });
  });

  test("the wait follows the data rate: 8 SPS takes at least 125 ms per channel, 860 SPS a few ms", async () => {
    const slow = await setup({ timing: "nominal", inputs: [1] }, [{ channel: 0, name: "input", dataRate: 8 }]);
    await withDevice(slow.device, async () => {
      const started = performance.now();
      assert.equal(numericField(await slow.device.read(), "input").value, 1);
      assert.ok(performance.now() - started >= 125, `took ${performance.now() - started} ms`);
    });
    const fast = await setup({ timing: "nominal", inputs: [1] }, [{ channel: 0, name: "input", dataRate: 860 }]);
    await withDevice(fast.device, async () => {
      const started = performance.now();
      await fast.device.read();
      assert.ok(performance.now() - started < 100, `took ${performance.now() - started} ms`);
    });
  });

  test("a conversion far slower than 1/DR + 10 % is a clear error", async () => {
    const { device } = await setup({ timing: { ms: 300 } }, [{ channel: 0, name: "input", dataRate: 128 }]);
    await withDevice(device, async () => {
      await assert.rejects(
        device.read(),
        /^Error: ads1115 at 0x48 on I2C bus 1: conversion of channel 0 \(input\) did not finish within \d+ ms \(7\.8 ms at 128 SPS\)/,
      );
    });
  });

  test("stuck: identical readings while the inputs change, fresh again once cleared", async () => {
    const { model, device, faults } = await setup({ timing: "instant", inputs: [1, 2] }, [
      { channel: 0, name: "a" },
      { channel: 1, name: "b" },
    ]);
    await withDevice(device, async () => {
      faults.setFault({ kind: "stuck" });
      const first = await device.read();
      model.setInputs([1.5, 2.5]);
      assert.deepEqual(await device.read(), first);
      faults.setFault(null);
      assert.deepEqual((await device.read()).map((f) => f.type === "numeric" && f.value), [1.5, 2.5]);
    });
  });

  test("unplug: NACK error with the ADDR pin choices; replugged (chip power-cycled), the next read works", async () => {
    const { hal, model, device, faults } = await setup({ timing: "instant", inputs: [1] }, [{ channel: 0, name: "input" }]);
    await withDevice(device, async () => {
      faults.setFault({ kind: "unplug" });
      await assert.rejects(device.read(), (error: Error) => {
        assert.match(error.message, /^ads1115 at 0x48 on I2C bus 1: no device answers \(NACK, EREMOTEIO\)/);
        assert.match(error.message, /ADDR to GND is 0x48, to VDD 0x49, to SDA 0x4a, to SCL 0x4b/);
        return true;
      });
      faults.setFault(null);
      const bus = await hal.i2c(BUS);
      assert.equal((await bus.readBlock(ADDRESS, 0x01, 2)).readUInt16BE(0), 0x8583); // reset value after power-up
      assert.equal(numericField(await device.read(), "input").value, 1);
      assert.equal(model.getInputs()[0], 1);
    });
  });

  test("nack, eio and slow: a clear error each, then recovery", async () => {
    const { device, faults } = await setup({ timing: "instant", inputs: [1] }, [{ channel: 0, name: "input" }]);
    await withDevice(device, async () => {
      faults.setFault({ kind: "nack" });
      await assert.rejects(device.read(), /ads1115 at 0x48 on I2C bus 1: no device answers \(NACK/);
      faults.setFault({ kind: "eio" });
      await assert.rejects(device.read(), /ads1115 at 0x48 on I2C bus 1: I2C bus error \(EIO\)/);
      faults.setFault({ kind: "slow", delayMs: 20 });
      assert.equal(numericField(await device.read(), "input").value, 1);
      faults.setFault({ kind: "slow", delayMs: 3000 });
      await assert.rejects(device.read(), /ads1115 at 0x48 on I2C bus 1: I2C bus error \(ETIMEDOUT\)/);
      faults.setFault(null);
      assert.equal(numericField(await device.read(), "input").value, 1);
    });
  });

  test("some other chip at the address (config does not read back) is rejected at open", async () => {
    const hal = createSimHal();
    hal.i2cBus(BUS).attach(ADDRESS, { write: () => undefined, read: (length) => Buffer.alloc(length, 0x00) });
    await assert.rejects(
      ads1115.open(hal, { i2c: { bus: BUS, address: ADDRESS }, channels: [{ channel: 0, name: "input" }] }),
      /^Error: ads1115 at 0x48 on I2C bus 1: not an ADS1115: config register 0x01 reads back 0x0000 after writing 0x4383/,
    );
  });

  test("options: defaults, a gain or data rate the chip lacks, duplicate names", () => {
    const schema = z.object(ads1115.options);
    const parsed = schema.parse({ i2c: { bus: 1, address: 0x48 }, channels: [{ channel: 0, name: "input" }] });
    assert.deepEqual(parsed.channels, [{ channel: 0, name: "input", gain: 4.096, dataRate: 128 }]);
    const result = schema.safeParse({
      i2c: { bus: 1, address: 0x48 },
      channels: [
        { channel: 0, name: "input", gain: 5 },
        { channel: 1, name: "input", dataRate: 100 },
        { channel: 4, name: "Bad name" },
      ],
    });
    assert.ok(!result.success);
    const issues = result.error.issues.map((issue) => [issue.path.join("."), issue.code]);
    assert.deepEqual(issues, [
      ["channels.0.gain", "invalid_value"],
      ["channels.1.dataRate", "invalid_value"],
      ["channels.2.channel", "too_big"],
      ["channels.2.name", "invalid_format"],
    ]);
    const duplicate = schema.safeParse({ i2c: { bus: 1, address: 0x48 }, channels: [{ channel: 0, name: "a" }, { channel: 1, name: "a" }] });
    assert.ok(!duplicate.success);
    assert.deepEqual(duplicate.error.issues.map((issue) => [issue.path.join("."), issue.message]), [
      ["channels.1.name", '"a" is already used by another channel'],
    ]);
  });

  test("concurrent reads are serialised; read after close rejects", async () => {
    const { model, device } = await setup({ timing: "instant" }, [{ channel: 0, name: "a" }, { channel: 1, name: "b" }]);
    await Promise.all([device.read(), device.read()]);
    assert.equal(model.singleShotConversions, 4);
    await device.close();
    await assert.rejects(device.read(), /ads1115 at 0x48 on I2C bus 1: device is closed/);
  });
});

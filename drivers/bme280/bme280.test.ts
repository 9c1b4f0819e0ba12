// The BME280 driver through the simulated HAL: sim I2C bus + register-level chip model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatFieldValue } from "../../lib/model.ts";
import { CTRL_MEAS_HISTORY, DATASHEET_EXAMPLE_CALIBRATION, SimBme280, type SimBme280Options } from "../../firmware-sim/chips/bme280.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { numericField, withDevice } from "../testing.ts";
import { parseCalibration } from "./device.ts";
import { bme280 } from "./index.ts";

const BUS = 1;
const ADDRESS = 0x76;

async function setup(chip: SimBme280Options = {}, extra: Record<string, unknown> = {}) {
  const hal = createSimHal();
  const model = new SimBme280(chip);
  hal.i2cBus(BUS).attach(ADDRESS, model);
  const device = await bme280.open(hal, { i2c: { bus: BUS, address: ADDRESS }, ...extra });
  return { hal, model, device };
}

describe("bme280 driver on the simulated chip", () => {
  test("datasheet worked example: adc_T 519888, adc_P 415148 with the example trimming", async () => {
    // Bosch BMP280 data sheet §3.12 (same T/P path as the BME280): 25.08 °C, t_fine 128422,
    // 100653.27 Pa. Executing the published int64 formula gives 25767233/256 = 100653.254 Pa; the
    // data sheet's table prints 25767236 (100653.27): 0.016 Pa apart, both 1006.53 hPa.
    const { model, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      model.setRawAdc({ temperature: 519888, pressure: 415148 });
      const fields = await device.read();
      const temperature = numericField(fields, "temperature");
      const pressure = numericField(fields, "pressure");
      assert.equal(temperature.value, 25.08);
      assert.equal(temperature.unit, "°C");
      assert.equal(formatFieldValue(temperature), "25.08");
      assert.ok(Math.abs(pressure.value * 100 - 100653.27) < 0.02, `pressure ${pressure.value * 100} Pa`);
      assert.equal(pressure.value, 25767233 / 256 / 100);
      assert.equal(pressure.unit, "hPa");
      assert.equal(formatFieldValue(pressure), "1006.53");
      assert.deepEqual(fields.map((field) => field.name), bme280.fields, "the fields the driver declares to config's alert checks");
    });
  });

  const points = [
    { temperature: 21.37, humidity: 45.2, pressure: 101325 },
    { temperature: -12.5, humidity: 80, pressure: 98000 },
    { temperature: 38.05, humidity: 12.3, pressure: 104000 },
  ];
  for (const oversampling of [1, 16] as const) {
    for (const point of points) {
      test(`round trip ${point.temperature} °C, ${point.humidity} %RH, ${point.pressure / 100} hPa at ×${oversampling}`, async () => {
        const { device } = await setup({ environment: point }, {
          oversampling: { temperature: oversampling, pressure: oversampling, humidity: oversampling },
        });
        await withDevice(device, async () => {
          const fields = await device.read();
          // Tolerances: the int32 temperature output has 0.01 °C steps (plus up to 0.0026 °C from the
          // 16-bit ADC step at ×1); the model inverts the data sheet's floating-point formulas and
          // the driver uses the integer ones, whose t_fine and pressure differ by a fraction of a Pa;
          // the 16-bit pressure ADC step at ×1 is ~2.6 Pa (data sheet Table 5), ~0.16 Pa at ×16;
          // humidity: 16-bit ADC (~0.008 %RH per step here) and Q22.10 output.
          const tolerance = { temperature: 0.011, pressure: oversampling === 1 ? 0.02 : 0.01, humidity: 0.02 };
          const t = numericField(fields, "temperature");
          const h = numericField(fields, "humidity");
          const p = numericField(fields, "pressure");
          assert.ok(Math.abs(t.value - point.temperature) <= tolerance.temperature, `temperature ${t.value}`);
          assert.ok(Math.abs(h.value - point.humidity) <= tolerance.humidity, `humidity ${h.value}`);
          assert.ok(Math.abs(p.value - point.pressure / 100) <= tolerance.pressure, `pressure ${p.value}`);
          assert.deepEqual(
            fields.map((f) => [f.name, f.type === "numeric" ? f.unit : "", f.type === "numeric" ? f.decimals : -1, f.flags]),
            [
              ["temperature", "°C", 2, { momentary: true }],
              ["humidity", "%RH", 2, { momentary: true }],
              ["pressure", "hPa", 2, { momentary: true }],
            ],
          );
        });
      });
    }
  }

  test("trimming registers decode back to the model's parameters, including negative nibble-packed dig_H4/dig_H5", async () => {
    const calibration = {
      ...DATASHEET_EXAMPLE_CALIBRATION,
      digH1: 0,
      digH2: 371,
      digH3: 0,
      digH4: 298,
      digH5: -27,
      digH6: -6,
    };
    const hal = createSimHal();
    const model = new SimBme280({ calibration, timing: "instant", environment: { humidity: 63.5, temperature: 3 } });
    hal.i2cBus(BUS).attach(ADDRESS, model);
    const bus = await hal.i2c(BUS);
    const decoded = parseCalibration(await bus.readBlock(ADDRESS, 0x88, 26), await bus.readBlock(ADDRESS, 0xe1, 7));
    assert.deepEqual(decoded, calibration);
    for (const digH4 of [-2048, -1, 2047]) {
      const packed = new SimBme280({ calibration: { ...calibration, digH4, digH5: -1 - digH4 } });
      hal.i2cBus(7).attach(0x10, packed);
      const bus7 = await hal.i2c(7);
      const back = parseCalibration(await bus7.readBlock(0x10, 0x88, 26), await bus7.readBlock(0x10, 0xe1, 7));
      assert.deepEqual([back.digH4, back.digH5], [digH4, -1 - digH4]);
      hal.i2cBus(7).detach(0x10);
    }
    const device = await bme280.open(hal, { i2c: { bus: BUS, address: ADDRESS } });
    await withDevice(device, async () => {
      assert.ok(Math.abs(numericField(await device.read(), "humidity").value - 63.5) <= 0.02);
    });
  });

  test("every read is a forced-mode conversion, ctrl_hum written before ctrl_meas", async () => {
    const { model, device } = await setup();
    await withDevice(device, async () => {
      for (let i = 0; i < 3; i++) await device.read();
      assert.equal(model.forcedConversions, 3);
      // osrs_t ×1 (001), osrs_p ×1 (001), mode forced (01)
      assert.deepEqual(model.ctrlMeasWrites, [0b001_001_01, 0b001_001_01, 0b001_001_01]);
    });
  });

  test("the chip model keeps only the latest ctrl_meas writes, however many reads a long run makes", async () => {
    const { model, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      const reads = CTRL_MEAS_HISTORY * 3;
      for (let i = 0; i < reads; i++) await device.read();
      assert.equal(model.forcedConversions, reads);
      assert.deepEqual(model.ctrlMeasWrites, Array.from({ length: CTRL_MEAS_HISTORY }, () => 0b001_001_01));
    });
  });

  test("oversampling option reaches ctrl_meas and ctrl_hum, and the slower conversion is waited for", async () => {
    const { model, device } = await setup({ timing: "max" }, {
      oversampling: { temperature: 2, pressure: 16, humidity: 4 },
    });
    await withDevice(device, async () => {
      model.setEnvironment({ temperature: 5, humidity: 60, pressure: 90000 });
      const fields = await device.read();
      assert.deepEqual(model.ctrlMeasWrites, [(0b010 << 5) | (0b101 << 2) | 0b01]);
      assert.ok(Math.abs(numericField(fields, "humidity").value - 60) <= 0.02);
    });
  });

  test("a later environment change shows in the next read", async () => {
    const { model, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      model.setEnvironment({ temperature: 10 });
      const first = numericField(await device.read(), "temperature").value;
      model.setEnvironment({ temperature: 30 });
      const second = numericField(await device.read(), "temperature").value;
      assert.ok(Math.abs(first - 10) <= 0.011 && Math.abs(second - 30) <= 0.011, `${first} then ${second}`);
    });
  });

  test("a BMP280 is rejected as having no humidity", async () => {
    await assert.rejects(setup({ chipId: 0x58 }), /bme280 at 0x76 on I2C bus 1: found a BMP280 \(chip id 0x58\), which has no humidity sensor/);
  });

  test("an unknown chip id is rejected with the id read", async () => {
    await assert.rejects(setup({ chipId: 0x55 }), /bme280 at 0x76 on I2C bus 1: not a BME280: chip id register 0xD0 reads 0x55, expected 0x60/);
  });

  test("no device at the address: NACK error naming bus and address", async () => {
    const hal = createSimHal();
    hal.i2cBus(BUS).attach(ADDRESS, new SimBme280());
    await assert.rejects(bme280.open(hal, { i2c: { bus: BUS, address: 0x77 } }), (error: Error) => {
      assert.match(error.message, /^bme280 at 0x77 on I2C bus 1: no device answers \(NACK, EREMOTEIO\)/);
      assert.match(error.message, /i2cdetect -y 1/);
      assert.equal((error.cause as { code?: string } | undefined)?.code, "EREMOTEIO");
      return true;
    });
  });

  test("a NACK or bus error during a read rejects that read and the next one works", async () => {
    const { hal, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      hal.i2cBus(BUS).injectFault(ADDRESS, { kind: "nack", times: 1 });
      await assert.rejects(device.read(), /bme280 at 0x76 on I2C bus 1: no device answers \(NACK/);
      hal.i2cBus(BUS).injectFault(ADDRESS, { kind: "eio" });
      await assert.rejects(device.read(), /bme280 at 0x76 on I2C bus 1: I2C bus error \(EIO\)/);
      hal.i2cBus(BUS).injectFault(ADDRESS, null);
      assert.equal((await device.read()).length, 3);
    });
  });

  test("a skipped measurement (0x80000) is an error, not a value", async () => {
    const { model, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      model.setRawAdc({ temperature: 0x80000 });
      await assert.rejects(device.read(), /no temperature measurement \(raw value 0x80000\/0x8000 = skipped\)/);
      model.setRawAdc({ humidity: 0x8000 });
      await assert.rejects(device.read(), /no humidity measurement/);
    });
  });

  test("a conversion that never finishes times out with a clear error", async () => {
    const { device } = await setup({ timing: { ms: 2000 } });
    await withDevice(device, async () => {
      await assert.rejects(device.read(), /bme280 at 0x76 on I2C bus 1: conversion did not finish within \d+ ms \(data sheet maximum 9\.3 ms/);
    });
  });

  test("concurrent reads are serialised; read after close rejects", async () => {
    const { model, device } = await setup();
    const results = await Promise.all([device.read(), device.read()]);
    assert.equal(results.length, 2);
    assert.equal(model.forcedConversions, 2);
    await device.close();
    await assert.rejects(device.read(), /device is closed/);
  });
});

describe("simulated I2C bus", () => {
  test("register transfers, little-endian words and NACK for an empty address", async () => {
    const hal = createSimHal();
    const model = new SimBme280({ timing: "instant" });
    hal.i2cBus(3).attach(0x77, model);
    const bus = await hal.i2c(3);
    assert.equal(bus.busNumber, 3);
    assert.equal(await bus.readByte(0x77, 0xd0), 0x60);
    assert.equal(await bus.readWord(0x77, 0x88), 27504); // dig_T1, LSB at 0x88
    assert.deepEqual([...(await bus.readBlock(0x77, 0x88, 2))], [0x70, 0x6b]);
    await bus.write(0x77, Buffer.from([0xd0]));
    assert.deepEqual([...(await bus.read(0x77, 1))], [0x60]);
    await assert.rejects(bus.readByte(0x42, 0x00), { code: "EREMOTEIO", message: "EREMOTEIO, Remote I/O error" });
    assert.deepEqual(hal.i2cBus(3).scan(), [0x77]);
    await bus.close();
    await assert.rejects(bus.readByte(0x77, 0xd0), { code: "EBADF" });
    // Closing one handle leaves the shared bus usable for other openers.
    assert.equal(await (await hal.i2c(3)).readByte(0x77, 0xd0), 0x60);
  });

  test("the sim HAL says when a serial path has no simulated device", async () => {
    const hal = createSimHal();
    assert.equal(hal.kind, "sim");
    await assert.rejects(hal.serial({ path: "/dev/ttyUSB0", baudRate: 9600 }), /\/dev\/ttyUSB0: no simulated serial device on this path/);
  });
});

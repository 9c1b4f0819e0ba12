// The SHT3x driver through the simulated HAL: sim I2C bus + command-level chip model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatFieldValue } from "../../lib/model.ts";
import { COMMAND_HISTORY, SimSht3x, sensirionCrc8, type SimSht3xOptions } from "../../firmware-sim/chips/sht3x.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { i2cFaults } from "../../firmware-sim/world.ts";
import { numericField, withDevice } from "../testing.ts";
import { crc8, humidityFromRaw, temperatureFromRaw } from "./device.ts";
import { sht3x } from "./index.ts";

const BUS = 1;
const ADDRESS = 0x44;

async function setup(chip: SimSht3xOptions = {}, extra: Record<string, unknown> = {}) {
  const hal = createSimHal();
  const model = new SimSht3x(chip);
  hal.i2cBus(BUS).attach(ADDRESS, model);
  const device = await sht3x.open(hal, { i2c: { bus: BUS, address: ADDRESS }, ...extra });
  return { hal, model, device, faults: i2cFaults(hal, { bus: BUS, address: ADDRESS }, model) };
}

describe("sht3x conversion and CRC (data sheet §4.12, §4.13)", () => {
  test("CRC-8 of 0xBEEF is 0x92 (Table 20), in the driver and in the chip model", () => {
    assert.equal(crc8(Buffer.from([0xbe, 0xef])), 0x92);
    assert.equal(sensirionCrc8(Buffer.from([0xbe, 0xef])), 0x92);
    assert.equal(crc8(Buffer.from([0x00, 0x00])), 0x81);
  });

  test("T = −45 + 175·S/65535 and RH = 100·S/65535 at the extremes and in between", () => {
    assert.equal(temperatureFromRaw(0x0000), -45);
    assert.equal(temperatureFromRaw(0xffff), 130);
    assert.equal(humidityFromRaw(0x0000), 0);
    assert.equal(humidityFromRaw(0xffff), 100);
    // 0x6666 = 0.4 · 0xFFFF exactly: 25 °C, 40 %RH.
    assert.equal(temperatureFromRaw(0x6666), 25);
    assert.equal(humidityFromRaw(0x6666), 40);
    assert.ok(Math.abs(temperatureFromRaw(0x8000) - 42.5013) < 0.0001);
    assert.ok(Math.abs(humidityFromRaw(0x8000) - 50.0008) < 0.0001);
    assert.ok(Math.abs(temperatureFromRaw(0x4000) - -1.2493) < 0.0001); // −45 + 175·16384/65535
    assert.ok(Math.abs(humidityFromRaw(0xc000) - 75.0011) < 0.0001); // 100·49152/65535
  });
});

describe("sht3x driver on the simulated chip", () => {
  const examples = [
    { raw: 0x0000, temperature: "-45.00", humidity: "0.00" },
    { raw: 0x6666, temperature: "25.00", humidity: "40.00" },
    { raw: 0x8000, temperature: "42.50", humidity: "50.00" },
    { raw: 0xffff, temperature: "130.00", humidity: "100.00" },
  ];
  for (const example of examples) {
    test(`raw 0x${example.raw.toString(16).padStart(4, "0")} reads ${example.temperature} °C, ${example.humidity} %RH`, async () => {
      const { model, device } = await setup({ timing: "instant" });
      await withDevice(device, async () => {
        model.setRaw({ temperature: example.raw, humidity: example.raw });
        const fields = await device.read();
        assert.deepEqual(
          fields.map((f) => [f.name, formatFieldValue(f), f.type === "numeric" ? f.unit : "", f.flags]),
          [
            ["temperature", example.temperature, "°C", { momentary: true }],
            ["humidity", example.humidity, "%RH", { momentary: true }],
          ],
        );
      });
    });
  }

  test("round trip through the model's environment within one ADC step", async () => {
    const { model, device } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      for (const point of [{ temperature: 21.37, humidity: 45.2 }, { temperature: -12.5, humidity: 93.1 }]) {
        model.setEnvironment(point);
        const fields = await device.read();
        assert.ok(Math.abs(numericField(fields, "temperature").value - point.temperature) <= 175 / 65535);
        assert.ok(Math.abs(numericField(fields, "humidity").value - point.humidity) <= 100 / 65535);
      }
    });
  });

  test("open sends break, soft reset, read status, clear status; reads send the single-shot command", async () => {
    const { model, device } = await setup({ timing: "instant" }, { repeatability: "low" });
    await withDevice(device, async () => {
      await device.read();
      assert.deepEqual(model.commands, [0x3093, 0x30a2, 0xf32d, 0x3041, 0x2416]);
    });
  });

  for (const [repeatability, maxMs] of [["high", 15], ["medium", 6], ["low", 4]] as const) {
    test(`${repeatability} repeatability waits out the data sheet's maximum measurement time (${maxMs} ms)`, async () => {
      const { device } = await setup({ timing: "max" }, { repeatability });
      await withDevice(device, async () => {
        const started = performance.now();
        assert.equal((await device.read()).length, 2);
        assert.ok(performance.now() - started >= maxMs - 1, `took ${performance.now() - started} ms`);
      });
    });
  }

  test("the chip NACKs the read until the measurement is done; a result never ready is a clear error", async () => {
    const hal = createSimHal();
    const model = new SimSht3x({ timing: "instant" });
    hal.i2cBus(BUS).attach(ADDRESS, model);
    const bus = await hal.i2c(BUS);
    await assert.rejects(bus.read(ADDRESS, 6), { code: "EREMOTEIO" }); // nothing measured yet
    const slow = await setup({ timing: { ms: 200 } });
    await withDevice(slow.device, async () => {
      await assert.rejects(
        slow.device.read(),
        /^Error: sht3x at 0x44 on I2C bus 1: no measurement result after \d+ ms \(data sheet maximum 15 ms at high repeatability\)/,
      );
    });
  });

  test("stuck: identical readings while the environment changes, fresh again once cleared", async () => {
    const { model, device, faults } = await setup({ timing: "instant", environment: { temperature: 20, humidity: 40 } });
    await withDevice(device, async () => {
      faults.setFault({ kind: "stuck" });
      const first = await device.read();
      model.setEnvironment({ temperature: 30, humidity: 70 });
      assert.deepEqual(await device.read(), first);
      faults.setFault(null);
      const fresh = await device.read();
      assert.ok(Math.abs(numericField(fresh, "temperature").value - 30) < 0.01);
      assert.ok(Math.abs(numericField(fresh, "humidity").value - 70) < 0.01);
    });
  });

  test("crc: a corrupted checksum fails the reading with a CRC error; clearing recovers", async () => {
    const { device, faults } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      faults.setFault({ kind: "crc" });
      await assert.rejects(
        device.read(),
        /^Error: sht3x at 0x44 on I2C bus 1: CRC mismatch on the temperature word \(received 0x[0-9a-f]{4} with CRC 0x[0-9a-f]{2}, expected 0x[0-9a-f]{2}\); the reading was discarded/,
      );
      faults.setFault(null);
      assert.equal((await device.read()).length, 2);
    });
  });

  test("a CRC error at open (status word) keeps the sensor from opening", async () => {
    const hal = createSimHal();
    const model = new SimSht3x({ timing: "instant" });
    hal.i2cBus(BUS).attach(ADDRESS, model);
    model.setFault({ kind: "crc" });
    await assert.rejects(sht3x.open(hal, { i2c: { bus: BUS, address: ADDRESS } }), /CRC mismatch on the status word/);
  });

  test("unplug: NACK error naming bus, address and the 0x44/0x45 choice; replugged, the next read works", async () => {
    const { hal, device, faults } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      faults.setFault({ kind: "unplug" });
      assert.deepEqual(hal.i2cBus(BUS).scan(), []);
      await assert.rejects(device.read(), (error: Error) => {
        assert.match(error.message, /^sht3x at 0x44 on I2C bus 1: no device answers \(NACK, EREMOTEIO\)/);
        assert.match(error.message, /ADDR to GND is 0x44/);
        return true;
      });
      faults.setFault(null);
      assert.deepEqual(hal.i2cBus(BUS).scan(), [ADDRESS]);
      assert.equal((await device.read()).length, 2);
    });
  });

  test("nack and eio: a failed reading each, then recovery", async () => {
    const { device, faults } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      faults.setFault({ kind: "nack" });
      await assert.rejects(device.read(), /sht3x at 0x44 on I2C bus 1: no device answers \(NACK/);
      faults.setFault({ kind: "eio" });
      await assert.rejects(device.read(), /sht3x at 0x44 on I2C bus 1: I2C bus error \(EIO\)/);
      faults.setFault(null);
      assert.equal((await device.read()).length, 2);
    });
  });

  test("slow: late transfers still give a reading; past the 1 s adapter timeout, ETIMEDOUT; then recovery", async () => {
    const { device, faults } = await setup({ timing: "instant" });
    await withDevice(device, async () => {
      faults.setFault({ kind: "slow", delayMs: 40 });
      const started = performance.now();
      assert.equal((await device.read()).length, 2);
      assert.ok(performance.now() - started >= 80, "command and read each 40 ms late");
      faults.setFault({ kind: "slow", delayMs: 5000 });
      await assert.rejects(device.read(), /sht3x at 0x44 on I2C bus 1: I2C bus error \(ETIMEDOUT\)/);
      faults.setFault(null);
      assert.equal((await device.read()).length, 2);
    });
  });

  test("some other chip at the address (no reset flag in its answer) is rejected", async () => {
    const hal = createSimHal();
    // Answers every read with a valid-CRC word 0x0000: a part that ignores the soft reset.
    hal.i2cBus(BUS).attach(ADDRESS, { write: () => undefined, read: () => Buffer.from([0x00, 0x00, 0x81]) });
    await assert.rejects(
      sht3x.open(hal, { i2c: { bus: BUS, address: ADDRESS } }),
      /^Error: sht3x at 0x44 on I2C bus 1: not an SHT3x: after a soft reset its status word reads 0x0000/,
    );
  });

  test("the chip model keeps only the latest commands, however many reads a long run makes", async () => {
    const { model, device } = await setup({ timing: "instant" }, { repeatability: "low" });
    await withDevice(device, async () => {
      for (let i = 0; i < COMMAND_HISTORY * 3; i++) await device.read();
      // The open's four commands have long been forgotten: only single-shot reads remain.
      assert.deepEqual(model.commands, Array.from({ length: COMMAND_HISTORY }, () => 0x2416));
    });
  });

  test("concurrent reads are serialised; read after close rejects", async () => {
    const { model, device } = await setup({ timing: "instant" });
    await Promise.all([device.read(), device.read()]);
    assert.equal(model.commands.filter((c) => c === 0x2400).length, 2);
    await device.close();
    await assert.rejects(device.read(), /sht3x at 0x44 on I2C bus 1: device is closed/);
  });
});

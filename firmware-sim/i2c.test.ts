// The simulated I2C bus's faults (what every chip model gets without knowing), and how config faults reach
// them through the world's i2cFaults().
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimBme280 } from "./chips/bme280.ts";
import { sensirionCrc8, SimSht3x } from "./chips/sht3x.ts";
import { NACK, type SimI2cDevice } from "./i2c.ts";
import { createSimHal } from "./index.ts";
import type { SimSensor } from "./model.ts";
import { i2cFaults, populate, sensorModels } from "./world.ts";

/** A one-register chip that counts power cycles. */
class Register implements SimI2cDevice {
  value = 0x2a;
  powerCycles = 0;
  write(data: Buffer): void {
    if (data.length >= 2) this.value = data[1] ?? 0;
  }
  read(length: number): Buffer {
    return Buffer.alloc(length, this.value);
  }
  powerCycle(): void {
    this.powerCycles += 1;
    this.value = 0x2a;
  }
}

/** A configured chip at `address` on bus 1, with the options its driver requires (the ADS1115: a channel). */
function sensor(driver: string, address: number, faults: SimSensor["faults"] = []): SimSensor {
  const channels = driver === "ads1115" ? { channels: [{ channel: 0, name: "ain0" }] } : {};
  return { id: `${driver}-1`, driver, options: { i2c: { bus: 1, address }, ...channels }, faults };
}

describe("simulated I2C bus faults", () => {
  test("unplug: every transfer NACKs and scan() leaves the address out; replugging power-cycles the chip", async () => {
    const hal = createSimHal();
    const chip = new Register();
    hal.i2cBus(1).attach(0x20, chip);
    const bus = await hal.i2c(1);
    await bus.writeByte(0x20, 0x00, 0x55);
    hal.i2cBus(1).injectFault(0x20, { kind: "unplug" });
    assert.deepEqual(hal.i2cBus(1).scan(), []);
    for (let i = 0; i < 3; i++) await assert.rejects(bus.readByte(0x20, 0x00), { code: "EREMOTEIO", errno: 121 });
    await assert.rejects(bus.write(0x20, Buffer.from([0x00])), { code: "EREMOTEIO" });
    assert.equal(chip.powerCycles, 0);
    hal.i2cBus(1).injectFault(0x20, null);
    assert.equal(chip.powerCycles, 1);
    assert.deepEqual(hal.i2cBus(1).scan(), [0x20]);
    assert.equal(await bus.readByte(0x20, 0x00), 0x2a, "power-on value, not the 0x55 written before");
    hal.i2cBus(1).injectFault(0x20, { kind: "eio" }); // replacing a non-unplug fault is no power cycle
    hal.i2cBus(1).injectFault(0x20, null);
    assert.equal(chip.powerCycles, 1);
  });

  test("slow: transfers resolve delayMs late; beyond the 1 s adapter timeout they reject with ETIMEDOUT after 1 s", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x20, new Register());
    const bus = await hal.i2c(1);
    hal.i2cBus(1).injectFault(0x20, { kind: "slow", delayMs: 50 });
    let started = performance.now();
    assert.equal(await bus.readByte(0x20, 0x00), 0x2a);
    assert.ok(performance.now() - started >= 49, `took ${performance.now() - started} ms`);
    hal.i2cBus(1).injectFault(0x20, { kind: "slow", delayMs: 10_000 });
    started = performance.now();
    await assert.rejects(bus.readBlock(0x20, 0x00, 2), { code: "ETIMEDOUT", errno: 110, message: "ETIMEDOUT, Connection timed out" });
    const waited = performance.now() - started;
    assert.ok(waited >= 990 && waited < 2000, `timed out after ${waited} ms`);
    hal.i2cBus(1).injectFault(0x20, null);
    started = performance.now();
    await bus.readByte(0x20, 0x00);
    assert.ok(performance.now() - started < 40);
  });

  test("nack with times clears itself; eio until cleared", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x20, new Register());
    const bus = await hal.i2c(1);
    hal.i2cBus(1).injectFault(0x20, { kind: "nack", times: 2 });
    await assert.rejects(bus.readByte(0x20, 0), { code: "EREMOTEIO" });
    await assert.rejects(bus.readByte(0x20, 0), { code: "EREMOTEIO" });
    assert.equal(await bus.readByte(0x20, 0), 0x2a);
    hal.i2cBus(1).injectFault(0x20, { kind: "eio" });
    for (let i = 0; i < 3; i++) await assert.rejects(bus.readByte(0x20, 0), { code: "EIO", errno: 5 });
    hal.i2cBus(1).injectFault(0x20, null);
    assert.equal(await bus.readByte(0x20, 0), 0x2a);
  });

  test("a chip model's own NACK (busy, no data) reaches the caller as EREMOTEIO", async () => {
    const hal = createSimHal();
    let ready = false;
    hal.i2cBus(1).attach(0x44, { write: () => undefined, read: (length) => (ready ? Buffer.alloc(length, 1) : NACK) });
    const bus = await hal.i2c(1);
    await assert.rejects(bus.read(0x44, 6), { code: "EREMOTEIO" });
    ready = true;
    assert.deepEqual([...(await bus.read(0x44, 2))], [1, 1]);
  });
});

describe("config faults through the world (sensors[].sim.faults)", () => {
  test("bme280, sht3x and ads1115 accept the bus faults plus their own", async () => {
    const hal = createSimHal();
    const kinds = async (driver: string, address: number) =>
      [...((await sensorModels[driver]?.(hal, sensor(driver, address), 0))?.faults?.supportedFaults ?? [])].sort();
    assert.deepEqual(await kinds("bme280", 0x76), ["eio", "nack", "slow", "stuck", "unplug"]);
    assert.deepEqual(await kinds("sht3x", 0x44), ["crc", "eio", "nack", "slow", "stuck", "unplug"]);
    assert.deepEqual(await kinds("ads1115", 0x48), ["eio", "nack", "slow", "stuck", "unplug"]);
  });

  test("one fault at a time: a chip fault clears a bus fault and the other way round; slow defaults to 500 ms", async () => {
    const hal = createSimHal();
    const chip = new SimSht3x({ timing: "instant" });
    hal.i2cBus(1).attach(0x44, chip);
    const faults = i2cFaults(hal, { bus: 1, address: 0x44 }, chip);
    const bus = await hal.i2c(1);
    faults.setFault({ kind: "unplug" });
    await assert.rejects(bus.write(0x44, Buffer.from([0x24, 0x00])), { code: "EREMOTEIO" });
    faults.setFault({ kind: "crc" }); // replugs, then corrupts
    await bus.write(0x44, Buffer.from([0x24, 0x00]));
    const answer = await bus.read(0x44, 6);
    assert.notEqual(answer[2], sensirionCrc8(answer.subarray(0, 2)));
    faults.setFault({ kind: "slow" });
    await bus.write(0x44, Buffer.from([0x24, 0x00]));
    const started = performance.now();
    const clean = await bus.read(0x44, 6);
    assert.ok(performance.now() - started >= 490);
    assert.equal(clean[2], sensirionCrc8(clean.subarray(0, 2)), "crc cleared by the slow fault");
    faults.setFault(null);
  });

  test("stuck on the BME280: the model keeps measuring the environment of the moment", async () => {
    const hal = createSimHal();
    const chip = new SimBme280({ timing: "instant", environment: { temperature: 20 } });
    hal.i2cBus(1).attach(0x76, chip);
    const faults = i2cFaults(hal, { bus: 1, address: 0x76 }, chip);
    const bus = await hal.i2c(1);
    const convert = async () => {
      await bus.writeByte(0x76, 0xf2, 0x01);
      await bus.writeByte(0x76, 0xf4, 0b001_001_01);
      return [...(await bus.readBlock(0x76, 0xf7, 8))];
    };
    faults.setFault({ kind: "stuck" });
    const before = await convert();
    chip.setEnvironment({ temperature: 30, humidity: 80 });
    assert.deepEqual(await convert(), before);
    faults.setFault(null);
    assert.notDeepEqual(await convert(), before);
  });

  test("populate() applies configured faults and rejects a kind the chip cannot fake", async () => {
    const hal = createSimHal();
    const world = await populate(hal, {
      sensors: [sensor("ads1115", 0x48, [{ kind: "unplug", atMs: 0 }])],
      actuators: [],
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(hal.i2cBus(1).scan(), []);
    } finally {
      await world.close();
    }
    await assert.rejects(
      populate(createSimHal(), { sensors: [sensor("ads1115", 0x48, [{ kind: "crc", atMs: 0 }])], actuators: [] }),
      /sensors\[0\]\.sim\.faults: the ads1115 simulation cannot inject crc/,
    );
    const drivenHal = createSimHal();
    const driven = await populate(drivenHal, { sensors: [sensor("ads1115", 0x48), sensor("sht3x", 0x44)], actuators: [] }, () => 0);
    try {
      const bus = await drivenHal.i2c(1);
      await bus.writeBlock(0x48, 0x01, Buffer.from([0xc3, 0xe3])); // AIN0, ±4.096 V, single shot, 860 SPS
      await new Promise((resolve) => setTimeout(resolve, 5));
      const code = (await bus.readBlock(0x48, 0x00, 2)).readInt16BE(0);
      assert.ok(Math.abs(code * (4.096 / 0x8000) - 1.5) < 0.01, `AIN0 at t=0 reads ${code}`);
    } finally {
      await driven.close();
    }
  });

  test("a world follows a new config: devices that left are unplugged, new ones appear, unchanged ones stay", async () => {
    const hal = createSimHal();
    const world = await populate(hal, { sensors: [sensor("ads1115", 0x48), sensor("sht3x", 0x44)], actuators: [] });
    try {
      assert.deepEqual(hal.i2cBus(1).scan(), [0x44, 0x48]);
      const adc = await hal.i2c(1);
      // A non-default configuration (AIN1, ±1.024 V, continuous, 16 SPS) that a fresh chip would not have.
      await adc.writeBlock(0x48, 0x01, Buffer.from([0x56, 0x23]));
      const configured = [...(await adc.readBlock(0x48, 0x01, 2))];
      await world.update({ sensors: [sensor("ads1115", 0x48), sensor("bme280", 0x76)], actuators: [] });
      assert.deepEqual(hal.i2cBus(1).scan(), [0x48, 0x76]);
      assert.deepEqual([...(await adc.readBlock(0x48, 0x01, 2))], configured, "the unchanged ADS1115 kept its registers");
      assert.notDeepEqual(configured, [0x85, 0x83], "(differs from the power-on default)");
      // A changed device is a new chip at its new place; the old address is free again.
      await world.update({ sensors: [sensor("ads1115", 0x49), sensor("bme280", 0x76)], actuators: [] });
      assert.deepEqual(hal.i2cBus(1).scan(), [0x49, 0x76]);
    } finally {
      await world.close();
    }
    assert.deepEqual(hal.i2cBus(1).scan(), [], "closing the world unplugs everything");
  });
});

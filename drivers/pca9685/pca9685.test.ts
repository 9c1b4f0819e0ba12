// The PCA9685 actuator through the simulated HAL: sim I2C bus + register-level chip model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../agent/config.ts";
import { formatFieldValue } from "../../lib/model.ts";
import { LED_FULL, MODE1_AI, MODE1_SLEEP, REG_LED0_ON_L, REG_MODE1, SimPca9685 } from "../../firmware-sim/chips/pca9685.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { actuatorModels, i2cFaults, populate } from "../../firmware-sim/world.ts";
import type { ActuatorDevice } from "../driver.ts";
import { actuatorDrivers } from "../registry.ts";
import { prescaleFor } from "./device.ts";
import { dutyFor, pca9685, percentOf } from "./index.ts";

const BUS = 1;
const ADDRESS = 0x40;

function setup() {
  const hal = createSimHal();
  const chip = new SimPca9685();
  hal.i2cBus(BUS).attach(ADDRESS, chip);
  const open = (options: Record<string, unknown>) => pca9685.open(hal, { i2c: { bus: BUS }, ...options });
  return { hal, chip, open, faults: i2cFaults(hal, { bus: BUS, address: ADDRESS }, chip) };
}

/** The fields as text: [name, value, unit]. */
async function state(device: ActuatorDevice) {
  return (await device.read()).map((field) => [field.name, formatFieldValue(field), field.type === "numeric" ? field.unit : ""]);
}

describe("pca9685 arithmetic (data sheet Equation 1, Table 7)", () => {
  test("PRE_SCALE = round(25 MHz / (4096 · f)) − 1: 200 Hz → 0x1E, 50 Hz → 121, 1000 Hz → 5, the ends 24 and 1526 Hz → 253 and 3", () => {
    assert.equal(prescaleFor(200), 0x1e);
    assert.equal(prescaleFor(50), 121);
    assert.equal(prescaleFor(1000), 5);
    assert.equal(prescaleFor(24), 253);
    assert.equal(prescaleFor(1526), 3);
  });

  test("percent is the output's share of the period: n/4096, and 100 for full on; a percent goes to the nearest duty", () => {
    assert.deepEqual([percentOf(0), percentOf(1024), percentOf(2048), percentOf(4094), percentOf(4095)], [0, 25, 50, (4094 / 4096) * 100, 100]);
    assert.deepEqual([dutyFor(0), dutyFor(25), dutyFor(50), dutyFor(99.96), dutyFor(99.99), dutyFor(100)], [0, 1024, 2048, 4094, 4095, 4095]);
  });
});

describe("pca9685 channel on the simulated chip", () => {
  test("opening sets up the chip (AI, awake, PRE_SCALE for the frequency) and drives the safe duty; close drives it again", async () => {
    const { chip, open } = setup();
    const led = await open({ channel: 3, frequency: 1000, safeDuty: 0 });
    assert.equal(chip.register(REG_MODE1) & (MODE1_AI | MODE1_SLEEP), MODE1_AI);
    assert.equal(chip.prescale, 5);
    assert.equal(chip.dutyCycle(3), 0);
    assert.deepEqual(await state(led), [["duty", "0", ""], ["percent", "0.00", "%"]]);
    assert.deepEqual(led.parameters.map((spec) => [spec.name, spec.type, spec.min, spec.max]), [["duty", "int", 0, 4095], ["percent", "double", 0, 100]]);

    await led.write([{ name: "duty", value: 2048 }]);
    assert.equal(chip.dutyCycle(3), 0.5);
    assert.deepEqual(await state(led), [["duty", "2048", ""], ["percent", "50.00", "%"]]);
    await led.write([{ name: "percent", value: 25 }]);
    assert.deepEqual(chip.channel(3), { on: 0, off: 1024, fullOn: false, fullOff: false });
    assert.deepEqual(await state(led), [["duty", "1024", ""], ["percent", "25.00", "%"]]);
    await led.close();
    assert.equal(chip.dutyCycle(3), 0);
    await assert.rejects(led.read(), { message: "pca9685 at 0x40 on I2C bus 1 channel 3: device is closed" });
  });

  test("4095 and 100 % are full on, 0 is full off (the data sheet's bit 4 of LEDn_ON_H / LEDn_OFF_H)", async () => {
    const { chip, open } = setup();
    const led = await open({ channel: 0 });
    await led.write([{ name: "duty", value: 4095 }]);
    assert.deepEqual(chip.channel(0), { on: 0, off: 0, fullOn: true, fullOff: false });
    assert.equal(chip.dutyCycle(0), 1);
    assert.deepEqual(await state(led), [["duty", "4095", ""], ["percent", "100.00", "%"]]);
    await led.write([{ name: "duty", value: 0 }, { name: "percent", value: 100 }]);
    assert.equal(chip.dutyCycle(0), 1, "values apply in order");
    await led.write([{ name: "percent", value: 0 }]);
    assert.deepEqual(chip.channel(0), { on: 0, off: 0, fullOn: false, fullOff: true });
    assert.equal(chip.register(REG_LED0_ON_L + 3), LED_FULL);
    await assert.rejects(led.write([{ name: "state", value: true }]), /channel 0: no parameter state taking true; there are duty \(int 0–4095\) and percent/);
    await led.close();
  });

  test("a servo's safe duty (50 Hz, 1.5 ms = 307 counts) is driven at open and at close", async () => {
    const { chip, open } = setup();
    const servo = await open({ channel: 15, frequency: 50, safeDuty: 307 });
    assert.equal(chip.prescale, 121);
    assert.equal(chip.dutyCycle(15), 307 / 4096);
    await servo.write([{ name: "duty", value: 410 }]);
    await servo.close();
    assert.equal(chip.dutyCycle(15), 307 / 4096);
  });

  test("entries on one chip share its setup; another frequency or a channel already taken is a clear open error", async () => {
    const { chip, open } = setup();
    // Opened together, as the agent opens its actuators.
    const [red, green] = await Promise.all([open({ channel: 0, frequency: 500 }), open({ channel: 1, frequency: 500, safeDuty: 1024 })]);
    assert.equal(chip.prescale, prescaleFor(500));
    await red.write([{ name: "duty", value: 1000 }]);
    await green.write([{ name: "duty", value: 3000 }]);
    assert.deepEqual([chip.dutyCycle(0), chip.dutyCycle(1)], [1000 / 4096, 3000 / 4096]);
    await assert.rejects(open({ channel: 2, frequency: 50 }), {
      message:
        "pca9685 at 0x40 on I2C bus 1: channel 2 asks for 50 Hz, but channels 0, 1 run this chip at 500 Hz; the PCA9685 has one " +
        "PWM frequency for all 16 channels: give every channel on it the same frequency",
    });
    await assert.rejects(open({ channel: 1, frequency: 500 }), /channel 1 is already driven by another actuator; one entry per channel/);
    // 501 Hz is PRE_SCALE 11 like 500 Hz: the chip runs both, so the entry shares it.
    assert.equal(prescaleFor(501), prescaleFor(500));
    const blue = await open({ channel: 3, frequency: 501 });
    await blue.close();
    await red.close();
    assert.equal(chip.dutyCycle(1), 3000 / 4096, "closing one channel leaves the others running");
    await green.close();
    assert.equal(chip.dutyCycle(1), 0.25, "its safe duty");
    // Every entry closed: the next one may choose the frequency.
    const servo = await open({ channel: 2, frequency: 50 });
    assert.equal(chip.prescale, 121);
    assert.equal(chip.dutyCycle(1), 0.25);
    assert.equal(chip.restarts, 1, "sleeping for PRE_SCALE with channel 1 running set RESTART; the driver wrote it");
    await servo.close();
  });

  test("a chip already at the frequency is not put to sleep: its other channels run on", async () => {
    const { chip, open, hal } = setup();
    const bus = await hal.i2c(BUS);
    await bus.writeByte(ADDRESS, 0xfe, prescaleFor(1000)); // asleep since power-on: PRE_SCALE is writable
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L + 4 * 7, Buffer.from([0, 0, 0, 0x08]));
    const led = await open({ channel: 0 });
    assert.equal(chip.dutyCycle(7), 0.5);
    assert.equal(chip.restarts, 0, "never slept");
    await led.close();
  });

  test("bus faults: a failed write names the chip and channel; a replugged chip is set up again by the next write", async () => {
    const { chip, open, faults } = setup();
    const led = await open({ channel: 4, frequency: 200 });
    faults.setFault({ kind: "eio" });
    await assert.rejects(led.write([{ name: "duty", value: 100 }]), /^Error: pca9685 at 0x40 on I2C bus 1: I2C bus error \(EIO\)/);
    faults.setFault({ kind: "nack" });
    await assert.rejects(led.read(), /pca9685 at 0x40 on I2C bus 1: no device answers \(NACK, EREMOTEIO\).*none bridged is 0x40/);
    faults.setFault({ kind: "unplug" });
    faults.setFault(null); // replugged: power-on state, asleep at 200 Hz with AI clear
    assert.equal(chip.register(REG_MODE1), 0x11);
    await led.write([{ name: "duty", value: 2048 }]);
    assert.equal(chip.register(REG_MODE1) & (MODE1_AI | MODE1_SLEEP), MODE1_AI);
    assert.equal(chip.dutyCycle(4), 0.5);
    await led.close();
  });

  test("nothing at the address: the open fails naming the chip and the address choices, and a later open tries again", async () => {
    const hal = createSimHal();
    await assert.rejects(pca9685.open(hal, { i2c: { bus: BUS, address: 0x41 }, channel: 0 }), /^Error: pca9685 at 0x41 on I2C bus 1: no device answers/);
    hal.i2cBus(BUS).attach(0x41, new SimPca9685());
    const led = await pca9685.open(hal, { i2c: { bus: BUS, address: 0x41 }, channel: 0 });
    await led.close();
  });

  test("registered as an actuator with a sim model; entries sharing a chip validate, are placed once and open", async () => {
    assert.equal(actuatorDrivers.pca9685, pca9685);
    assert.ok(actuatorModels.pca9685);
    const config = parseConfig(
      "hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\n" +
        "actuators:\n" +
        "  - { id: lamp, driver: pca9685, i2c: { bus: 1 }, channel: 0 }\n" +
        "  - { id: strip, driver: pca9685, i2c: { bus: 1, address: 0x40 }, channel: 1, safeDuty: 4095 }\n",
      "/tmp/xedge.yaml",
      {},
    );
    assert.deepEqual(config.actuators[0]?.options, { i2c: { bus: 1, address: 0x40 }, channel: 0, frequency: 1000, safeDuty: 0 });
    const hal = createSimHal();
    const world = await populate(hal, config);
    assert.deepEqual(world.unsimulated, []);
    assert.deepEqual(hal.i2cBus(1).scan(), [0x40]);
    const [lamp, strip] = await Promise.all(config.actuators.map((entry) => pca9685.open(hal, entry.options)));
    assert.ok(lamp && strip);
    assert.deepEqual(await state(strip), [["duty", "4095", ""], ["percent", "100.00", "%"]]);
    await Promise.all([lamp.close(), strip.close()]);
    await world.update({ sensors: [], actuators: config.actuators.slice(1) });
    assert.deepEqual(hal.i2cBus(1).scan(), [0x40], "still placed for the entry left");
    await world.close();
    assert.deepEqual(hal.i2cBus(1).scan(), []);
  });

  test("config refuses a channel past 15 and a frequency the prescaler cannot make", () => {
    const parse = (entry: string) =>
      parseConfig(`hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\nactuators:\n  - ${entry}\n`, "/tmp/xedge.yaml", {});
    assert.throws(() => parse("{ id: a, driver: pca9685, i2c: { bus: 1 }, channel: 16 }"), /channel/);
    assert.throws(() => parse("{ id: a, driver: pca9685, i2c: { bus: 1 }, channel: 0, frequency: 2000 }"), /frequency/);
    assert.throws(() => parse("{ id: a, driver: pca9685, i2c: { bus: 1 }, channel: 0, safeDuty: 4096 }"), /safeDuty/);
  });
});

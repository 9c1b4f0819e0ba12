// The PCA9685 model against the data sheet's facts, spoken to through the simulated bus as a driver would.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createSimHal } from "../index.ts";
import { i2cFaults } from "../world.ts";
import {
  frequencyOf,
  LED_FULL,
  MODE1_AI,
  MODE1_RESTART,
  MODE1_SLEEP,
  REG_ALL_LED_ON_L,
  REG_LED0_ON_L,
  REG_MODE1,
  REG_MODE2,
  REG_PRE_SCALE,
  SimPca9685,
} from "./pca9685.ts";

const ADDRESS = 0x40;

/** A model on bus 1 with a hand-moved clock, and a bus handle to it. */
async function setup() {
  let now = 0;
  const chip = new SimPca9685({ clock: () => now });
  const hal = createSimHal();
  hal.i2cBus(1).attach(ADDRESS, chip);
  const bus = await hal.i2c(1);
  return { chip, hal, bus, advanceMs: (ms: number) => (now += ms) };
}

describe("PCA9685 model", () => {
  test("power-on state: MODE1 0x11 (asleep, All Call), MODE2 0x04, PRE_SCALE 0x1E (200 Hz), every output full off", async () => {
    const { chip, bus } = await setup();
    assert.equal(await bus.readByte(ADDRESS, REG_MODE1), 0x11);
    assert.equal(await bus.readByte(ADDRESS, REG_MODE2), 0x04);
    assert.equal(await bus.readByte(ADDRESS, REG_PRE_SCALE), 0x1e);
    // Equation 1 for 200 Hz gives the reset value; the chip then really runs at 197 Hz.
    assert.equal(Math.round(25_000_000 / (4096 * 200)) - 1, 0x1e);
    assert.equal(Math.round(frequencyOf(0x1e)), 197);
    for (let channel = 0; channel < 16; channel++) {
      assert.deepEqual(chip.channel(channel), { on: 0, off: 0, fullOn: false, fullOff: true });
    }
    assert.equal(await bus.readByte(ADDRESS, REG_LED0_ON_L + 3), LED_FULL);
    assert.equal(chip.dutyCycle(0), undefined, "asleep: no PWM");
  });

  test("PRE_SCALE is taken only while SLEEP is set, and never below 3; Equation 1 gives 50 Hz for 121", async () => {
    const { chip, bus } = await setup();
    await bus.writeByte(ADDRESS, REG_PRE_SCALE, 121);
    assert.equal(chip.prescale, 121);
    assert.ok(Math.abs(chip.frequency - 50) < 0.05, `${chip.frequency} Hz`);
    await bus.writeByte(ADDRESS, REG_PRE_SCALE, 1);
    assert.equal(await bus.readByte(ADDRESS, REG_PRE_SCALE), 3, "the hardware forces the minimum of 3");
    assert.equal(Math.round(frequencyOf(3)), 1526);
    assert.equal(Math.round(frequencyOf(255)), 24);
    await bus.writeByte(ADDRESS, REG_MODE1, 0x01); // awake
    await bus.writeByte(ADDRESS, REG_PRE_SCALE, 5);
    assert.equal(chip.prescale, 3, "not writable while awake");
  });

  test("auto-increment: with AI a block write fills a channel's four registers; without it every byte lands on one register", async () => {
    const { chip, bus } = await setup();
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L + 4, Buffer.from([0x10, 0x00, 0x00, 0x08]));
    assert.equal(await bus.readByte(ADDRESS, REG_LED0_ON_L + 4), 0x08, "AI off: the last byte wins, on LED1_ON_L");
    assert.deepEqual(chip.channel(1), { on: 0x08, off: 0, fullOn: false, fullOff: true });
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L + 4, Buffer.from([0x00, 0x00, 0x00, 0x08]));
    assert.deepEqual(chip.channel(1), { on: 0, off: 0x800, fullOn: false, fullOff: false });
    assert.deepEqual([...(await bus.readBlock(ADDRESS, REG_LED0_ON_L + 4, 4))], [0x00, 0x00, 0x00, 0x08]);
    assert.equal(chip.dutyCycle(1), 0.5);
    // Reading on from LED15_OFF_H wraps to MODE1.
    assert.deepEqual([...(await bus.readBlock(ADDRESS, REG_LED0_ON_L + 4 * 15 + 3, 2))], [LED_FULL, MODE1_AI]);
  });

  test("full off takes precedence over full on; reserved bits of LEDn_x_H read zero; ON..OFF wraps round the period", async () => {
    const { chip, bus } = await setup();
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L, Buffer.from([0x00, 0xf0 | LED_FULL, 0x00, LED_FULL]));
    assert.equal(chip.dutyCycle(0), 0);
    assert.equal(await bus.readByte(ADDRESS, REG_LED0_ON_L + 1), LED_FULL);
    await bus.writeByte(ADDRESS, REG_LED0_ON_L + 3, 0x00);
    assert.equal(chip.dutyCycle(0), 1, "full on once full off is cleared");
    // The data sheet's first example: 10 % delay, 20 % duty: ON = 0x199 (409), OFF = 0x4CC (1228).
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L, Buffer.from([0x99, 0x01, 0xcc, 0x04]));
    assert.equal(chip.dutyCycle(0), 819 / 4096);
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L, Buffer.from([0x00, 0x0f, 0xff, 0x00])); // ON 3840, OFF 255
    assert.equal(chip.dutyCycle(0), 511 / 4096);
  });

  test("ALL_LED loads every channel and reads back zero", async () => {
    const { chip, bus } = await setup();
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeBlock(ADDRESS, REG_ALL_LED_ON_L, Buffer.from([0x00, 0x00, 0x00, 0x04]));
    for (let channel = 0; channel < 16; channel++) assert.equal(chip.dutyCycle(channel), 0.25);
    assert.deepEqual([...(await bus.readBlock(ADDRESS, REG_ALL_LED_ON_L, 4))], [0, 0, 0, 0]);
  });

  test("RESTART: set by sleeping with a channel running, cleared by writing 1 after 500 µs awake, or by loading a channel", async () => {
    const { chip, bus, advanceMs } = await setup();
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI | MODE1_SLEEP);
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & MODE1_RESTART, 0, "every channel off: nothing to restart");
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    await bus.writeBlock(ADDRESS, REG_LED0_ON_L, Buffer.from([0, 0, 0x00, 0x08]));
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI | MODE1_SLEEP);
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & MODE1_RESTART, MODE1_RESTART);
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI);
    advanceMs(0.2);
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI | MODE1_RESTART);
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & MODE1_RESTART, MODE1_RESTART, "too early: the oscillator is not up");
    advanceMs(0.3);
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI | MODE1_RESTART);
    assert.equal(await bus.readByte(ADDRESS, REG_MODE1), MODE1_AI);
    assert.equal(chip.restarts, 1);

    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_AI | MODE1_SLEEP);
    await bus.writeByte(ADDRESS, REG_MODE1, 0x00);
    advanceMs(1);
    await bus.writeByte(ADDRESS, REG_MODE1, 0x00); // writing 0 to RESTART has no effect
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & MODE1_RESTART, MODE1_RESTART);
    await bus.writeByte(ADDRESS, REG_LED0_ON_L + 2, 0x00);
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & MODE1_RESTART, 0);
  });

  test("EXTCLK stays set until power is cycled; replugging brings back the power-on state", async () => {
    const { chip, hal, bus } = await setup();
    await bus.writeByte(ADDRESS, REG_MODE1, 0x40 | MODE1_SLEEP);
    await bus.writeByte(ADDRESS, REG_MODE1, MODE1_SLEEP);
    assert.equal((await bus.readByte(ADDRESS, REG_MODE1)) & 0x40, 0x40);
    await bus.writeByte(ADDRESS, REG_PRE_SCALE, 121);
    const faults = i2cFaults(hal, { bus: 1, address: ADDRESS }, chip);
    faults.setFault({ kind: "unplug" });
    await assert.rejects(bus.readByte(ADDRESS, REG_MODE1), { code: "EREMOTEIO" });
    faults.setFault(null);
    assert.equal(await bus.readByte(ADDRESS, REG_MODE1), 0x11);
    assert.equal(chip.prescale, 0x1e);
  });

  test("takes the bus faults (eio, nack, unplug, slow) and none of its own", async () => {
    const { chip, hal, bus } = await setup();
    const faults = i2cFaults(hal, { bus: 1, address: ADDRESS }, chip);
    assert.deepEqual([...faults.supportedFaults].sort(), ["eio", "nack", "slow", "unplug"]);
    faults.setFault({ kind: "eio" });
    await assert.rejects(bus.writeByte(ADDRESS, REG_MODE1, 0), { code: "EIO" });
    faults.setFault({ kind: "nack" });
    await assert.rejects(bus.readByte(ADDRESS, REG_MODE1), { code: "EREMOTEIO" });
    faults.setFault(null);
    assert.equal(await bus.readByte(ADDRESS, REG_MODE1), 0x11, "the failed write changed nothing");
    assert.throws(() => chip.setFault({ kind: "stuck" }), /cannot inject "stuck"/);
  });
});

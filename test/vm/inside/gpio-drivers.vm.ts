// The gpio-input and gpio-output drivers with `hardware: real` (sysfs backend) on the gpio-sim chip labelled
// pinctrl-bcm2711. The test is the wire: it moves an input with gpio-sim's pull and reads an output's level.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gpioInput } from "../../../drivers/gpio-input/index.ts";
import { gpioOutput } from "../../../drivers/gpio-output/index.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import type { Field } from "../../../lib/model.ts";
import { eventually } from "../../../firmware-sim/serial/testing.ts";
import { restoreHeaderChips, useHeaderChip, type SimChip } from "../../support/vm-guest.ts";

function value(fields: Field[], name: string): unknown {
  const found = fields.find((field) => field.name === name);
  assert.ok(found !== undefined, `no field ${name} in ${JSON.stringify(fields)}`);
  return found.value;
}

describe("gpio-input and gpio-output on gpio-sim (hardware: real)", () => {
  let chip: SimChip;
  before(async () => {
    chip = await useHeaderChip("pinctrl-bcm2711");
  });
  after(() => restoreHeaderChips());

  test("gpio-input level: a door contact to ground (activeLow) and a sample asked at each edge", async () => {
    const wire = chip.line(17);
    await wire.setPull("pull-up"); // the contact is open: the pull-up holds the line high
    const device = await gpioInput.open(createRealHal(), { gpio: { pin: 17, activeLow: true, debounce: "10ms" } });
    try {
      assert.equal(value(await device.read(), "state"), false);
      let asked = 0;
      const stop = device.watch?.(() => (asked += 1));
      await wire.setPull("pull-down"); // closed
      await eventually(async () => assert.ok(asked >= 1, "no sample asked after the edge"));
      assert.equal(value(await device.read(), "state"), true);
      await wire.setPull("pull-up");
      await eventually(async () => assert.equal(value(await device.read(), "state"), false));
      stop?.();
    } finally {
      await device.close();
    }
  });

  test("gpio-input counter: 10 pulses on the wire count 10 through the kernel's edge events", async () => {
    const wire = chip.line(27);
    await wire.setPull("pull-down");
    const device = await gpioInput.open(createRealHal(), {
      gpio: { pin: 27, edge: "rising", debounce: "5ms" },
      mode: "counter",
      counter: { perPulse: 0.2794, unit: "mm", per: "h" },
    });
    try {
      for (let i = 0; i < 10; i++) {
        await wire.setPull("pull-up");
        await sleep(40);
        await wire.setPull("pull-down");
        await sleep(40);
      }
      await eventually(async () => assert.equal(value(await device.read(), "count"), 10), 3000);
    } finally {
      await device.close();
    }
  });

  test("gpio-output: comes up in its safe state, follows writes, drives the safe state on close", async () => {
    const wire = chip.line(22);
    const relay = await gpioOutput.open(createRealHal(), { gpio: { pin: 22, activeLow: true }, safeState: "off" });
    try {
      // activeLow, safe state off: the relay board's input is held high from the moment the line is opened.
      assert.equal(await wire.value(), 1);
      assert.equal(value(await relay.read(), "state"), false);
      await relay.write([{ name: "state", value: true }]);
      assert.equal(await wire.value(), 0);
      assert.equal(value(await relay.read(), "state"), true);
    } finally {
      await relay.close();
    }
    // gpio-sim returns a released line to its pull (a Pi's pin keeps the last level), so the safe state the
    // driver drove on close is seen through a second open, which must not glitch it either.
    const again = await gpioOutput.open(createRealHal(), { gpio: { pin: 22, activeLow: true }, safeState: "on" });
    try {
      assert.equal(await wire.value(), 0);
      assert.equal(value(await again.read(), "state"), true);
    } finally {
      await again.close();
    }
  });
});

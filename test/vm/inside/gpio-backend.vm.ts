// The real GPIO backend (drivers/real/gpio.ts: sysfs through onoff) against gpio-sim chips labelled as the
// Pi's header controllers. gpio-sim's `pull` attribute is the wire: it drives an input line.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { GpioLine } from "../../../drivers/hal.ts";
import { headerChipBase } from "../../../drivers/real/gpio.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { eventually } from "../../../firmware-sim/serial/testing.ts";
import { restoreHeaderChips, useHeaderChip, type SimChip } from "../../support/vm-guest.ts";

const hal = createRealHal();

async function withLine<T>(line: GpioLine, run: (line: GpioLine) => Promise<T>): Promise<T> {
  try {
    return await run(line);
  } finally {
    await line.close();
  }
}

for (const label of ["pinctrl-bcm2711", "pinctrl-rp1"]) {
  describe(`real GPIO backend (sysfs) on gpio-sim labelled ${label}`, () => {
    let chip: SimChip;
    before(async () => {
      chip = await useHeaderChip(label);
    });
    after(() => restoreHeaderChips());

    test("the header chip is found by its label: BCM numbers start at its sysfs base", async () => {
      assert.ok(chip.base > 0, `base ${chip.base}: gpio-sim chips are numbered from the top, not from 0`);
      assert.equal(await headerChipBase(), chip.base);
    });

    test("an input reads the level on its wire", async () => {
      await withLine(await hal.gpio(17, { direction: "in" }), async (line) => {
        await chip.line(17).setPull("pull-up");
        assert.equal(await line.read(), 1);
        await chip.line(17).setPull("pull-down");
        assert.equal(await line.read(), 0);
      });
    });

    test("activeLow inverts an input: a contact to ground reads 1", async () => {
      await chip.line(27).setPull("pull-down");
      await withLine(await hal.gpio(27, { direction: "in", activeLow: true }), async (line) => {
        assert.equal(await line.read(), 1);
      });
    });

    test("edges arrive through watch() in order", async () => {
      await chip.line(22).setPull("pull-down");
      await withLine(await hal.gpio(22, { direction: "in", edge: "both" }), async (line) => {
        const seen: number[] = [];
        const stop = line.watch((value) => seen.push(value));
        for (const pull of ["pull-up", "pull-down", "pull-up"] as const) {
          await chip.line(22).setPull(pull);
          await sleep(100);
        }
        await eventually(async () => assert.deepEqual(seen, [1, 0, 1]));
        stop();
      });
    });

    test("an output comes up at its initial level and follows writes", async () => {
      await withLine(await hal.gpio(5, { direction: "out", initial: 1 }), async (line) => {
        assert.equal(await chip.line(5).value(), 1);
        await line.write(0);
        assert.equal(await chip.line(5).value(), 0);
        await line.write(1);
        assert.equal(await chip.line(5).value(), 1);
      });
    });

    test("an activeLow output at logical 1 drives the wire low", async () => {
      await withLine(await hal.gpio(6, { direction: "out", initial: 1, activeLow: true }), async (line) => {
        assert.equal(await chip.line(6).value(), 0);
        await line.write(0);
        assert.equal(await chip.line(6).value(), 1);
      });
    });

    test("a pin past the chip's last line is refused", async () => {
      await assert.rejects(hal.gpio(chip.lines, { direction: "in" }), /does not exist on this board/);
    });
  });
}

// The real GPIO backend (drivers/real/gpio.ts: sysfs through onoff) against gpio-sim chips labelled as the
// Pi's header controllers. gpio-sim's `pull` attribute is the wire: it drives an input line. The backend is
// asked for by name (auto prefers the character device). Input levels, active-low inputs and edges run for both
// backends in gpio-backends.vm.ts; what stays here is sysfs's own: the chip's base, outputs, a pin past the end.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { GpioLine } from "../../../drivers/hal.ts";
import { headerChipBase } from "../../../drivers/real/gpio.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
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

    test("an output comes up at its initial level and follows writes", async () => {
      await withLine(await hal.gpio(5, { direction: "out", initial: 1, backend: "sysfs" }), async (line) => {
        assert.equal(await chip.line(5).value(), 1);
        await line.write(0);
        assert.equal(await chip.line(5).value(), 0);
        await line.write(1);
        assert.equal(await chip.line(5).value(), 1);
      });
    });

    test("an activeLow output at logical 1 drives the wire low", async () => {
      await withLine(await hal.gpio(6, { direction: "out", initial: 1, activeLow: true, backend: "sysfs" }), async (line) => {
        assert.equal(await chip.line(6).value(), 0);
        await line.write(0);
        assert.equal(await chip.line(6).value(), 1);
      });
    });

    test("a pin past the chip's last line is refused", async () => {
      await assert.rejects(hal.gpio(chip.lines, { direction: "in", backend: "sysfs" }), /does not exist on this board/);
    });
  });
}

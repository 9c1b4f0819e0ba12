// Both real GPIO backends, the character device (drivers/real/gpio-cdev.ts) and sysfs (drivers/real/gpio.ts),
// through the same checks against gpio-sim chips labelled as a Pi 4's and a Pi 5's pin controller, one chip
// live at a time as on a board: inputs read what the test pulls the wire to, bias shows in gpio-sim's `pull`
// (cdev) or is refused with the fix (sysfs), edges and pulses reach gpio-input, gpio-output comes up in its
// safe state, active-low inverts both ways, and a line someone else holds is EBUSY naming the holder.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { gpioInput } from "../../../drivers/gpio-input/index.ts";
import { gpioOutput } from "../../../drivers/gpio-output/index.ts";
import type { GpioBackend, Hal } from "../../../drivers/hal.ts";
import type { Field } from "../../../lib/model.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { restoreHeaderChips, useHeaderChip, type SimChip } from "../../support/vm-guest.ts";

function field(fields: Field[], name: string): Field["value"] {
  const found = fields.find((f) => f.name === name);
  assert.ok(found !== undefined, `no field ${name} in ${JSON.stringify(fields)}`);
  return found.value;
}

after(() => restoreHeaderChips());

for (const label of ["pinctrl-bcm2711", "pinctrl-rp1"]) {
  for (const backend of ["cdev", "sysfs"] as const satisfies GpioBackend[]) {
    describe(`GPIO over ${backend} on ${label}`, () => {
      // On the Pi 5's chip only the checks that find and number its lines run: the rest is the same code as on
      // pinctrl-bcm2711, and running it twice would only double the time inside the emulator.
      const testOnPi4 = (name: string, check: () => Promise<void>): void => {
        if (label === "pinctrl-bcm2711") test(name, check);
      };
      let chip: SimChip;
      const hal: Hal = createRealHal();
      before(async () => {
        chip = await useHeaderChip(label);
      });

      test("an input reads the level the wire is pulled to; active-low inverts it", async () => {
        const wire = chip.line(17);
        await wire.setPull("pull-up");
        const line = await hal.gpio(17, { direction: "in", backend });
        try {
          assert.equal(await line.read(), 1);
          await wire.setPull("pull-down");
          assert.equal(await line.read(), 0);
        } finally {
          await line.close();
        }
        const inverted = await hal.gpio(17, { direction: "in", activeLow: true, backend });
        try {
          assert.equal(await inverted.read(), 1, "a low wire is the active level");
        } finally {
          await inverted.close();
        }
      });

      if (backend === "cdev") {
        testOnPi4("bias up and down reach the pin controller: gpio-sim's pull shows them and the floating line follows", async () => {
          const wire = chip.line(23);
          await wire.setPull("pull-down");
          const up = await hal.gpio(23, { direction: "in", bias: "up", backend });
          try {
            assert.equal(await wire.pull(), "pull-up");
            assert.equal(await up.read(), 1);
          } finally {
            await up.close();
          }
          const down = await hal.gpio(23, { direction: "in", bias: "down", backend });
          try {
            assert.equal(await wire.pull(), "pull-down");
            assert.equal(await down.read(), 0);
          } finally {
            await down.close();
          }
        });
      } else {
        testOnPi4("bias is refused with the fix, and the line is left alone", async () => {
          const wire = chip.line(23);
          await wire.setPull("pull-down");
          await assert.rejects(hal.gpio(23, { direction: "in", bias: "up", backend }), {
            message: /^GPIO 23: gpio\.bias: up needs the GPIO character device, .*`gpio=23=ip,pu`/,
          });
          assert.equal(await wire.pull(), "pull-down");
        });
      }

      testOnPi4("edges arrive in order, each with its time", async () => {
        const wire = chip.line(24);
        await wire.setPull("pull-down");
        const line = await hal.gpio(24, { direction: "in", edge: "both", backend });
        const edges: { value: 0 | 1; at: number }[] = [];
        try {
          line.watch((value, at) => edges.push({ value, at: at.getTime() }));
          const start = Date.now();
          await wire.setPull("pull-up");
          await sleep(50);
          await wire.setPull("pull-down");
          await sleep(100);
          assert.deepEqual(
            edges.map((edge) => edge.value),
            [1, 0],
          );
          const [rise, fall] = edges;
          assert.ok(rise && fall && rise.at >= start - 5 && fall.at - rise.at >= 40 && fall.at <= Date.now(), JSON.stringify({ start, edges }));
        } finally {
          await line.close();
        }
      });

      testOnPi4("gpio-input counts 10 pulses of 10, and a bouncing contact once per move", async () => {
        const wire = chip.line(26);
        await wire.setPull("pull-down");
        const counter = await gpioInput.open(hal, { gpio: { pin: 26, backend, debounce: "0ms" }, mode: "counter" });
        try {
          for (let pulse = 0; pulse < 10; pulse++) {
            await wire.setPull("pull-up");
            await sleep(15);
            await wire.setPull("pull-down");
            await sleep(15);
          }
          await sleep(100);
          assert.equal(field(await counter.read(), "count"), 10);
        } finally {
          await counter.close();
        }
        // A contact to ground (active-low) that bounces twice on every move: the burst is written synchronously
        // (the helper's writes go through libuv's pool and took 100-340 ms per burst under emulation).
        await wire.setPull("pull-up");
        const contact = await gpioInput.open(hal, { gpio: { pin: 26, backend, activeLow: true, debounce: "40ms" }, mode: "level" });
        const samples: boolean[] = [];
        const bursts: number[] = [];
        try {
          contact.watch?.(() => void contact.read().then((fields) => samples.push(field(fields, "state") === true)));
          for (const settle of ["pull-down", "pull-up", "pull-down"] as const) {
            const other = settle === "pull-up" ? "pull-down" : "pull-up";
            const burst = performance.now();
            for (const pull of [settle, other, settle, other, settle]) writeFileSync(`/sys/bus/gpio/devices/${chip.chipName}/sim_gpio26/pull`, pull);
            bursts.push(Math.round(performance.now() - burst));
            await sleep(300);
          }
          assert.deepEqual(samples, [true, false, true], `bursts took ${bursts.join(", ")} ms`);
        } finally {
          await contact.close();
        }
      });

      test("gpio-output comes up in its safe state, active-low inverted, and drives what it is told", async () => {
        const coil = chip.line(22);
        const relay = await gpioOutput.open(hal, { gpio: { pin: 22, activeLow: true, backend }, safeState: "off" });
        try {
          assert.equal(await coil.value(), 1, "off on an active-low module is a high wire");
          await relay.write([{ name: "state", value: true }]);
          assert.equal(await coil.value(), 0);
          assert.equal(field(await relay.read(), "state"), true);
        } finally {
          await relay.close();
        }
        const pump = await gpioOutput.open(hal, { gpio: { pin: 22, backend }, safeState: "on" });
        try {
          assert.equal(await coil.value(), 1, "safeState on, active-high");
          assert.equal(field(await pump.read(), "state"), true);
        } finally {
          await pump.close();
        }
      });

      if (backend === "cdev") {
        testOnPi4("bias up keeps a released active-low relay off where the kernel returns the pin to its pull", async () => {
          const coil = chip.line(21);
          await coil.setPull("pull-down");
          const relay = await gpioOutput.open(hal, { gpio: { pin: 21, activeLow: true, bias: "up", backend }, safeState: "off" });
          await relay.write([{ name: "state", value: true }]);
          assert.equal(await coil.value(), 0);
          await relay.close();
          // gpio-sim, like pin controllers that make a freed pin an input, leaves it to its pull: up, so off.
          assert.equal(await coil.value(), 1);
        });
      }

      testOnPi4("a line someone else holds is EBUSY, naming the holder", async () => {
        if (backend === "cdev") {
          // Held through sysfs by another program: the kernel names the consumer "sysfs".
          await writeFile("/sys/class/gpio/export", String(chip.base + 12));
          try {
            await assert.rejects(hal.gpio(12, { direction: "in", backend }), (error: unknown) => {
              assert.ok(error instanceof Error);
              assert.equal((error as { code?: string }).code, "EBUSY");
              assert.match(error.message, /^GPIO 12 \(\/dev\/gpiochip\d+ line 12\): line in use by "sysfs" \(EBUSY\): pick a free pin/);
              return true;
            });
          } finally {
            await writeFile("/sys/class/gpio/unexport", String(chip.base + 12));
          }
        } else {
          // Held through the character device.
          const holder = await hal.gpio(12, { direction: "in", backend: "cdev" });
          try {
            await assert.rejects(hal.gpio(12, { direction: "in", backend }), {
              message: /^GPIO 12 \(\/sys\/class\/gpio\/gpio\d+\): the pin is claimed by a kernel driver or another program \(EBUSY\)/,
            });
          } finally {
            await holder.close();
          }
        }
      });
    });
  }
}

describe("GPIO backend auto", () => {
  test("picks the character device where the header chip has one: bias is applied", async () => {
    const chip = await useHeaderChip("pinctrl-bcm2711");
    const wire = chip.line(20);
    await wire.setPull("pull-down");
    const line = await createRealHal().gpio(20, { direction: "in", bias: "up", debounceMs: 10, edge: "both" });
    try {
      assert.equal(await wire.pull(), "pull-up");
      assert.equal(line.kernelDebounceMs, 10, "the kernel debounces the line");
    } finally {
      await line.close();
    }
  });
});

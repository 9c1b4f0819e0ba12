// The real GPIO backend without GPIO hardware: chip base detection on sysfs-shaped folders, and the errors
// a gateway owner sees instead of stack traces.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HardwareAccessError } from "../hal.ts";
import { openBoard } from "./board.ts";
import { gpioAccessError, headerChipBase } from "./gpio.ts";
import { createRealHal } from "./index.ts";

const folders: string[] = [];
after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** A /sys/class/gpio lookalike with the given chips. */
function sysfs(chips: { base: number; label: string }[]): string {
  const root = mkdtempSync(join(tmpdir(), "xedge-gpio-"));
  folders.push(root);
  writeFileSync(join(root, "export"), "");
  for (const { base, label } of chips) {
    mkdirSync(join(root, `gpiochip${base}`));
    writeFileSync(join(root, `gpiochip${base}`, "label"), `${label}\n`);
    writeFileSync(join(root, `gpiochip${base}`, "base"), `${base}\n`);
  }
  return root;
}

describe("real GPIO backend", () => {
  test("finds the header's gpiochip base on each Pi generation", async () => {
    // Pi 4 on kernel 6.6: the SoC's controller at 512, the firmware's expander after it.
    assert.equal(await headerChipBase(sysfs([{ base: 512, label: "pinctrl-bcm2711" }, { base: 570, label: "raspberrypi-exp-gpio" }])), 512);
    // Pi 5: RP1 at 571 among the SoC's own chips.
    assert.equal(
      await headerChipBase(sysfs([{ base: 512, label: "gpio-brcmstb@107d508500" }, { base: 571, label: "pinctrl-rp1" }])),
      571,
    );
    // Older kernels on a Pi 3: base 0.
    assert.equal(await headerChipBase(sysfs([{ base: 0, label: "pinctrl-bcm2835" }])), 0);
    // Another board with a single chip: that one.
    assert.equal(await headerChipBase(sysfs([{ base: 32, label: "gpio-mockup-A" }])), 32);
    await assert.rejects(headerChipBase(sysfs([{ base: 0, label: "a" }, { base: 32, label: "b" }])), {
      message: /cannot tell which GPIO chip drives the 40-pin header: .* has gpiochip0 \(a\), gpiochip32 \(b\), none labelled pinctrl-bcm2835 or pinctrl-bcm2711 or pinctrl-rp1/,
    });
  });

  test("on a machine without sysfs GPIO, opening a pin is one HardwareAccessError with the fix", async () => {
    const missing = join(tmpdir(), "xedge-no-such-gpio");
    await assert.rejects(headerChipBase(missing), (error: unknown) => error instanceof HardwareAccessError && error.device === missing);
    // This machine has no /sys/class/gpio (onoff: Gpio.accessible is false).
    await assert.rejects(createRealHal().gpio(17, { direction: "in", edge: "both" }), (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.equal(
        error.message,
        "/sys/class/gpio: this system has no sysfs GPIO interface. Raspberry Pi OS kernels provide it (CONFIG_GPIO_SYSFS); " +
          "on another kernel enable that option, and on a machine without GPIO use `hardware: sim`",
      );
      return true;
    });
    // A failed open leaves the pin free: the next attempt fails the same way, not with EBUSY.
    await assert.rejects(createRealHal().gpio(17, { direction: "out", initial: 0 }), HardwareAccessError);
  });

  test("EACCES for a user already in `gpio`: a re-login or SupplementaryGroups, or udev rules when the process has the group", () => {
    const root = mkdtempSync(join(tmpdir(), "xedge-gpio-board-"));
    folders.push(root);
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/group"), "root:x:0:\ndialout:x:20:pi\ngpio:x:997:pi,xedge\ni2c:x:998:pi\n");
    const denied = Object.assign(new Error("EACCES: permission denied, open '/sys/class/gpio/export'"), { code: "EACCES" });
    const fixFor = (userName: string, processGroups: number[]) =>
      gpioAccessError(17, 529, denied, openBoard({ root, userName: () => userName, processGroups: () => processGroups }))?.message ?? "";
    // Listed in /etc/group, but this process started before (or its unit lacks SupplementaryGroups=gpio).
    assert.match(
      fixFor("pi", [20, 998, 1000]),
      /^GPIO 17 \(\/sys\/class\/gpio\/gpio529\): permission denied: the user is already in the `gpio` group, but the agent's process does not have it yet \(usermod will not help\): .*log out and in again; as a service, the unit needs SupplementaryGroups=gpio/,
    );
    // The process holds gid 997: the files are not the group's.
    assert.match(fixFor("xedge", [997, 998, 20]), /permission denied although the agent runs with the `gpio` group \(usermod will not help\): udev has not given the GPIO files to that group\. .*`sudo udevadm trigger`/);
    // Not in the group at all: add it.
    assert.match(fixFor("guest", [100]), /permission denied: add the user the agent runs as to the `gpio` group \(`sudo usermod -aG gpio <user>`\)/);
  });

  test("export and access errors name the pin and the fix", () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: failed, open '/sys/class/gpio/export'`), { code });
    // A board without a `gpio` group, so the host's groups cannot change the answer.
    const denied = gpioAccessError(17, 529, errno("EACCES"), openBoard({ root: sysfs([]) }));
    assert.ok(denied instanceof HardwareAccessError);
    assert.equal(denied.device, "GPIO 17 (/sys/class/gpio/gpio529)");
    assert.match(denied.message, /permission denied: add the user the agent runs as to the `gpio` group \(`sudo usermod -aG gpio <user>`\)/);
    assert.match(gpioAccessError(4, 516, errno("EBUSY"))?.message ?? "", /^GPIO 4 \(.*\): the pin is claimed by a kernel driver or another program \(EBUSY\): 1-Wire uses GPIO 4/);
    assert.match(gpioAccessError(27, 539, errno("EINVAL"))?.message ?? "", /the kernel refused line 539 \(EINVAL\)/);
    assert.ok(gpioAccessError(17, 529, errno("ENOENT")) instanceof HardwareAccessError);
    assert.equal(gpioAccessError(17, 529, errno("EIO")), undefined);
  });
});

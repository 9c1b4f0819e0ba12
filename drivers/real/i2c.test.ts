// The real I2C backend's errors, without an I2C bus: i2c-bus's transfers replaced by a fake that fails as the
// kernel does, and the board's sysfs laid out in a temporary folder.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HardwareAccessError } from "../hal.ts";
import { openBoard } from "./board.ts";
import { RealI2cBus, accessError, type SmbusTransfers } from "./i2c.ts";

const root = mkdtempSync(join(tmpdir(), "xedge-i2c-board-"));
after(() => rmSync(root, { recursive: true, force: true }));

function errno(code: string, syscall: string): Error {
  return Object.assign(new Error(`${code}, ${syscall}`), { code, syscall });
}

/** Transfers that fail with `error`, counting how often the bus was reached. */
function failingTransfers(error: Error): SmbusTransfers & { calls: number } {
  const fail = async (): Promise<never> => {
    transfers.calls += 1;
    throw error;
  };
  const transfers = {
    calls: 0,
    readByte: fail,
    writeByte: fail,
    readWord: fail,
    writeWord: fail,
    readI2cBlock: fail,
    writeI2cBlock: fail,
    i2cWrite: fail,
    i2cRead: fail,
    close: async () => undefined,
  };
  return transfers;
}

describe("real I2C backend", () => {
  test("EBUSY: a kernel driver owns the address; the error names bus, address, driver, UU and the dtoverlay, and the address is not tried again", async () => {
    // /sys/bus/i2c/devices/1-0068 as a Pi shows it with dtoverlay=i2c-rtc,ds3231.
    const client = join(root, "sys/devices/platform/soc/fe804000.i2c/i2c-1/1-0068");
    mkdirSync(client, { recursive: true });
    mkdirSync(join(root, "sys/bus/i2c/devices"), { recursive: true });
    mkdirSync(join(root, "sys/bus/i2c/drivers/rtc-ds1307"), { recursive: true });
    writeFileSync(join(client, "name"), "ds3231\n");
    symlinkSync("../../../../../../bus/i2c/drivers/rtc-ds1307", join(client, "driver"));
    symlinkSync("../../../devices/platform/soc/fe804000.i2c/i2c-1/1-0068", join(root, "sys/bus/i2c/devices/1-0068"));

    const transfers = failingTransfers(errno("EBUSY", "setAddr"));
    const bus = new RealI2cBus(1, transfers, openBoard({ root }));
    const expected = (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError, String(error));
      assert.equal(
        error.message,
        "/dev/i2c-1 address 0x68: a kernel driver owns this address (the kernel's rtc-ds1307 driver for a ds3231), and " +
          "`i2cdetect -y 1` shows it as UU: e.g. an rtc or sensor dtoverlay in /boot/firmware/config.txt. Remove its " +
          "dtoverlay line and reboot to read the chip here, or read it through that driver instead",
      );
      return true;
    };
    await assert.rejects(bus.readByte(0x68, 0x00), expected);
    await assert.rejects(bus.writeByte(0x68, 0x0e, 0x1c), expected);
    assert.equal(transfers.calls, 1, "the owned address was tried again");
    // Other addresses still go to the bus; where sysfs names no driver, the message still says UU and dtoverlay.
    await assert.rejects(bus.readBlock(0x77, 0x88, 24), {
      name: "HardwareAccessError",
      message: /^\/dev\/i2c-1 address 0x77: a kernel driver owns this address, and `i2cdetect -y 1` shows it as UU/,
    });
    assert.equal(transfers.calls, 2);
    // EBUSY from a transfer itself (a busy bus) is not an owned address: it passes through and is tried again.
    const busy = failingTransfers(errno("EBUSY", "readByte"));
    const busyBus = new RealI2cBus(1, busy, openBoard({ root }));
    await assert.rejects(busyBus.readByte(0x76, 0xd0), { code: "EBUSY", syscall: "readByte" });
    await assert.rejects(busyBus.readByte(0x76, 0xd0), { code: "EBUSY", syscall: "readByte" });
    assert.equal(busy.calls, 2);
  });

  test("other transfer errors keep their meaning", async () => {
    const bus = new RealI2cBus(1, failingTransfers(errno("EREMOTEIO", "readByte")), openBoard({ root }));
    await assert.rejects(bus.readByte(0x44, 0), { code: "EREMOTEIO" });
    assert.match(accessError(1, errno("ENOENT", "open"))?.message ?? "", /^\/dev\/i2c-1: I2C bus 1 is not enabled/);
    assert.equal(accessError(1, errno("EBUSY", "setAddr")), undefined);
  });
});

// The w1 sysfs reader on sysfs-shaped folders: the one implementation behind both backends.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HardwareAccessError } from "../hal.ts";
import { openW1Sysfs, W1_DEVICES } from "./onewire.ts";

const folder = mkdtempSync(join(tmpdir(), "xedge-w1-test-"));
after(() => rmSync(folder, { recursive: true, force: true }));

describe("w1 sysfs reader", () => {
  test("lists devices (not bus masters), reads w1_slave, and says when a device is gone", async () => {
    const root = join(folder, "devices");
    for (const entry of ["w1_bus_master1", "28-0316a2795aff", "10-000802b4a3c1"]) mkdirSync(join(root, entry), { recursive: true });
    writeFileSync(join(root, "28-0316a2795aff", "w1_slave"), "text");
    const w1 = openW1Sysfs(root);
    assert.deepEqual(await w1.list(), ["10-000802b4a3c1", "28-0316a2795aff"]);
    assert.equal(await w1.readSlave("28-0316a2795aff"), "text");
    await assert.rejects(w1.readSlave("28-000000000001"), { code: "ENOENT", message: /^no such device on the bus \(.*28-000000000001\/w1_slave is missing\)$/ });
    await assert.rejects(w1.readSlave("../etc"), /is not a 1-Wire device id/);
  });

  test("a missing tree is HardwareAccessError telling how to enable 1-Wire", async () => {
    const w1 = openW1Sysfs(join(folder, "absent"));
    const expected = (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /absent: 1-Wire is not enabled: run `sudo raspi-config nonint do_onewire 0` \(it adds dtoverlay=w1-gpio to \/boot\/firmware\/config.txt: data on GPIO 4, header pin 7\) and reboot$/);
      return true;
    };
    await assert.rejects(w1.list(), expected);
    await assert.rejects(w1.readSlave("28-0316a2795aff"), expected);
    assert.equal(W1_DEVICES, "/sys/bus/w1/devices");
  });
});

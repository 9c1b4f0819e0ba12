// The real serial backend: clear errors for missing, forbidden and busy ports; bytes both ways over a socat pty.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, test } from "node:test";
import { placeSimSerialPort, releaseSimSerialPort } from "../../firmware-sim/serial/pty.ts";
import { assertNoSocatLeft, eventually } from "../../firmware-sim/serial/testing.ts";
import { HardwareAccessError } from "../hal.ts";
import { openSerialLink, serialAccessError } from "./serial.ts";

const socatPids = new Set<number>();

after(() => assertNoSocatLeft(socatPids));

describe("real serial backend", () => {
  test("a missing USB adapter: one HardwareAccessError naming the path and how to find adapters", async () => {
    await assert.rejects(openSerialLink({ path: "/dev/ttyUSB97", baudRate: 9600 }), (error: Error) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.equal(error.message, "/dev/ttyUSB97: no such serial device: is the adapter plugged in? `ls /dev/serial/by-id/` lists the adapters present (a by-id path stays the same when USB devices are re-enumerated)");
      return true;
    });
  });

  test("the Pi's UART missing: enable it with raspi-config, no login shell on it", { skip: existsSync("/dev/serial0") }, async () => {
    await assert.rejects(openSerialLink({ path: "/dev/serial0", baudRate: 9600 }), (error: Error) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /^\/dev\/serial0: no such serial device: the Pi's UART is not enabled\. Run `sudo raspi-config nonint do_serial_hw 0` and `sudo raspi-config nonint do_serial_cons 1`/);
      return true;
    });
  });

  test("permission denied and a port in use are explained", () => {
    const denied = serialAccessError("/dev/ttyUSB0", Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" }));
    assert.match(denied?.message ?? "", /^\/dev\/ttyUSB0: permission denied: add the user .* to the `dialout` group/);
    const busy = serialAccessError("/dev/ttyUSB0", new Error("Error Resource temporarily unavailable Cannot lock port"));
    assert.match(busy?.message ?? "", /^\/dev\/ttyUSB0: the port is in use by another program \(gpsd, ModemManager/);
    assert.equal(serialAccessError("/dev/ttyUSB0", new Error("EIO")), undefined);
  });

  test("bytes both ways over a pty, writes resolve after drain, a second opener is refused, unplug closes the link", async () => {
    const port = await placeSimSerialPort({ path: "/dev/ttyUSB5", baudRate: 115200 });
    if (port.pid !== undefined) socatPids.add(port.pid);
    const link = await openSerialLink({ path: "/dev/ttyUSB5", baudRate: 115200 }, port.deviceEnd);
    try {
      assert.equal(link.path, "/dev/ttyUSB5");
      const toDevice: Buffer[] = [];
      const fromDevice: Buffer[] = [];
      port.onData((chunk) => toDevice.push(chunk));
      link.onData((chunk) => fromDevice.push(chunk));
      const payload = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));
      await link.write(payload);
      await port.write("hello\n");
      await eventually(async () => {
        assert.deepEqual(Buffer.concat(toDevice), payload);
        assert.equal(Buffer.concat(fromDevice).toString(), "hello\n");
      });
      await assert.rejects(openSerialLink({ path: "/dev/ttyUSB5", baudRate: 115200 }, port.deviceEnd), /\/dev\/ttyUSB5: the port is in use by another program/);
      let closed = false;
      link.onClose(() => {
        closed = true;
      });
      await port.unplug();
      await eventually(async () => assert.ok(closed, "onClose was not called"));
      await assert.rejects(openSerialLink({ path: "/dev/ttyUSB5", baudRate: 115200 }, port.deviceEnd), /no such serial device/);
    } finally {
      await link.close();
      await releaseSimSerialPort(port);
    }
  });
});

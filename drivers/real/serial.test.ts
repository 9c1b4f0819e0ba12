// The real serial backend: clear errors for missing, forbidden and busy ports; bytes both ways over a socat pty.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { placeSimSerialPort, releaseSimSerialPort } from "../../firmware-sim/serial/pty.ts";
import { assertNoSocatLeft, eventually } from "../../firmware-sim/serial/testing.ts";
import { HardwareAccessError, type SerialOptions } from "../hal.ts";
import { openBoard, type Board } from "./board.ts";
import { boardUartError, openSerialLink, serialAccessError } from "./serial.ts";

const socatPids = new Set<number>();
const boardFolders: string[] = [];

after(() => {
  boardFolders.forEach((folder) => rmSync(folder, { recursive: true, force: true }));
  assertNoSocatLeft(socatPids);
});

/** A board's /dev (UART nodes, and udev's serialN links to them as relative symlinks) and its device-tree model. */
function board(model: string | undefined, nodes: string[], links: Record<string, string> = {}): Board {
  const root = mkdtempSync(join(tmpdir(), "xedge-board-"));
  boardFolders.push(root);
  mkdirSync(join(root, "dev"));
  for (const node of nodes) writeFileSync(join(root, "dev", node), "");
  for (const [link, target] of Object.entries(links)) symlinkSync(target, join(root, "dev", link));
  if (model !== undefined) {
    mkdirSync(join(root, "proc/device-tree"), { recursive: true });
    writeFileSync(join(root, "proc/device-tree/model"), `${model}\0`);
  }
  return openBoard({ root });
}

function refusedWith(expected: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HardwareAccessError, String(error));
    assert.match(error.message, expected);
    return true;
  };
}

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

  test("on a Pi 5, /dev/serial0 is the debug connector's ttyAMA10: refused with the header UART's name and overlay", async () => {
    const pi5 = board("Raspberry Pi 5 Model B Rev 1.0", ["ttyAMA0", "ttyAMA10"], { serial0: "ttyAMA10" });
    await assert.rejects(
      openSerialLink({ path: "/dev/serial0", baudRate: 9600 }, "/dev/serial0", pi5),
      refusedWith(/^\/dev\/serial0: on a Raspberry Pi 5 this is ttyAMA10, the UART of the 3-pin debug connector, not header pins 8\/10 \(GPIO 14\/15\): use \/dev\/ttyAMA0 and add dtparam=uart0=on to \/boot\/firmware\/config\.txt/),
    );
    // Asked for by its own name, the debug connector is what the config means.
    assert.equal(await boardUartError({ path: "/dev/ttyAMA10", baudRate: 115200 }, "/dev/ttyAMA10", pi5), undefined);
  });

  test("parity or two stop bits on a Pi's mini UART (ttyS0) is refused with disable-bt; 8N1 and a PC's ttyS0 are not", async () => {
    const pi4 = board("Raspberry Pi 4 Model B Rev 1.4", ["ttyS0", "ttyAMA0"], { serial0: "ttyS0", serial1: "ttyAMA0" });
    const modbus8E1: SerialOptions = { path: "/dev/serial0", baudRate: 9600, parity: "even" };
    await assert.rejects(
      openSerialLink(modbus8E1, "/dev/serial0", pi4),
      refusedWith(/^\/dev\/serial0: this is ttyS0, the Pi's mini UART \(Bluetooth has the full one\), which has no parity and one stop bit: 8E1 cannot work on it\. Add dtoverlay=disable-bt to \/boot\/firmware\/config\.txt/),
    );
    await assert.rejects(openSerialLink({ path: "/dev/ttyS0", baudRate: 9600, stopBits: 2 }, "/dev/ttyS0", pi4), refusedWith(/: 8N2 cannot work on it/));
    assert.equal(await boardUartError({ path: "/dev/serial0", baudRate: 9600 }, "/dev/serial0", pi4), undefined);
    // A PC's ttyS0 is a 16550 with parity and two stop bits, and its device tree (if any) names no Pi.
    assert.equal(await boardUartError(modbus8E1, "/dev/ttyS0", board(undefined, ["ttyS0"])), undefined);
  });

  test("bytes that reached the port before it was opened are flushed, also at a non-standard baud rate", async () => {
    // 250000 baud (DMX) takes serialport's termios2 path, which does not flush while opening.
    const port = await placeSimSerialPort({ path: "/dev/ttyUSB6", baudRate: 250_000 });
    if (port.pid !== undefined) socatPids.add(port.pid);
    try {
      await port.write("stale line from before\n");
      await sleep(300); // socat moves it into the device end's input queue
      const link = await openSerialLink({ path: "/dev/ttyUSB6", baudRate: 250_000 }, port.deviceEnd);
      try {
        const received: Buffer[] = [];
        link.onData((chunk) => received.push(chunk));
        await port.write("fresh\n");
        await eventually(async () => assert.equal(Buffer.concat(received).toString(), "fresh\n"));
      } finally {
        await link.close();
      }
    } finally {
      await releaseSimSerialPort(port);
    }
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

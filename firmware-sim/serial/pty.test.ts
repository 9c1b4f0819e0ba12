// A simulated serial port stopped or unplugged while it is still starting (a world closed while its sensors open,
// a test that ends as a fault clears): nothing of the start is left behind, and the port ends as it was told.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SimSerialPort } from "./pty.ts";
import { assertNoSocatLeft } from "./testing.ts";

/** How long after start() the test interrupts it: before socat runs, while it starts, while the link opens. */
const DELAYS_MS = [0, 2, 5, 10, 20, 40];

describe("SimSerialPort stopped while it starts", () => {
  test("stop() during start(): no socat, link or folder is left, at any point of the start", async () => {
    for (const delayMs of DELAYS_MS) {
      const port = new SimSerialPort({ path: "/dev/ttyUSB0", baudRate: 9600 });
      const starting = port.start();
      await sleep(delayMs);
      await port.stop();
      await starting.catch(() => undefined);
      assertNoSocatLeft([]);
      assert.equal(port.pid, undefined, `stopped ${delayMs} ms into the start`);
      assert.equal(existsSync(dirname(port.deviceEnd)), false, `the terminals' folder is gone (${delayMs} ms)`);
    }
  });

  test("unplug() during start(): the port ends unplugged, and plugs back in", async () => {
    for (const delayMs of DELAYS_MS) {
      const port = new SimSerialPort({ path: "/dev/ttyUSB0", baudRate: 9600 });
      try {
        const starting = port.start();
        await sleep(delayMs);
        await port.unplug();
        await starting;
        assertNoSocatLeft([]);
        assert.equal(existsSync(port.deviceEnd), false, `unplugged ${delayMs} ms into the start: no device end`);
        await port.replug();
        assert.ok(port.pid !== undefined && existsSync(port.deviceEnd), `plugged back in (${delayMs} ms)`);
      } finally {
        await port.stop();
      }
    }
    assertNoSocatLeft([]);
  });

  test("a stopped port does not start again", async () => {
    const port = new SimSerialPort({ path: "/dev/ttyUSB0", baudRate: 9600 });
    await port.stop();
    await assert.rejects(port.start(), /^Error: \/dev\/ttyUSB0: the simulated port is stopped$/);
    assertNoSocatLeft([]);
  });
});

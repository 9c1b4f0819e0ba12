// `xedge check`'s protocol-free part over firmware-sim: the line format, the exit code, a sensor's values or its
// error, a sensor that never answers, actuators listed with their safe state without being driven, and the store.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDevices, checkExitCode, checkStore, configLine, formatCheckLine } from "./check.ts";
import { Store } from "./store.ts";
import { parseConfig } from "./config.ts";
import { createSimHal } from "../firmware-sim/index.ts";
import { populate } from "../firmware-sim/world.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";
import { defineSensorDriver } from "../drivers/driver.ts";

const drivers = { sensors: sensorDrivers, actuators: actuatorDrivers };

function config(devices: string) {
  return parseConfig(`hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\n${devices}`, "/etc/xedge/xedge.yaml");
}

describe("check lines", () => {
  it("marks each line ✓ or ✗ with its item and what was found", () => {
    assert.equal(formatCheckLine({ ok: true, item: "sensors[0] (boiler)", detail: "bme280: temperature 21.50 °C" }), "✓ sensors[0] (boiler): bme280: temperature 21.50 °C");
    assert.equal(formatCheckLine({ ok: false, item: "login gw1@example.net", detail: "login refused" }), "✗ login gw1@example.net: login refused");
    assert.equal(formatCheckLine(configLine("/etc/xedge/xedge.yaml", config(""))), "✓ /etc/xedge/xedge.yaml: config is valid (0 sensors, hardware: sim)");
  });

  it("exits 0 when every line passed, 1 when any failed", () => {
    assert.equal(checkExitCode([]), 0);
    assert.equal(checkExitCode([{ ok: true, item: "a", detail: "" }, { ok: true, item: "b", detail: "" }]), 0);
    assert.equal(checkExitCode([{ ok: true, item: "a", detail: "" }, { ok: false, item: "b", detail: "" }]), 1);
  });
});

describe("checkDevices", () => {
  it("reads each sensor once: values with units, a faulty one's error, in config order", async () => {
    const checked = config(`sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }
  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 }, sim: { faults: [{ kind: eio }] } }
  - { id: cellar, driver: ds18b20, onewire: {} }
`);
    const hal = createSimHal();
    const world = await populate(hal, checked);
    try {
      const lines = (await checkDevices(checked, { hal }, drivers)).map(formatCheckLine);
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, /^✓ sensors\[0\] \(boiler\): bme280: temperature \d+\.\d\d °C, humidity \d+\.\d\d %RH, pressure \d+\.\d\d hPa$/);
      assert.match(lines[1]!, /^✗ sensors\[1\] \(attic\): .*0x77.*EIO/);
      assert.match(lines[2]!, /^✓ sensors\[2\] \(cellar\): ds18b20: temperature \d+\.\d+ °C$/);
    } finally {
      await world.close();
    }
  });

  it("gives up on a sensor that never answers, naming the wait", async () => {
    const silent = defineSensorDriver({ name: "silent", summary: "never answers", options: () => ({}), open: async () => ({ read: () => new Promise(() => undefined), close: async () => undefined }) });
    const lines = await checkDevices(
      { sensors: [{ id: "mute", driver: "silent", intervalMs: 1000, options: {}, faults: [] }], actuators: [] },
      { hal: createSimHal() },
      { sensors: { silent }, actuators: {} },
      50,
    );
    assert.deepEqual(lines, [{ ok: false, item: "sensors[0] (mute)", detail: "no sample within 0.05 s" }]);
  });

  it("lists each actuator with its safe state and leaves its output as it was", async () => {
    const checked = config(`actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true } }
  - { id: fan, driver: gpio-output, gpio: { pin: 23 }, safeState: on }
  - { id: dimmer, driver: pca9685, i2c: { bus: 1, address: 0x40 }, channel: 3, safeDuty: 1024 }
`);
    const hal = createSimHal();
    const world = await populate(hal, checked);
    try {
      // As the running agent may hold them: the pump energized (low, active-low), the fan off.
      hal.gpioChip.pin(22).setLevel(0);
      hal.gpioChip.pin(23).setLevel(0);
      const lines = (await checkDevices(checked, { hal }, drivers)).map(formatCheckLine);
      assert.deepEqual(lines, [
        "✓ actuators[0] (pump): gpio-output: safe state off (GPIO 22 high); not opened, since opening drives it",
        "✓ actuators[1] (fan): gpio-output: safe state on (GPIO 23 high); not opened, since opening drives it",
        "✓ actuators[2] (dimmer): pca9685: safe state channel 3 duty 1024 (25.00 %); not opened, since opening drives it",
      ]);
      for (const pin of [22, 23]) {
        assert.equal(hal.gpioChip.pin(pin).level, 0, `GPIO ${pin} keeps its level`);
        assert.equal(hal.gpioChip.pin(pin).direction, undefined, `GPIO ${pin} was never claimed`);
      }
    } finally {
      await world.close();
    }
  });
});

describe("the store's line", () => {
  it("says when there is no store yet, gives an intact one's schema and unpublished count, and fails a damaged one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xedge-check-store-"));
    try {
      const path = join(dir, "xedge.db");
      assert.deepEqual(await checkStore(path), { ok: true, item: `store.path (${path})`, detail: "no store yet: the agent creates it at its first start" });
      const store = await Store.open(path, { commitIntervalMs: 3_600_000 });
      store.append({ sensorId: "boiler", timestamp: new Date(), fields: [] });
      await store.close();
      const intact = await checkStore(path);
      assert.ok(intact.ok);
      assert.match(intact.detail, /^opens, quick_check ok, schema version \d+, 1 unpublished readings$/);
      writeFileSync(path, Buffer.alloc(8192));
      const damaged = await checkStore(path);
      assert.equal(damaged.ok, false);
      assert.match(damaged.detail, /^damaged: it does not open: .*file is not a database|^damaged: .*not a database/);
      assert.match(damaged.detail, /keeps it aside and recovers what it can at its next start$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

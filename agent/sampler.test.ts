// The sampler over the real BME280 driver and firmware-sim: a failing sensor is reported and retried while
// the others carry on, and recovers when the fault clears; event-driven devices are sampled at once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sampler } from "./sampler.ts";
import { Store } from "./store.ts";
import { HeldBeforeOpen } from "./held-before-open.ts";
import { trustedSystemClock } from "./clock-watch.ts";
import { createLogger } from "./log.ts";
import { createSimHal } from "../firmware-sim/index.ts";
import { SimBme280 } from "../firmware-sim/chips/bme280.ts";
import { sensorDrivers } from "../drivers/registry.ts";
import { defineSensorDriver } from "../drivers/driver.ts";
import type { SensorConfig } from "./config.ts";

const quiet = createLogger({ level: "error", json: true, write: () => undefined });

function sensor(id: string, address: number, intervalMs = 50): SensorConfig {
  return { id, driver: "bme280", intervalMs, options: { i2c: { bus: 1, address } }, faults: [] };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("sampler", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "xedge-sampler-"));
    store = await Store.open(join(dir, "x.db"), { commitIntervalMs: 20 });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports a failing sensor, keeps the others sampling, and recovers when the fault clears", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant", environment: { temperature: 20 } }));
    hal.i2cBus(1).attach(0x77, new SimBme280({ timing: "instant", environment: { temperature: 30 } }));
    const sampler = new Sampler([sensor("good", 0x76), sensor("flaky", 0x77)], sensorDrivers, hal, store, quiet);
    sampler.start();
    try {
      const state = (id: string) => sampler.states.find((s) => s.id === id)!;
      await until(() => (state("flaky").lastReading?.seq ?? 0) >= 2, "flaky's first readings");
      hal.i2cBus(1).injectFault(0x77, { kind: "eio" });
      await until(() => state("flaky").error !== undefined, "flaky's error");
      assert.match(state("flaky").error!, /bme280 at 0x77 on I2C bus 1/);
      assert.ok(state("flaky").failingSince instanceof Date);
      const failing = (await store.status()).sensors.find((s) => s.sensorId === "flaky");
      assert.equal(failing?.error, state("flaky").error, "the error is recorded for xedge status");
      const goodBefore = state("good").lastReading?.seq ?? 0;
      const flakyBefore = state("flaky").lastReading?.seq ?? 0;
      await until(() => (state("good").lastReading?.seq ?? 0) >= goodBefore + 5, "the good sensor carrying on");
      assert.equal(state("flaky").lastReading?.seq, flakyBefore, "no reading is stored while the sensor fails");
      hal.i2cBus(1).injectFault(0x77, null);
      await until(() => state("flaky").error === undefined, "flaky's recovery", 10_000);
      await until(() => (state("flaky").lastReading?.seq ?? 0) > flakyBefore, "flaky's next reading");
      assert.equal((await store.status()).sensors.find((s) => s.sensorId === "flaky")?.error, undefined, "and cleared on recovery");
      const temperature = state("flaky").lastReading?.fields.find((f) => f.name === "temperature");
      assert.ok(temperature?.type === "numeric" && Math.abs(temperature.value - 30) < 0.05);
    } finally {
      await sampler.stop();
    }
  });

  it("tells its observer of every sample taken and every failed attempt, per sensor", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant" }));
    const seen: string[] = [];
    const observer = { sampled: (id: string) => seen.push(`sampled ${id}`), failed: (id: string) => seen.push(`failed ${id}`) };
    const sampler = new Sampler([sensor("observed", 0x76), sensor("missing", 0x77)], sensorDrivers, hal, store, quiet, observer);
    sampler.start();
    try {
      const observed = () => sampler.states.find((s) => s.id === "observed");
      await until(() => (observed()?.lastReading?.seq ?? 0) >= 3, "three readings");
      await until(() => seen.includes("failed missing"), "the missing chip's failure");
      await sampler.stop();
      assert.equal(seen.filter((line) => line === "sampled observed").length, observed()?.lastReading?.seq, "no deadband: one sample, one reading");
      assert.ok(!seen.includes("sampled missing"));
      assert.ok(!seen.includes("failed observed"));
    } finally {
      await sampler.stop();
    }
  });

  it("retires and adopts sensors while the others carry on, sequence numbers continuing", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant" }));
    hal.i2cBus(1).attach(0x77, new SimBme280({ timing: "instant" }));
    const sampler = new Sampler([sensor("stays", 0x76), sensor("goes", 0x77)], sensorDrivers, hal, store, quiet);
    sampler.start();
    try {
      const seq = (id: string) => sampler.states.find((s) => s.id === id)?.lastReading?.seq ?? 0;
      await until(() => seq("goes") >= 2 && seq("stays") >= 2, "both sensors' first readings");
      assert.throws(() => sampler.adopt([sensor("stays", 0x76)]), /retire sensors before dropping them: goes/);
      await sampler.retire(new Set(["goes"]));
      const goneAt = (await store.status()).sensors.find((s) => s.sensorId === "goes")?.lastSeq ?? 0;
      sampler.adopt([sensor("stays", 0x76)]);
      const staysAt = seq("stays");
      await until(() => seq("stays") >= staysAt + 3, "the remaining sensor carrying on");
      assert.deepEqual(sampler.states.map((s) => s.id), ["stays"]);
      assert.equal((await store.status()).sensors.find((s) => s.sensorId === "goes")?.lastSeq, goneAt, "a retired sensor stores nothing more");

      // Back again, and a newcomer listed first: new loops start at once, in the listed order.
      sampler.adopt([sensor("goes", 0x77), sensor("stays", 0x76)]);
      assert.deepEqual(sampler.states.map((s) => s.id), ["goes", "stays"]);
      await until(() => seq("goes") > 0, "the returning sensor's reading");
      assert.equal(seq("goes"), goneAt + 1, "its sequence continues where the store left it: no number is reused");
    } finally {
      await sampler.stop();
    }
  });

  it("samples while the store cannot open into what holds the readings, then, from the hand-over, into the store", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant" }));
    const held = new HeldBeforeOpen({ maxHeld: 1_000, clock: trustedSystemClock });
    const sampler = new Sampler([sensor("early", 0x76), sensor("absent", 0x77)], sensorDrivers, hal, held, quiet);
    sampler.start();
    try {
      const state = (id: string) => sampler.states.find((s) => s.id === id)!;
      await until(() => held.held >= 3 && state("absent").error !== undefined, "readings held, and the absent sensor failing");
      assert.equal(state("early").lastReading, undefined, "no number before the store opens");
      const handed = held.handTo(store);
      sampler.sinkTo(store);
      sampler.start(); // started already: carries on as it was
      await until(() => (state("early").lastReading?.seq ?? 0) > handed.readings + 2, "readings into the store");
      await sampler.stop();
      await store.flush();
      const history = await store.history("early");
      assert.deepEqual(history.map((reading) => reading.seq), history.map((_, i) => i + 1), "numbered from 1 without a gap, the held ones first");
      assert.ok(history.slice(1).every((reading, i) => reading.timestamp >= history[i]!.timestamp), "in the order taken");
      assert.match(String((await store.status()).sensors.find((s) => s.sensorId === "absent")?.error), /cannot open/, "the error seen while waiting reached the store");
    } finally {
      await sampler.stop();
    }
  });

  it("with a deadband, stores nothing while values move within it and a step outside it at once", async () => {
    const hal = createSimHal();
    const chip = new SimBme280({ timing: "instant", environment: { temperature: 20, humidity: 50, pressure: 100_000 } });
    hal.i2cBus(1).attach(0x76, chip);
    const config: SensorConfig = {
      ...sensor("banded", 0x76, 20),
      report: { deadband: { temperature: 0.5, humidity: 5, pressure: 50 }, maxSilenceMs: 3_600_000 },
    };
    const sampler = new Sampler([config], sensorDrivers, hal, store, quiet);
    sampler.start();
    try {
      const state = () => sampler.states[0]!;
      await until(() => state().lastReading !== undefined, "the first reading");
      const first = state().lastReading!;
      for (const temperature of [20.2, 19.7, 20.4, 19.6]) {
        chip.setEnvironment({ temperature });
        const changedAt = Date.now();
        await until(() => (state().lastSample?.timestamp.getTime() ?? 0) > changedAt, `a sample taken at ${temperature} °C`);
      }
      assert.equal(state().lastReading, first, "moves within the band are not stored");
      chip.setEnvironment({ temperature: 21.2 });
      await until(() => state().lastReading !== first, "the step outside the band", 2000);
      const stored = state().lastReading!;
      assert.equal(stored.seq, first.seq + 1);
      const temperature = stored.fields.find((f) => f.name === "temperature");
      assert.ok(temperature?.type === "numeric" && Math.abs(temperature.value - 21.2) < 0.02);
    } finally {
      await sampler.stop();
    }
  });

  it("with a deadband, still stores a reading after maxSilence without change", async () => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant", environment: { temperature: 20, humidity: 50, pressure: 100_000 } }));
    const config: SensorConfig = { ...sensor("quiet", 0x76, 20), report: { deadband: 100, maxSilenceMs: 300 } };
    const sampler = new Sampler([config], sensorDrivers, hal, store, quiet);
    sampler.start();
    try {
      const state = () => sampler.states[0]!;
      await until(() => state().lastReading !== undefined, "the first reading");
      const first = state().lastReading!;
      await until(() => (state().lastReading?.seq ?? 0) > first.seq, "a reading after maxSilence", 3000);
      const gap = state().lastReading!.timestamp.getTime() - first.timestamp.getTime();
      assert.ok(gap >= 300, `kept after at least maxSilence (${gap} ms)`);
    } finally {
      await sampler.stop();
    }
  });

  it("with a deadband, maxSilence still holds after the wall clock steps back by hours", async (t) => {
    const hal = createSimHal();
    hal.i2cBus(1).attach(0x76, new SimBme280({ timing: "instant", environment: { temperature: 20, humidity: 50, pressure: 100_000 } }));
    const config: SensorConfig = { ...sensor("stepped", 0x76, 20), report: { deadband: 100, maxSilenceMs: 300 } };
    const sampler = new Sampler([config], sensorDrivers, hal, store, quiet);
    sampler.start();
    try {
      const state = () => sampler.states[0]!;
      await until(() => state().lastReading !== undefined, "the first reading");
      const first = state().lastReading!;
      // NTP steps the clock 3 hours back and, mocked, the wall clock then stands still: only the monotonic clock runs.
      t.mock.timers.enable({ apis: ["Date"], now: first.timestamp.getTime() - 3 * 3_600_000 });
      const steppedAt = performance.now();
      while ((state().lastReading?.seq ?? 0) <= first.seq) {
        assert.ok(performance.now() - steppedAt < 3000, "a reading after maxSilence, though the wall clock went back");
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      t.mock.timers.reset();
      await sampler.stop();
    }
  });

  it("samples an event-driven device as soon as it signals a change, not at the next interval", async () => {
    let notify: (() => void) | undefined;
    let level = false;
    const contact = defineSensorDriver({
      name: "test-contact",
      summary: "a door contact that signals its changes",
      options: () => ({}),
      open: async () => ({
        read: async () => [{ type: "boolean" as const, name: "open", value: level }],
        watch: (onChange: () => void) => {
          notify = onChange;
          return () => (notify = undefined);
        },
        close: async () => undefined,
      }),
    });
    const door: SensorConfig = { id: "door", driver: "test-contact", intervalMs: 3_600_000, options: {}, faults: [] };
    const sampler = new Sampler([door], { "test-contact": contact }, createSimHal(), store, quiet);
    sampler.start();
    try {
      const state = () => sampler.states[0]!;
      await until(() => state().lastReading !== undefined && notify !== undefined, "the first sample");
      level = true;
      notify?.();
      await until(() => state().lastReading?.fields[0]?.value === true, "the sample taken on the change", 2000);
      assert.equal(state().lastReading?.seq, 2);
    } finally {
      await sampler.stop();
    }
    assert.equal(notify, undefined, "stopping the sampler stops watching");
  });
});

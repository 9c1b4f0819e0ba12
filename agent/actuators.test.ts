// The actuator set over the real gpio-output driver and firmware-sim: what a config reload does to relays.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Actuators } from "./actuators.ts";
import { createLogger } from "./log.ts";
import { createSimHal } from "../firmware-sim/index.ts";
import { actuatorDrivers } from "../drivers/registry.ts";
import type { ActuatorConfig } from "./config.ts";

const quiet = createLogger({ level: "error", json: true, write: () => undefined });
const relay = (id: string, pin: number, safeState: "on" | "off" = "off"): ActuatorConfig => ({
  id,
  driver: "gpio-output",
  options: { gpio: { pin }, safeState },
});

describe("actuators", () => {
  it("on reload: an unchanged relay keeps its state, a retired one goes to its safe state and is released, a new one opens", async () => {
    const hal = createSimHal();
    const actuators = new Actuators([relay("pump", 17), relay("fan", 27)], actuatorDrivers, hal, quiet);
    await actuators.open();
    try {
      await actuators.get("pump")?.device?.write([{ name: "state", value: true }]);
      await actuators.get("fan")?.device?.write([{ name: "state", value: true }]);
      assert.equal(hal.gpioChip.pin(17).level, 1);

      await assert.rejects(actuators.adopt([relay("pump", 17)]), /retire actuators before dropping them: fan/);
      await actuators.retire(new Set(["fan"]));
      assert.equal(hal.gpioChip.pin(27).level, 0, "the retired relay was driven to its safe state");
      assert.equal(hal.gpioChip.pin(27).direction, undefined, "and released");

      await actuators.adopt([relay("valve", 22, "on"), relay("pump", 17)]);
      assert.deepEqual(actuators.all.map((entry) => entry.id), ["valve", "pump"]);
      assert.equal(hal.gpioChip.pin(17).level, 1, "the unchanged relay stayed on: a reload does not bounce it");
      assert.equal(hal.gpioChip.pin(22).level, 1, "the new relay opened in its safe state (on)");
      assert.equal(actuators.get("fan"), undefined);
    } finally {
      await actuators.close();
    }
    assert.equal(hal.gpioChip.pin(17).level, 0);
  });

  it("one that cannot open is reported while the others work, and tried again at the next reload", async () => {
    const hal = createSimHal();
    const squatter = hal.gpioChip.pin(22).claim({ direction: "in" }); // another device holds the pin
    const actuators = new Actuators([relay("pump", 17), relay("valve", 22)], actuatorDrivers, hal, quiet);
    await actuators.open();
    try {
      assert.match(actuators.get("valve")?.error ?? "", /GPIO 22 is already in use/);
      assert.ok(actuators.get("pump")?.device, "the others work");
      await squatter.close();
      await actuators.adopt([relay("pump", 17), relay("valve", 22)]);
      assert.equal(actuators.get("valve")?.error, undefined);
      assert.equal(hal.gpioChip.pin(22).direction, "out");
    } finally {
      await actuators.close();
    }
  });
});

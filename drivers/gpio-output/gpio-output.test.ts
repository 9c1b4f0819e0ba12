// The gpio-output (relay) actuator through the simulated HAL: the sim pin's electrical level is the coil.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../agent/config.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { actuatorModels, populate } from "../../firmware-sim/world.ts";
import { actuatorDrivers } from "../registry.ts";
import { gpioOutput } from "./index.ts";

const PIN = 27;

describe("gpio-output relay", () => {
  test("drives the safe state (off) at open and at close; state true energizes it", async () => {
    const hal = createSimHal();
    const coil = hal.gpioChip.pin(PIN);
    coil.setLevel(1); // whatever the wire was before, opening drives the safe state
    const relay = await gpioOutput.open(hal, { gpio: { pin: PIN } });
    assert.equal(coil.direction, "out");
    assert.equal(coil.level, 0);
    assert.deepEqual(relay.parameters, [{ name: "state", type: "boolean", description: "true energizes the output (relay on), false releases it" }]);
    assert.deepEqual(await relay.read(), [{ name: "state", type: "boolean", value: false, flags: { writable: true, status: true } }]);
    await relay.write([{ name: "state", value: true }]);
    assert.equal(coil.level, 1);
    assert.deepEqual(await relay.read(), [{ name: "state", type: "boolean", value: true, flags: { writable: true, status: true } }]);
    await relay.close();
    assert.equal(coil.level, 0);
    assert.equal(coil.direction, undefined); // released: another device may open it
    await assert.rejects(relay.read(), { message: "gpio-output on GPIO 27: device is closed" });
  });

  test("activeLow relay board: off is a high wire, on pulls it low; safeState on is driven at open and close", async () => {
    const hal = createSimHal();
    const coil = hal.gpioChip.pin(PIN);
    const relay = await gpioOutput.open(hal, { gpio: { pin: PIN, activeLow: true } });
    assert.equal(coil.level, 1);
    await relay.write([{ name: "state", value: true }]);
    assert.equal(coil.level, 0);
    await relay.close();
    assert.equal(coil.level, 1);

    const fan = await gpioOutput.open(hal, { gpio: { pin: PIN, activeLow: true }, safeState: "on" });
    assert.equal(coil.level, 0);
    assert.equal((await fan.read())[0]?.value, true);
    await fan.write([{ name: "state", value: false }]);
    assert.equal(coil.level, 1);
    await fan.close();
    assert.equal(coil.level, 0);
  });

  test("applies values in order, refuses what is not its parameter, and owns its pin", async () => {
    const hal = createSimHal();
    const relay = await gpioOutput.open(hal, { gpio: { pin: PIN } });
    await relay.write([
      { name: "state", value: true },
      { name: "state", value: false },
    ]);
    assert.equal(hal.gpioChip.pin(PIN).level, 0);
    await assert.rejects(relay.write([{ name: "speed", value: 3 }]), /no parameter speed of type number; the only one is state \(boolean\)/);
    await assert.rejects(gpioOutput.open(hal, { gpio: { pin: PIN } }), { code: "EBUSY" });
    assert.throws(() => hal.gpioChip.pin(PIN).setLevel(1), /GPIO 27 is an output; only its driver sets its level/);
    await relay.close();
  });

  test("registered as an actuator with a sim model; a config entry validates and opens", async () => {
    assert.equal(actuatorDrivers["gpio-output"], gpioOutput);
    assert.ok(actuatorModels["gpio-output"]);
    const config = parseConfig(
      "hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\n" +
        "actuators:\n  - { id: pump, driver: gpio-output, gpio: { pin: 27, activeLow: true }, safeState: off }\n",
      "/tmp/xedge.yaml",
      {},
    );
    const hal = createSimHal();
    const world = await populate(hal, config);
    const [pump] = config.actuators;
    assert.ok(pump);
    assert.deepEqual(world.unsimulated, []);
    const relay = await gpioOutput.open(hal, pump.options);
    assert.equal(hal.gpioChip.pin(27).level, 1);
    await relay.close();
    await world.close();
  });
});

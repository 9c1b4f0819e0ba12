// The gpio-input driver through the simulated HAL: contacts that bounce, pulse trains, edges and debounce.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { parseConfig } from "../../agent/config.ts";
import type { Field } from "../../lib/model.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { populate } from "../../firmware-sim/world.ts";
import type { SensorDevice } from "../driver.ts";
import { gpioInput } from "./index.ts";

const PIN = 17;

function value(fields: Field[], name: string): number | boolean | string {
  const field = fields.find((f) => f.name === name);
  assert.ok(field !== undefined, `no field ${name} in ${JSON.stringify(fields)}`);
  return field.value;
}

async function open(gpio: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const hal = createSimHal();
  const wire = hal.gpioChip.pin(PIN);
  const device = await gpioInput.open(hal, { gpio: { pin: PIN, ...gpio }, ...extra });
  return { hal, wire, device };
}

async function using<T>(device: SensorDevice, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } finally {
    await device.close();
  }
}

/** Collects the samples watch() asks for, each with the state read at that moment (as the sampler would). */
function recordSamples(device: SensorDevice): boolean[] {
  const states: boolean[] = [];
  assert.ok("watch" in device, "level mode offers watch()");
  device.watch?.(() => void device.read().then((fields) => states.push(value(fields, "state") === true)));
  return states;
}

describe("gpio-input, level mode", () => {
  test("state follows the line; activeLow inverts it", async () => {
    const { wire, device } = await open({ edge: "none" });
    await using(device, async () => {
      assert.deepEqual(await device.read(), [{ name: "state", type: "boolean", value: false, flags: { momentary: true } }]);
      wire.setLevel(1);
      assert.equal(value(await device.read(), "state"), true);
    });
    const inverted = await open({ edge: "none", activeLow: true });
    await using(inverted.device, async () => {
      assert.equal(value(await inverted.device.read(), "state"), true); // wire low = active
      inverted.wire.setLevel(1);
      assert.equal(value(await inverted.device.read(), "state"), false);
    });
  });

  test("a bouncing contact asks for exactly one sample per move, after the burst, with the settled state", async () => {
    // A window far longer than the burst, so a loaded machine still reads inside it.
    const { wire, device } = await open({ debounce: "200ms" });
    await using(device, async () => {
      const samples = recordSamples(device);
      await wire.bounce(1, { edges: 7, spanMs: 4 });
      // While the window is open, a sample reports the last settled state, never a bounce.
      assert.equal(value(await device.read(), "state"), false);
      await sleep(400);
      assert.deepEqual(samples, [true]);
      await wire.bounce(0, { edges: 5, spanMs: 4 });
      await sleep(400);
      assert.deepEqual(samples, [true, false]);
    });
  });

  test("a glitch shorter than the debounce window (a spike that returns) asks for nothing", async () => {
    const { wire, device } = await open({ debounce: "20ms" });
    await using(device, async () => {
      const samples = recordSamples(device);
      await wire.bounce(0, { edges: 2, spanMs: 2 }); // up and back down
      await sleep(40);
      assert.deepEqual(samples, []);
    });
  });

  test("without debounce the same burst asks for a sample per edge", async () => {
    const { wire, device } = await open({ debounce: "0ms" });
    await using(device, async () => {
      let asked = 0;
      device.watch?.(() => (asked += 1));
      await wire.bounce(1, { edges: 5, spanMs: 4 });
      await sleep(10);
      assert.equal(asked, 5);
    });
  });

  test("edge: rising asks for a sample when the contact becomes active only", async () => {
    const { wire, device } = await open({ edge: "rising", debounce: "10ms" });
    await using(device, async () => {
      const samples = recordSamples(device);
      await wire.bounce(1);
      await sleep(30);
      await wire.bounce(0);
      await sleep(30);
      await wire.bounce(1);
      await sleep(30);
      assert.deepEqual(samples, [true, true]);
      assert.equal(value(await device.read(), "state"), true);
    });
  });

  test("edge: none samples only at the interval", async () => {
    const { wire, device } = await open({ edge: "none" });
    await using(device, async () => {
      let asked = 0;
      device.watch?.(() => (asked += 1));
      wire.setLevel(1);
      await sleep(10);
      assert.equal(asked, 0);
      assert.equal(value(await device.read(), "state"), true);
    });
  });
});

describe("gpio-input, counter mode", () => {
  /** `count` pulses of `widthMs`, each closing with a bounce burst. */
  async function pulses(wire: ReturnType<ReturnType<typeof createSimHal>["gpioChip"]["pin"]>, count: number, widthMs: number) {
    for (let i = 0; i < count; i++) {
      await wire.bounce(1, { edges: 5, spanMs: 3 });
      await sleep(widthMs);
      wire.setLevel(0);
      await sleep(widthMs);
    }
  }

  test("counts each bounced pulse once with debounce; without it, every bounce is a pulse", async () => {
    const { wire, device } = await open({ debounce: "10ms" }, { mode: "counter" });
    await using(device, async () => {
      assert.equal("watch" in device, false); // pulses do not each ask for a sample
      await pulses(wire, 6, 25);
      assert.equal(value(await device.read(), "count"), 6);
    });
    const raw = await open({ debounce: "0ms" }, { mode: "counter" });
    await using(raw.device, async () => {
      await pulses(raw.wire, 6, 25);
      await sleep(5);
      assert.equal(value(await raw.device.read(), "count"), 18); // 3 rising edges per bounced closing
    });
  });

  test("rain gauge: 0.2794 mm per tip gives total mm and mm/h over the sampling period", async () => {
    const before = performance.now();
    const { wire, device } = await open({ debounce: "10ms" }, { mode: "counter", counter: { perPulse: 0.2794, unit: "mm", per: "h", decimals: 1 } });
    const opened = performance.now();
    await using(device, async () => {
      await pulses(wire, 5, 20);
      const readAt = performance.now();
      const fields = await device.read();
      const after = performance.now();
      assert.deepEqual(
        fields.map((f) => [f.name, f.type, f.type === "numeric" ? f.unit : undefined, f.type === "numeric" ? f.decimals : undefined]),
        [
          ["count", "int", undefined, undefined],
          ["total", "numeric", "mm", 1],
          ["rate", "numeric", "mm/h", 1],
        ],
      );
      assert.equal(value(fields, "count"), 5);
      assert.ok(Math.abs((value(fields, "total") as number) - 1.397) < 1e-9);
      const rate = value(fields, "rate") as number;
      const mmPerHour = (elapsedMs: number) => ((5 * 0.2794) / elapsedMs) * 3_600_000;
      assert.ok(rate <= mmPerHour(readAt - opened) && rate >= mmPerHour(after - before), `rate ${rate}`);
      // The next period starts at this read: no pulses, no rate; the count keeps its total.
      await sleep(20);
      const quiet = await device.read();
      assert.deepEqual([value(quiet, "count"), value(quiet, "rate")], [5, 0]);
    });
  });

  test("flow meter: 7.5 Hz per L/min (1/450 L per pulse): 75 pulses in about a second is about 10 L/min", async () => {
    const { wire, device } = await open(
      { debounce: "0ms", edge: "rising" },
      { mode: "counter", counter: { perPulse: 1 / 450, unit: "L", per: "min" } },
    );
    await using(device, async () => {
      await device.read(); // start a period
      const started = performance.now();
      for (let i = 0; i < 75; i++) {
        wire.setLevel(1);
        wire.setLevel(0);
        await sleep(12);
      }
      await sleep(Math.max(0, 1000 - (performance.now() - started)));
      await sleep(5);
      const fields = await device.read();
      const elapsed = performance.now() - started;
      const rate = value(fields, "rate") as number;
      assert.equal(value(fields, "count"), 75);
      assert.ok(Math.abs(rate - (75 / 450 / elapsed) * 60_000) < 0.2, `rate ${rate} L/min over ${elapsed} ms`);
      assert.ok(rate > 7 && rate <= 10.1, `rate ${rate}`); // 10 L/min when the loop took exactly 1 s
    });
  });

  test("without a counter block: count and rate in pulses/min", async () => {
    const { wire, device } = await open({ debounce: "0ms" }, { mode: "counter" });
    await using(device, async () => {
      wire.setLevel(1);
      await sleep(5);
      const fields = await device.read();
      assert.deepEqual(fields.map((f) => [f.name, f.type === "numeric" ? f.unit : f.type]), [
        ["count", "int"],
        ["rate", "pulses/min"],
      ]);
    });
  });
});

describe("gpio-input configuration and pins", () => {
  test("mismatched options are refused at open with the key to fix", async () => {
    const hal = createSimHal();
    await assert.rejects(gpioInput.open(hal, { gpio: { pin: PIN }, counter: { perPulse: 1, unit: "L" } }), {
      message: "gpio-input on GPIO 17: the counter block only applies to mode: counter",
    });
    await assert.rejects(gpioInput.open(hal, { gpio: { pin: PIN, edge: "none" }, mode: "counter" }), {
      message: "gpio-input on GPIO 17: mode: counter needs gpio.edge rising, falling or both (the transitions to count)",
    });
  });

  test("one owner per pin: a second device on the same GPIO is refused until the first closes", async () => {
    const { hal, device } = await open({});
    await assert.rejects(gpioInput.open(hal, { gpio: { pin: PIN } }), { code: "EBUSY", message: "GPIO 17 is already in use by another device (each pin has one owner)" });
    await device.close();
    const again = await gpioInput.open(hal, { gpio: { pin: PIN } });
    await again.close();
  });

  test("pull resistors as on the board: a contact to ground needs bias: up on GPIO 9–27", async () => {
    // Without a bias, GPIO 17 keeps the SoC's pull-down: an open contact floats low and reads "closed" for ever.
    const unpulled = await open({ activeLow: true, edge: "none" });
    await using(unpulled.device, async () => {
      assert.equal(unpulled.wire.pull, "down");
      assert.equal(value(await unpulled.device.read(), "state"), true);
    });
    const pulled = await open({ activeLow: true, edge: "both", bias: "up", debounce: "0ms" });
    const states = recordSamples(pulled.device);
    await using(pulled.device, async () => {
      assert.equal(pulled.wire.pull, "up");
      assert.equal(value(await pulled.device.read(), "state"), false, "open contact: the pull-up holds the line high");
      pulled.wire.setLevel(0); // the contact closes to ground
      await sleep(20);
      pulled.wire.float(); // and opens again
      await sleep(20);
      assert.deepEqual(states, [true, false]);
    });
    // bias: down reads 0 where the reset default (GPIO 0–8) would pull up; bias: none keeps the last level.
    const hal = createSimHal();
    const down = await gpioInput.open(hal, { gpio: { pin: 5, bias: "down", edge: "none" } });
    assert.equal(value(await down.read(), "state"), false);
    await down.close();
    assert.equal(hal.gpioChip.pin(6).level, 1, "GPIO 6 is pulled up at reset");
    const none = await gpioInput.open(hal, { gpio: { pin: 6, bias: "none", edge: "none" } });
    assert.equal(value(await none.read(), "state"), true);
    await none.close();
  });

  test("config: options validate with their config path, and a validated entry opens", async () => {
    const text = (gpio: string) =>
      `hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\nsensors:\n  - { id: door, driver: gpio-input, gpio: ${gpio} }\n`;
    assert.throws(() => parseConfig(text("{ pin: 40, debounce: fast }"), "/tmp/xedge.yaml", {}), (error: Error & { problems?: string[] }) => {
      assert.deepEqual(error.problems, [
        "sensors[0].gpio.pin: expected at most 27, got 40",
        'sensors[0].gpio.debounce: expected a duration such as 20ms (units ms, s, m, h), got "fast"',
      ]);
      return true;
    });
    const config = parseConfig(text("{ pin: 17, debounce: 5ms, activeLow: true }"), "/tmp/xedge.yaml", {});
    const [sensor] = config.sensors;
    assert.ok(sensor);
    const device = await gpioInput.open(createSimHal(), sensor.options);
    assert.equal(value(await device.read(), "state"), true);
    await device.close();
  });
});

describe("gpio-input in the simulated world", () => {
  test("a door contact moves now and then with bounce; a flow meter's pulses feed a counter", async () => {
    const hal = createSimHal();
    const config = parseConfig(
      "hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\nsensors:\n" +
        "  - { id: door, driver: gpio-input, gpio: { pin: 5, activeLow: true } }\n" +
        "  - { id: flow, driver: gpio-input, gpio: { pin: 6 }, mode: counter, counter: { perPulse: 0.1333, unit: L, per: min } }\n",
      "/tmp/xedge.yaml",
      {},
    );
    let now = 0;
    const world = await populate(hal, config, () => now);
    const [doorConfig, flowConfig] = config.sensors;
    assert.ok(doorConfig && flowConfig);
    const door = await gpioInput.open(hal, doorConfig.options);
    const flow = await gpioInput.open(hal, flowConfig.options);
    try {
      assert.deepEqual(world.unsimulated, []);
      assert.equal(value(await door.read(), "state"), false); // the model starts inactive
      let asked = 0;
      door.watch?.(() => (asked += 1));
      now = 10_000; // the first move is due
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the world steps once a second
      assert.equal(asked, 1);
      assert.equal(value(await door.read(), "state"), true);
      const count = value(await flow.read(), "count") as number;
      assert.ok(count >= 1 && count <= 4, `count ${count}`);
    } finally {
      await door.close();
      await flow.close();
      await world.close();
    }
  });

  test("a contact to ground on GPIO 17 reads closed for ever without bias: up, and moves with it", async () => {
    for (const [bias, expected] of [["", [true, true]], [", bias: up", [false, true]]] as const) {
      const hal = createSimHal();
      const config = parseConfig(
        "hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\nsensors:\n" +
          `  - { id: door, driver: gpio-input, gpio: { pin: 17, activeLow: true${bias} } }\n`,
        "/tmp/xedge.yaml",
        {},
      );
      let now = 0;
      const world = await populate(hal, config, () => now);
      const [doorConfig] = config.sensors;
      assert.ok(doorConfig);
      const door = await gpioInput.open(hal, doorConfig.options);
      try {
        const before = value(await door.read(), "state"); // the contact is open: only the pull holds the line
        now = 10_000; // the first move is due: the contact switches to ground
        await new Promise((resolve) => setTimeout(resolve, 1100));
        assert.deepEqual([before, value(await door.read(), "state")], expected, `gpio: { pin: 17, activeLow: true${bias} }`);
      } finally {
        await door.close();
        await world.close();
      }
    }
  });
});

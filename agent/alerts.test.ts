// The alert engine alone, on a clock moved by hand: each condition, hysteresis, `for:`, no repeats, failures.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../lib/manual-clock.ts";
import { AlertEngine, type AlertCondition, type AlertEvent, type AlertRule } from "./alerts.ts";
import { momentaryNumeric, type Field } from "../lib/model.ts";


function rule(condition: AlertCondition, extra: Partial<AlertRule> = {}): AlertRule {
  return {
    id: "r1",
    sensorId: "boiler",
    ...(condition.kind === "failing" ? {} : { field: "temperature" }),
    condition,
    hysteresis: 0,
    forMs: 0,
    notify: [{ jid: "alice@example.net" }],
    ...extra,
  };
}

/** An engine for one rule, and a function that feeds it a temperature at the clock's time. */
function harness(alertRule: AlertRule) {
  const clock = new ManualClock(1_000_000);
  const events: AlertEvent[] = [];
  const engine = new AlertEngine([alertRule], { onEvent: (event) => events.push(event), clock });
  const feed = (value: number, fields?: Field[]) =>
    engine.observe({ sensorId: "boiler", timestamp: new Date(clock.now()), fields: fields ?? [momentaryNumeric("temperature", value, "°C", 1)] });
  /** Feeds the values in order and returns the kinds of event they caused. */
  const kinds = (...values: number[]) => {
    const before = events.length;
    for (const value of values) feed(value);
    return events.slice(before).map((event) => event.kind);
  };
  return { clock, events, engine, feed, kinds };
}

describe("alert conditions", () => {
  it("above fires over the threshold and clears at or under it", () => {
    const { kinds, events } = harness(rule({ kind: "above", threshold: 30 }));
    assert.deepEqual(kinds(29, 30, 31, 32, 30, 29), ["fired", "cleared"]);
    assert.deepEqual(
      events.map((event) => [event.kind, event.value, event.threshold]),
      [["fired", "31.0 °C", "above 30 °C"], ["cleared", "30.0 °C", "above 30 °C"]],
    );
  });

  it("below fires under the threshold", () => {
    const { kinds } = harness(rule({ kind: "below", threshold: 5 }));
    assert.deepEqual(kinds(6, 5, 4, 5), ["fired", "cleared"]);
  });

  it("outside fires below low or above high, clears back inside", () => {
    const { kinds } = harness(rule({ kind: "outside", low: 10, high: 20 }));
    assert.deepEqual(kinds(15, 9, 15, 21, 20), ["fired", "cleared", "fired", "cleared"]);
  });

  it("equals fires on the value and clears on any other", () => {
    const { feed, events, kinds } = harness({ ...rule({ kind: "equals", value: "open" }), field: "door" });
    const door = (value: string): Field[] => [{ name: "door", type: "string", value }];
    for (const value of ["closed", "open", "open", "closed"]) feed(0, door(value));
    assert.deepEqual(events.map((event) => [event.kind, event.value]), [["fired", "open"], ["cleared", "closed"]]);
    assert.deepEqual(kinds(1, 2), [], "a rule on another field ignores readings without it");
  });

  it("changes by fires when the value moved that far from where it was armed, and re-arms where it clears", () => {
    const { kinds } = harness(rule({ kind: "changesBy", amount: 5 }, { hysteresis: 1 }));
    assert.deepEqual(kinds(20, 22, 24), []);
    assert.deepEqual(kinds(25), ["fired"]);
    assert.deepEqual(kinds(27, 24.5), [], "24.5 is 4.5 away from 20: within the hysteresis, not cleared");
    assert.deepEqual(kinds(24), ["cleared"]);
    assert.deepEqual(kinds(19.5), [], "armed again at 24: 4.5 away");
    assert.deepEqual(kinds(19), ["fired"]);
  });
});

describe("alert state", () => {
  it("hysteresis: no flapping around the threshold", () => {
    const { kinds } = harness(rule({ kind: "above", threshold: 30 }, { hysteresis: 1 }));
    assert.deepEqual(kinds(30.5, 30.1, 29.5, 30.2, 29.1, 30.4), ["fired"]);
    assert.deepEqual(kinds(29), ["cleared"]);
  });

  it("hysteresis for below and outside works the other way", () => {
    assert.deepEqual(harness(rule({ kind: "below", threshold: 5 }, { hysteresis: 2 })).kinds(4, 6, 4, 7), ["fired", "cleared"]);
    assert.deepEqual(harness(rule({ kind: "outside", low: 10, high: 20 }, { hysteresis: 1 })).kinds(21, 19.5, 19, 9, 10.5, 11), ["fired", "cleared", "fired", "cleared"]);
  });

  it("no repeats while fired", () => {
    const { kinds } = harness(rule({ kind: "above", threshold: 30 }));
    assert.deepEqual(kinds(31, 35, 40, 31), ["fired"]);
  });

  it("for: fires only once the condition held that long, on the clock, with the time it started", () => {
    const { clock, feed, events, engine } = harness(rule({ kind: "above", threshold: 30 }, { forMs: 5 * 60_000 }));
    const started = clock.now();
    feed(31);
    clock.advance(4 * 60_000);
    feed(32);
    assert.equal(events.length, 0);
    clock.advance(60_000);
    assert.deepEqual(events.map((event) => [event.kind, event.value, event.threshold]), [["fired", "32.0 °C", "above 30 °C for 5m"]]);
    assert.equal(events[0]?.since.getTime(), started);
    assert.deepEqual(engine.active().map((event) => event.ruleId), ["r1"]);
    feed(29);
    assert.deepEqual(events.map((event) => event.kind), ["fired", "cleared"]);
    assert.deepEqual(engine.active(), []);
  });

  it("for: a reading that breaks the condition starts the wait over", () => {
    const { clock, feed, events } = harness(rule({ kind: "above", threshold: 30 }, { forMs: 60_000 }));
    feed(31);
    clock.advance(50_000);
    feed(29);
    clock.advance(20_000);
    assert.equal(events.length, 0);
    feed(31);
    clock.advance(59_000);
    assert.equal(events.length, 0);
    clock.advance(1_000);
    assert.deepEqual(events.map((event) => event.kind), ["fired"]);
  });

  it("for: clears per the hysteresis, at once", () => {
    const { clock, kinds } = harness(rule({ kind: "above", threshold: 30 }, { forMs: 60_000, hysteresis: 2 }));
    kinds(31);
    clock.advance(60_000);
    assert.deepEqual(kinds(29, 28.5), []);
    assert.deepEqual(kinds(28), ["cleared"]);
  });

  it("a reload keeps the state of an unchanged rule and forgets a changed one", () => {
    const alertRule = rule({ kind: "above", threshold: 30 });
    const { engine, kinds } = harness(alertRule);
    assert.deepEqual(kinds(31), ["fired"]);
    engine.replace([{ ...alertRule }]);
    assert.deepEqual(kinds(32), [], "still fired: no repeat");
    engine.replace([{ ...alertRule, condition: { kind: "above", threshold: 31 } }]);
    assert.deepEqual(kinds(32), ["fired"]);
  });
});

describe("a failing sensor", () => {
  it("fires with its error and since when, and clears when it works again", () => {
    const { clock, engine, events } = harness(rule({ kind: "failing" }));
    const since = new Date(clock.now());
    engine.observe({ sensorId: "boiler", timestamp: since, fields: [], error: "i2c: no answer at 0x76" });
    engine.observe({ sensorId: "attic", timestamp: since, fields: [] });
    clock.advance(30_000);
    engine.observe({ sensorId: "boiler", timestamp: new Date(clock.now()), fields: [] });
    assert.deepEqual(
      events.map((event) => ({ kind: event.kind, field: event.field, value: event.value, threshold: event.threshold, error: event.error, since: event.since.getTime() })),
      [
        { kind: "fired", field: undefined, value: undefined, threshold: "failing", error: "i2c: no answer at 0x76", since: since.getTime() },
        { kind: "cleared", field: undefined, value: undefined, threshold: "failing", error: undefined, since: clock.now() },
      ],
    );
  });

  it("with for:, fires only if it is still failing then, without another word from the sensor", () => {
    const { clock, engine, events } = harness(rule({ kind: "failing" }, { forMs: 120_000 }));
    engine.observe({ sensorId: "boiler", timestamp: new Date(clock.now()), fields: [], error: "EIO" });
    clock.advance(119_000);
    assert.equal(events.length, 0);
    clock.advance(1_000);
    assert.deepEqual(events.map((event) => [event.kind, event.error]), [["fired", "EIO"]]);
  });

  it("a failure neither fires nor clears a rule on a value", () => {
    const { engine, kinds, events } = harness(rule({ kind: "above", threshold: 30 }));
    kinds(31);
    engine.observe({ sensorId: "boiler", timestamp: new Date(), fields: [], error: "EIO" });
    assert.deepEqual(events.map((event) => event.kind), ["fired"]);
  });
});

describe("for: across a wall clock that jumps", () => {
  function jumpHarness(forMs: number) {
    const clock = new ManualClock(1_000_000);
    const events: AlertEvent[] = [];
    const engine = new AlertEngine([rule({ kind: "above", threshold: 30 }, { forMs })], { onEvent: (event) => events.push(event), clock });
    const feed = (value: number) => engine.observe({ sensorId: "boiler", timestamp: new Date(clock.now()), fields: [momentaryNumeric("temperature", value, "°C", 1)] });
    return { clock, events, feed };
  }

  it("a jump forward of hours does not fire a rule early", () => {
    const { clock, events, feed } = jumpHarness(60_000);
    feed(31);
    clock.advance(10_000);
    clock.step(3 * 3_600_000);
    feed(32);
    assert.equal(events.length, 0, "10 s of the 60 s have passed");
    clock.advance(49_000);
    feed(32);
    assert.equal(events.length, 0);
    clock.advance(1_000);
    assert.deepEqual(events.map((event) => event.kind), ["fired"]);
  });

  it("a jump backward of minutes does not hold a rule back", () => {
    const { clock, events, feed } = jumpHarness(60_000);
    feed(31);
    clock.advance(30_000);
    clock.step(-5 * 60_000);
    feed(32);
    clock.advance(29_000);
    feed(32);
    assert.equal(events.length, 0);
    clock.advance(1_000);
    feed(33);
    assert.deepEqual(events.map((event) => event.kind), ["fired"]);
  });
});

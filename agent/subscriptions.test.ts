// The subscription core alone, on a clock moved by hand: each field rule, the minimum and maximum intervals,
// replacing and ending subscriptions, and the bounds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventSubscriptions, SUBSCRIPTION_LIMITS, readoutOf, type FieldRule, type SubscriptionSpec } from "./subscriptions.ts";
import { ManualClock } from "../lib/manual-clock.ts";
import { momentaryNumeric, type Field } from "../lib/model.ts";


const OPS = "ops@example.net/probe";

function spec(rules: FieldRule[], extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return { id: "s1", nodeIds: ["boiler"], rules, types: new Set(), ...extra };
}

function harness(fieldsOf: (nodeId: string) => readonly string[] | undefined = () => undefined) {
  const clock = new ManualClock(1_000_000);
  const subscriptions = new EventSubscriptions<string>({ fieldsOf, clock });
  /** Each notification: its subscription id and the clock's time since the start. */
  const due: [string, number][] = [];
  subscriptions.onDue((subscription) => due.push([subscription.spec.id, clock.now() - 1_000_000]));
  const feed = (value: number, sensorId = "boiler", fields: Field[] = [momentaryNumeric("temperature", value, "°C", 2)]) =>
    subscriptions.observe({ sensorId, timestamp: new Date(clock.now()), fields });
  return { clock, subscriptions, due, feed };
}

describe("EventSubscriptions: field rules", () => {
  it("by: news when the value moved that far either way from what the subscriber last heard", () => {
    const { subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, by: 1 }]), "nf");
    for (const value of [20.5, 20.9, 19.1]) feed(value);
    assert.equal(due.length, 0, "within 1 of 20");
    feed(21);
    assert.equal(due.length, 1);
    for (const value of [21.5, 20.1]) feed(value);
    assert.equal(due.length, 1, "the reference moved to 21");
    feed(20);
    assert.equal(due.length, 2, "down by 1 from 21");
  });

  it("up and down: only that direction counts, and the reference moves only with news", () => {
    const up = harness();
    up.subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, up: 2 }]), "nf");
    for (const value of [15, 10, 21.9]) up.feed(value);
    assert.equal(up.due.length, 0, "falling is no news, and 21.9 is not 2 above 20");
    up.feed(22);
    assert.equal(up.due.length, 1);

    const down = harness();
    down.subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, down: 0.5 }]), "nf");
    for (const value of [30, 19.6]) down.feed(value);
    assert.equal(down.due.length, 0);
    down.feed(19.5);
    assert.equal(down.due.length, 1);
  });

  it("without a reference the first value is news; without amounts any change is", () => {
    const { subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "temperature" }]), "nf");
    feed(20);
    assert.equal(due.length, 1, "the first value the subscriber has not got");
    feed(20);
    assert.equal(due.length, 1, "the same value");
    feed(20.01);
    assert.equal(due.length, 2);
  });

  it("text and boolean fields are news when they change, whatever the amounts", () => {
    const { subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "door", reference: "false", by: 5 }], { nodeIds: ["hall"] }), "nf");
    const door = (open: boolean): Field[] => [{ type: "boolean", name: "door", value: open }];
    feed(0, "hall", door(false));
    assert.equal(due.length, 0);
    feed(0, "hall", door(true));
    feed(0, "hall", door(true));
    assert.equal(due.length, 1);
  });

  it("looks only at its nodes and fields, and not at failed reads; no node named means every node", () => {
    const { subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, by: 1 }]), "nf");
    subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, by: 1 }], { id: "all", nodeIds: [] }), "nf");
    feed(30, "attic");
    feed(30, "boiler", [momentaryNumeric("humidity", 90, "%RH", 1)]);
    subscriptions.observe({ sensorId: "boiler", timestamp: new Date(), fields: [], error: "EIO" });
    assert.deepEqual(due.map(([id]) => id), ["all"]);
  });

  it("is news when any of its rules says so, and every rule's reference follows its own field", () => {
    const { subscriptions, due, feed } = harness();
    const rules = [{ field: "temperature", reference: 20, by: 1 }, { field: "humidity", reference: 50, by: 5 }];
    subscriptions.add(OPS, spec(rules), "nf");
    const both = (t: number, h: number) => [momentaryNumeric("temperature", t, "°C", 2), momentaryNumeric("humidity", h, "%RH", 1)];
    feed(0, "boiler", both(20.5, 56));
    feed(0, "boiler", both(21, 57));
    assert.equal(due.length, 2, "humidity, then temperature");
    feed(0, "boiler", both(21.5, 60));
    assert.equal(due.length, 2, "humidity's reference is 56 now, temperature's 21");
  });
});

describe("EventSubscriptions: intervals", () => {
  it("minimum interval: a change within it is held and sent once when it ends", () => {
    const { clock, subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, by: 1 }], { minIntervalMs: 10_000 }), "nf");
    clock.advance(10_000);
    feed(22);
    assert.deepEqual(due, [["s1", 10_000]], "the interval since subscribing is over");
    clock.advance(2_000);
    feed(24);
    clock.advance(1_000);
    feed(26);
    assert.equal(due.length, 1, "held");
    clock.advance(7_000);
    assert.deepEqual(due, [["s1", 10_000], ["s1", 20_000]], "one notification when the interval ends");
    clock.advance(30_000);
    assert.equal(due.length, 2, "nothing held, nothing sent");
  });

  it("maximum interval: a notification at least that often, timed from the last one", () => {
    const { clock, subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([{ field: "temperature", reference: 20, by: 1 }], { maxIntervalMs: 60_000 }), "nf");
    clock.advance(60_000);
    assert.deepEqual(due, [["s1", 60_000]]);
    clock.advance(30_000);
    feed(25);
    clock.advance(59_000);
    assert.deepEqual(due.map(([, at]) => at), [60_000, 90_000], "a change resets the wait");
    clock.advance(1_000);
    clock.advance(120_000);
    assert.deepEqual(due.map(([, at]) => at), [60_000, 90_000, 150_000, 210_000, 270_000]);
  });

  it("a subscription without rules hears only its maximum interval", () => {
    const { clock, subscriptions, due, feed } = harness();
    subscriptions.add(OPS, spec([], { maxIntervalMs: 5_000 }), "nf");
    feed(10);
    feed(90);
    assert.equal(due.length, 0);
    clock.advance(5_000);
    assert.equal(due.length, 1);
  });
});

describe("EventSubscriptions: keeping and ending", () => {
  it("replaces a subscription with the same subscriber and id; unsubscribe and presence end them", () => {
    const { clock, subscriptions, due } = harness();
    const every = (id: string) => spec([], { id, maxIntervalMs: 1_000 });
    assert.deepEqual(subscriptions.add(OPS, every("a"), "nf"), { ok: true, replaced: false });
    assert.deepEqual(subscriptions.add(OPS, every("a"), "ieee"), { ok: true, replaced: true });
    subscriptions.add(OPS, every("b"), "nf");
    subscriptions.add("ops@example.net/phone", every("c"), "nf");
    subscriptions.add("other@example.net/x", every("d"), "nf");
    assert.deepEqual(subscriptions.list().map((s) => [s.spec.id, s.tag]), [["a", "ieee"], ["b", "nf"], ["c", "nf"], ["d", "nf"]]);
    assert.equal(subscriptions.remove(OPS, "b"), true);
    assert.equal(subscriptions.remove(OPS, "b"), false);
    assert.equal(subscriptions.removeSubscriber(OPS), 1, "that resource's a");
    clock.advance(1_000);
    assert.deepEqual(due.map(([id]) => id).sort(), ["c", "d"], "ended subscriptions' timers are gone");
    assert.equal(subscriptions.removeAccount("OPS@example.net"), 1, "the account's other resource");
    subscriptions.stop();
    clock.advance(5_000);
    assert.equal(due.length, 2);
  });

  it("refuses a rule on a field none of its nodes has, when their fields are known", () => {
    const { subscriptions } = harness((nodeId) => (nodeId === "boiler" ? ["temperature", "humidity"] : undefined));
    assert.deepEqual(subscriptions.add(OPS, spec([{ field: "colour" }, { field: "temperature" }]), "nf"), { ok: false, kind: "unknown-field", text: "no field colour on boiler" });
    assert.equal(subscriptions.add(OPS, spec([{ field: "colour" }], { nodeIds: ["boiler", "new"] }), "nf").ok, true, "the new sensor may have it");
  });

  it("bounds subscriptions per operator (all resources) and in total", () => {
    const { subscriptions } = harness();
    for (let i = 0; i < SUBSCRIPTION_LIMITS.perOperator; i++) assert.equal(subscriptions.add(`ops@example.net/r${i % 2}`, spec([], { id: `s${i}` }), "nf").ok, true);
    const refused = subscriptions.add(OPS, spec([], { id: "one-more" }), "nf");
    assert.deepEqual(refused, { ok: false, kind: "limit", text: "at most 16 event subscriptions per operator; unsubscribe one first" });
    assert.equal(subscriptions.add("ops@example.net/r0", spec([], { id: "s0" }), "nf").ok, true, "replacing one is no new one");
    for (let i = SUBSCRIPTION_LIMITS.perOperator; i < SUBSCRIPTION_LIMITS.total; i++) subscriptions.add(`op${i}@example.net/x`, spec([], { id: "s" }), "nf");
    assert.equal(subscriptions.list().length, SUBSCRIPTION_LIMITS.total);
    assert.deepEqual(subscriptions.add("late@example.net/x", spec([]), "nf"), { ok: false, kind: "limit", text: "this gateway takes at most 256 event subscriptions" });
  });
});

describe("readoutOf", () => {
  it("reads the subscribed nodes and rule fields, current values only", () => {
    const request = readoutOf(spec([{ field: "temperature" }], { types: new Set(["momentary", "historicalHour", "all"]) }));
    assert.deepEqual([request.nodeIds, request.fieldNames, [...request.types]], [["boiler"], ["temperature"], ["momentary"]]);
    assert.deepEqual([...readoutOf(spec([], { types: new Set(["all"]) })).types], [], "all: every current value");
  });
});

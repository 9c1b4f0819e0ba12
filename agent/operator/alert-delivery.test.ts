// Alert delivery without XMPP: whom a rule reaches (JIDs, roles, operators in force), one message per event with no
// repeats, the rate limit's burst and folded message, and the outbox that keeps messages in order while the link is
// down (in a real store, bounded).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AlertEngine, type AlertEvent, type AlertRule } from "../alerts.ts";
import type { Operator } from "../authz.ts";
import type { Logger } from "../log.ts";
import { ManualClock } from "../../lib/manual-clock.ts";
import { Store } from "../store.ts";
import { AlertDelivery, activeAlertsSummary, alertText, recipientsOf, type AlertOutbox, type QueuedAlert } from "./alert-delivery.ts";

const START = Date.parse("2025-01-05T12:00:00.000Z");
const UTC = { now: new Date(START), timeZone: "UTC" };
const OPERATORS: Operator[] = [
  { jid: "ops@example.net", role: "control" },
  { jid: "Boss@example.net", role: "admin" },
  { jid: "viewer@example.net", role: "read" },
];


class MemoryOutbox implements AlertOutbox {
  rows: QueuedAlert[] = [];
  private next = 1;
  queueAlert(alert: Omit<QueuedAlert, "id">, max: number): Promise<number> {
    this.rows.push({ id: this.next++, ...alert });
    const dropped = Math.max(0, this.rows.length - max);
    this.rows = this.rows.slice(dropped);
    return Promise.resolve(dropped);
  }
  queuedAlerts(): Promise<QueuedAlert[]> {
    return Promise.resolve([...this.rows]);
  }
  deleteQueuedAlert(id: number): Promise<void> {
    this.rows = this.rows.filter((row) => row.id !== id);
    return Promise.resolve();
  }
}

function event(ruleId: string, overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    kind: "fired",
    ruleId,
    sensorId: "boiler",
    field: "temperature",
    value: "31.20 °C",
    threshold: "above 30 °C",
    since: new Date(START),
    notify: [{ jid: "ops@example.net" }],
    ...overrides,
  };
}

/** The rule a message is about: "hot" of "… (alert hot)". */
const ruleOf = (body: string) => /\((?:alert|watch) (\S+)\)$/.exec(body)?.[1];

/** A delivery over fakes: what was sent, to whom, and a switch for the link. */
function harness(options: { operators?: Operator[]; online?: boolean } = {}) {
  const clock = new ManualClock(START);
  const outbox = new MemoryOutbox();
  const sent: [string, string][] = [];
  const warnings: string[] = [];
  const link = { online: options.online ?? true };
  const log: Logger = { debug: () => undefined, info: () => undefined, warn: (message) => warnings.push(message), error: (message) => warnings.push(message) };
  const operators = options.operators ?? OPERATORS;
  const delivery = new AlertDelivery({
    operators: () => operators,
    send: (recipient, body) => {
      if (!link.online) return Promise.resolve(false);
      sent.push([recipient, body]);
      return Promise.resolve(true);
    },
    isOnline: () => link.online,
    outbox,
    log,
    clock,
    timeZone: "UTC",
  });
  /** Lets the delivery's queued work run. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { clock, outbox, sent, warnings, link, delivery, settle, operators };
}

describe("alert delivery", () => {
  it("resolves JIDs and roles against the operators in force, each recipient once", () => {
    assert.deepEqual(recipientsOf([{ role: "control" }], OPERATORS), ["ops@example.net", "boss@example.net"]);
    assert.deepEqual(recipientsOf([{ role: "read" }, { jid: "OPS@example.net" }], OPERATORS), ["ops@example.net", "boss@example.net", "viewer@example.net"]);
    assert.deepEqual(recipientsOf([{ role: "admin" }], OPERATORS), ["boss@example.net"]);
    assert.deepEqual(recipientsOf([{ jid: "gone@example.net" }], OPERATORS), [], "no longer an operator: nothing");
  });

  it("says fired and cleared in words: value with unit, threshold, since when", () => {
    assert.equal(alertText(event("hot"), UTC), "⚠ boiler temperature 31.20 °C: above 30 °C since 12:00:00 (alert hot)");
    assert.equal(
      alertText(event("watch:3", { kind: "cleared", value: "29.90 °C", since: new Date(START + 65_000) }), UTC),
      "✓ boiler temperature 29.90 °C: no longer above 30 °C since 12:01:05 (watch 3)",
    );
    const failure = event("dead", { field: undefined, value: undefined, threshold: "failing", error: "i2c 0x77: EIO" });
    assert.equal(alertText(failure, UTC), "⚠ boiler is failing since 12:00:00: i2c 0x77: EIO (alert dead)");
    assert.equal(alertText({ ...failure, kind: "cleared", error: undefined }, UTC), "✓ boiler reads again since 12:00:00 (alert dead)");
    assert.equal(activeAlertsSummary([]), undefined);
    assert.equal(
      activeAlertsSummary([event("a"), failure, event("c"), event("d")]),
      "4 alerts: boiler temperature above 30 °C, boiler failing, boiler temperature above 30 °C, +1 more",
    );
  });

  it("sends one message per subscriber per event; a rule that stays fired says nothing more", async () => {
    const { delivery, sent, settle } = harness();
    const rule: AlertRule = { id: "hot", sensorId: "boiler", field: "temperature", condition: { kind: "above", threshold: 30 }, hysteresis: 0, forMs: 0, notify: [{ role: "control" }] };
    const engine = new AlertEngine([rule], { onEvent: (fired) => delivery.deliver(fired) });
    const reading = (value: number, at: number) => ({ sensorId: "boiler", timestamp: new Date(START + at), fields: [{ name: "temperature", type: "numeric" as const, value, unit: "°C", decimals: 1 }] });
    engine.observe(reading(31, 0));
    engine.observe(reading(32, 1000));
    engine.observe(reading(29, 2000));
    await settle();
    assert.deepEqual(sent, [
      ["ops@example.net", "⚠ boiler temperature 31.0 °C: above 30 °C since 12:00:00 (alert hot)"],
      ["boss@example.net", "⚠ boiler temperature 31.0 °C: above 30 °C since 12:00:00 (alert hot)"],
      ["ops@example.net", "✓ boiler temperature 29.0 °C: no longer above 30 °C since 12:00:02 (alert hot)"],
      ["boss@example.net", "✓ boiler temperature 29.0 °C: no longer above 30 °C since 12:00:02 (alert hot)"],
    ]);
  });

  it("rate-limits per recipient: a burst of 5, then the rest folded into one message when the next slot opens", async () => {
    const { delivery, sent, settle, clock } = harness();
    for (let i = 1; i <= 8; i++) delivery.deliver(event(`r${i}`));
    delivery.deliver(event("other", { notify: [{ jid: "viewer@example.net" }] }));
    await settle();
    assert.deepEqual(sent.map(([to, body]) => `${to} ${ruleOf(body)}`), [
      "ops@example.net r1",
      "ops@example.net r2",
      "ops@example.net r3",
      "ops@example.net r4",
      "ops@example.net r5",
      "viewer@example.net other",
    ], "another recipient has their own allowance");
    clock.advance(29_000);
    await settle();
    assert.equal(sent.length, 6, "nothing before the slot opens");
    clock.advance(1_000);
    await settle();
    assert.equal(sent.length, 7);
    assert.deepEqual(sent[6]?.[1].split("\n"), [
      "And 3 more alerts since 12:00:00, held back by the rate limit:",
      "⚠ boiler temperature 31.20 °C: above 30 °C since 12:00:00 (alert r6)",
      "⚠ boiler temperature 31.20 °C: above 30 °C since 12:00:00 (alert r7)",
      "⚠ boiler temperature 31.20 °C: above 30 °C since 12:00:00 (alert r8)",
    ]);
    // The allowance refills one message per 30 s: a single late alert goes out as itself.
    clock.advance(30_000);
    delivery.deliver(event("r9"));
    await settle();
    assert.equal(sent[7]?.[1], "⚠ boiler temperature 31.20 °C: above 30 °C since 12:00:00 (alert r9)");
  });

  it("puts what the rate limit holds into the outbox when it stops", async () => {
    const { delivery, sent, settle, outbox } = harness();
    for (let i = 1; i <= 7; i++) delivery.deliver(event(`r${i}`));
    await settle();
    await delivery.stop();
    assert.equal(sent.length, 5);
    assert.deepEqual(outbox.rows.map((row) => [row.recipient, row.body.split("\n")[0]]), [["ops@example.net", "And 2 more alerts since 12:00:00, held back by the rate limit:"]]);
  });

  it("keeps messages while the link is down and sends them in order when it is back, dropping recipients who left", async () => {
    const operators = [...OPERATORS];
    const { delivery, sent, settle, link, outbox } = harness({ operators, online: false });
    delivery.deliver(event("first"));
    delivery.deliver(event("second", { notify: [{ jid: "viewer@example.net" }] }));
    delivery.deliver(event("third"));
    await settle();
    assert.equal(sent.length, 0);
    assert.deepEqual(outbox.rows.map((row) => ruleOf(row.body)), ["first", "second", "third"]);
    operators.splice(2, 1); // viewer is no longer an operator
    link.online = true;
    delivery.deliver(event("fourth"));
    await settle();
    assert.equal(sent.length, 0, "a new message waits behind the queued ones");
    await delivery.linkUp();
    await settle();
    assert.deepEqual(sent.map(([to, body]) => `${to} ${ruleOf(body)}`), ["ops@example.net first", "ops@example.net third", "ops@example.net fourth"]);
    assert.deepEqual(outbox.rows, []);
    delivery.deliver(event("fifth"));
    await settle();
    assert.equal(sent.length, 4, "with the outbox empty, a message goes at once");
  });

  it("bounds the store's outbox: the oldest are dropped and counted in the log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xedge-alert-outbox-"));
    const store = await Store.open(join(dir, "xedge.db"), { commitIntervalMs: 1000 });
    try {
      const warnings: string[] = [];
      const log: Logger = { debug: () => undefined, info: () => undefined, warn: (message) => warnings.push(message), error: (message) => warnings.push(message) };
      const rate = { burst: 100, everyMs: 1000, outboxMax: 3 };
      const delivery = new AlertDelivery({ operators: () => OPERATORS, send: () => Promise.resolve(false), isOnline: () => false, outbox: store, log, rate });
      await delivery.start();
      for (let i = 1; i <= 5; i++) delivery.deliver(event(`r${i}`));
      await delivery.stop();
      assert.deepEqual((await store.queuedAlerts()).map((row) => ruleOf(row.body)), ["r3", "r4", "r5"]);
      assert.deepEqual(warnings, ["alert outbox full: dropped the oldest queued alert messages", "alert outbox full: dropped the oldest queued alert messages"]);

      // After a restart, what the store kept goes out in order on the next link.
      const sent: string[] = [];
      const again = new AlertDelivery({ operators: () => OPERATORS, send: (_to, body) => (sent.push(ruleOf(body) ?? body), Promise.resolve(true)), isOnline: () => true, outbox: store, log, rate: { ...rate, outboxMax: 10 } });
      await again.start();
      again.deliver(event("r6"));
      await again.linkUp();
      await again.stop();
      assert.deepEqual(sent, ["r3", "r4", "r5", "r6"]);
      assert.deepEqual(await store.queuedAlerts(), []);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

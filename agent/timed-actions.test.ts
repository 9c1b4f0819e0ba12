import { test } from "node:test";
import assert from "node:assert/strict";
import { TimedActions, type TimedAction, type TimedActionStore } from "./timed-actions.ts";
import { ManualClock } from "../lib/manual-clock.ts";
import type { AuditEntry, ControlRequest, ControlResult, FormResult } from "./control.ts";

const OPERATOR = "ops@example.org/phone";
const READER = "reader@example.org/phone";
const MINUTE = 60_000;


/** Lets time pass, then lets what the due timers started finish. */
async function passTime(clock: ManualClock, ms: number): Promise<void> {
  clock.advance(ms);
  await settle();
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** One actuator, pump, with a boolean state; only OPERATOR has the control role. */
class FakeControl {
  readonly values = new Map([["state", "false"]]);
  readonly sets: { requester: string; request: ControlRequest; via: string }[] = [];
  failWrites = false;
  set(requester: string, request: ControlRequest, via: string): Promise<ControlResult> {
    this.sets.push({ requester, request, via });
    if (requester !== OPERATOR) return Promise.resolve({ ok: false, kind: "forbidden", text: "control needs the control role", applied: [] });
    if (this.failWrites) return Promise.resolve({ ok: false, kind: "failed", text: "pump: writing state failed: EIO", parameter: "state", applied: [] });
    const [value] = request.values;
    if (!value || !this.values.has(value.name)) return Promise.resolve({ ok: false, kind: "item-not-found", text: "no such parameter", applied: [] });
    this.values.set(value.name, value.value);
    return Promise.resolve({ ok: true, applied: [{ nodeId: "pump", name: value.name, value: value.value === "true" }] });
  }
  getForm(): Promise<FormResult> {
    const parameters = [...this.values].map(([name, value]) => ({ spec: { name, type: "boolean" as const }, nodeIds: ["pump"], value, notSame: false }));
    return Promise.resolve({ ok: true, nodeIds: ["pump"], parameters });
  }
}

class MemoryStore implements TimedActionStore {
  readonly rows = new Map<string, TimedAction>();
  saveTimedAction(action: TimedAction): Promise<void> {
    this.rows.set(`${action.nodeId}/${action.parameter}`, action);
    return Promise.resolve();
  }
  deleteTimedAction(nodeId: string, parameter: string): Promise<void> {
    this.rows.delete(`${nodeId}/${parameter}`);
    return Promise.resolve();
  }
  timedActions(): Promise<TimedAction[]> {
    return Promise.resolve([...this.rows.values()]);
  }
}

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function setup(shared: { store?: MemoryStore; control?: FakeControl; clock?: ManualClock } = {}) {
  const clock = shared.clock ?? new ManualClock(Date.parse("2026-01-05T10:00:00Z"));
  const control = shared.control ?? new FakeControl();
  const store = shared.store ?? new MemoryStore();
  const told: { to: string; text: string }[] = [];
  const audited: AuditEntry[] = [];
  const timed = new TimedActions({
    control,
    store,
    audit: (entry) => {
      audited.push(entry);
      return Promise.resolve();
    },
    tell: (to, text) => told.push({ to, text }),
    log: quiet,
    clock,
  });
  return { clock, control, store, told, audited, timed };
}

test("a timed set switches now and back to the value before when the time is up, telling who set it", async () => {
  const { clock, control, store, told, timed } = setup();
  const set = await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  assert.equal(set.result.ok, true);
  const action = "action" in set ? set.action : undefined;
  assert.equal(control.values.get("state"), "true");
  assert.equal(action?.revertValue, "false");
  assert.match(control.sets[0]?.request.note ?? "", /^timed: for 10m, then back to false$/);
  assert.equal(store.rows.size, 1, "kept for a restart");

  await passTime(clock, 10 * MINUTE - 1);
  assert.equal(control.values.get("state"), "true", "not before its time");
  await passTime(clock, 1);
  assert.equal(control.values.get("state"), "false");
  const revert = control.sets[1];
  assert.equal(revert?.requester, OPERATOR);
  assert.equal(revert?.via, "chat");
  assert.match(revert?.request.note ?? "", /^timed revert: back to the value before 'set pump state true for 10m'$/);
  assert.deepEqual(told, [{ to: OPERATOR, text: "Switched pump state back to false: the time of your 'set pump state true for 10m' is up." }]);
  assert.equal(store.rows.size, 0);
  assert.deepEqual(timed.list(), []);
});

test("cancel switches back now as the operator who cancels, and the timer does not fire later", async () => {
  const { clock, control, store, told, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  const [cancelled, ...more] = await timed.cancel(OPERATOR, "pump", undefined, "chat");
  assert.equal(more.length, 0);
  assert.equal(cancelled?.result.ok, true);
  assert.equal(control.values.get("state"), "false");
  assert.match(control.sets[1]?.request.note ?? "", /cancelled early by ops@example.org\/phone/);
  assert.equal(store.rows.size, 0);
  await passTime(clock, 10 * MINUTE);
  assert.equal(control.sets.length, 2, "no second switch back");
  assert.deepEqual(told, []);
  assert.deepEqual(await timed.cancel(OPERATOR, "pump", "state", "chat"), [], "nothing left to cancel");
});

test("a cancel the control role refuses leaves the timer running", async () => {
  const { clock, control, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  const [refused] = await timed.cancel(READER, "pump", "state", "chat");
  assert.equal(refused?.result.ok, false);
  assert.equal(control.values.get("state"), "true");
  await passTime(clock, 10 * MINUTE);
  assert.equal(control.values.get("state"), "false");
});

test("a second timed set replaces the first and still switches back to the value before both", async () => {
  const { clock, control, told, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  const first = timed.find("pump", "state");
  await passTime(clock, MINUTE);
  const second = await timed.setFor(OPERATOR, "pump", "state", "true", 2 * MINUTE, "chat");
  assert.ok("action" in second);
  assert.equal(second.action.revertValue, "false");
  assert.equal(second.replaced, first);
  await passTime(clock, 2 * MINUTE);
  assert.equal(control.values.get("state"), "false");
  await passTime(clock, 10 * MINUTE);
  assert.equal(control.sets.length, 3, "set, set, one switch back");
  assert.equal(told.length, 1);
});

test("a plain set drops the timer: the value it chose stays", async () => {
  const { clock, control, store, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  const dropped = timed.supersede([{ nodeId: "pump", name: "state", value: true }]);
  assert.equal(dropped.length, 1);
  await settle();
  assert.equal(store.rows.size, 0);
  await passTime(clock, 10 * MINUTE);
  assert.equal(control.sets.length, 1);
  assert.deepEqual(timed.supersede([{ nodeId: "pump", name: "state", value: true }]), []);
});

test("a timer kept in the store switches back after a restart at its due time", async () => {
  const before = setup();
  await before.timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  before.timed.stop();
  await passTime(before.clock, 10 * MINUTE);
  assert.equal(before.control.sets.length, 1, "a stopped agent switches nothing");

  // The agent comes back 3 minutes after the set, its pump in the safe state (off).
  const clock = new ManualClock(Date.parse("2026-01-05T10:00:00Z"));
  await passTime(clock, 3 * MINUTE);
  const after = setup({ store: before.store, clock });
  after.control.values.set("state", "false");
  await after.timed.start();
  assert.equal(after.timed.list().length, 1);
  await passTime(clock, 7 * MINUTE);
  assert.deepEqual(after.control.sets.map((set) => set.request.values[0]?.value), ["false"]);
  assert.equal(after.told.length, 1);
  assert.equal(after.store.rows.size, 0);
});

test("a timer that fell due while the agent was down is not applied late; the operator is told", async () => {
  const store = new MemoryStore();
  const setAt = Date.parse("2026-01-05T09:00:00Z");
  // Pump was on, the operator switched it off for 10 minutes; the agent was down at the due time.
  await store.saveTimedAction({ nodeId: "pump", parameter: "state", setValue: "false", revertValue: "true", requester: OPERATOR, via: "chat", setAt, dueAt: setAt + 10 * MINUTE });
  const { control, told, audited, timed } = setup({ store });
  await timed.start();
  assert.equal(control.sets.length, 0, "the safe state wins");
  assert.equal(store.rows.size, 0);
  assert.equal(audited[0]?.result, "delayed");
  assert.match(audited[0]?.detail ?? "", /^timed revert to true not applied: due at 2026-01-05T09:10:00.000Z while the agent was down/);
  assert.match(told[0]?.text ?? "", /^pump state was not switched back to true: .* came back up at false \(its safe state\)/);
});

test("an overdue timer whose value the actuator already holds is done, with no audit entry", async () => {
  const store = new MemoryStore();
  const setAt = Date.parse("2026-01-05T09:00:00Z");
  await store.saveTimedAction({ nodeId: "pump", parameter: "state", setValue: "true", revertValue: "false", requester: OPERATOR, via: "chat", setAt, dueAt: setAt + MINUTE });
  const { control, told, audited, timed } = setup({ store });
  await timed.start();
  assert.equal(control.sets.length, 0);
  assert.deepEqual(audited, []);
  assert.match(told[0]?.text ?? "", /^pump state is back at false/);
});

test("a switch back that fails is reported to the operator and ends the timer", async () => {
  const { clock, control, store, told, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  control.failWrites = true;
  await passTime(clock, 10 * MINUTE);
  assert.equal(control.values.get("state"), "true");
  assert.deepEqual(told, [{ to: OPERATOR, text: "Could not switch pump state back to false after your 'set pump state true for 10m': pump: writing state failed: EIO." }]);
  assert.equal(store.rows.size, 0);
});

test("a refused timed set starts no timer", async () => {
  const { store, timed } = setup();
  const refused = await timed.setFor(READER, "pump", "state", "true", 10 * MINUTE, "chat");
  assert.equal(refused.result.ok, false);
  assert.equal("action" in refused, false);
  assert.equal(store.rows.size, 0);
  const tooLong = await timed.setFor(OPERATOR, "pump", "state", "true", 8 * 86_400_000, "chat");
  assert.equal(tooLong.result.ok, false);
});

test("a wait longer than Node's timers allow is taken in steps and still fires on time", async () => {
  const { clock, control, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 3 * 86_400_000, "chat");
  await passTime(clock, 86_400_000);
  await passTime(clock, 86_400_000);
  assert.equal(control.values.get("state"), "true");
  await passTime(clock, 86_400_000);
  assert.equal(control.values.get("state"), "false");
});

test("a step of the wall clock back by hours does not hold the switch back", async () => {
  const { clock, control, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  await passTime(clock, 4 * MINUTE);
  clock.step(-3 * 60 * MINUTE);
  await passTime(clock, 6 * MINUTE - 1);
  assert.equal(control.values.get("state"), "true", "not before its time");
  await passTime(clock, 1);
  assert.equal(control.values.get("state"), "false", "10 minutes after the set, not 3 hours later");
});

test("a step of the wall clock forward does not end a long timer early", async () => {
  const { clock, control, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 2 * 86_400_000, "chat");
  clock.step(86_400_000);
  await passTime(clock, 2 * 86_400_000 - 1);
  assert.equal(control.values.get("state"), "true", "not before its time");
  await passTime(clock, 1);
  assert.equal(control.values.get("state"), "false");
});

test("a reported step moves the timers' kept due times, so a restart after it switches back when meant", async () => {
  const { clock, store, told, timed } = setup();
  await timed.setFor(OPERATOR, "pump", "state", "true", 10 * MINUTE, "chat");
  const keptDue = store.rows.get("pump/state")?.dueAt ?? 0;
  await passTime(clock, 4 * MINUTE);
  clock.step(-3 * 60 * MINUTE);
  await timed.clockStepped(-3 * 60 * MINUTE);
  assert.equal(store.rows.get("pump/state")?.dueAt, keptDue - 3 * 60 * MINUTE);
  assert.equal(timed.list()[0]?.dueAt, clock.now() + 6 * MINUTE, "listed as due 6 minutes from now");
  await passTime(clock, 6 * MINUTE);
  assert.match(told[0]?.text ?? "", /set pump state true for 10m/, "the duration told is the one set");
});

// Timed actions: `set pump state on for 10m` switches an actuator's parameter and, when the time is up, switches it
// back to the value it had before, telling whoever set it (or that it could not). Nothing here knows about XMPP.
//
// Decisions:
// - Every write goes through Control (agent/control.ts): the same validation, the same authorization (the control
//   role) and the audit trail, with a note saying it is timed. The switch back runs as the operator who set it,
//   so an operator who has lost the control role since is refused, audited and told.
// - One timer per parameter. A timed set on a parameter that already has one replaces it and keeps the first
//   timer's value to switch back to (the value before any of them). A plain set from any face drops the timer:
//   the operator chose a value to keep.
// - Cancel switches back now, as the operator who cancels. The timer ends only when the switch back is applied;
//   a refused or failed one leaves it to run. A switch back that fails at its due time ends the timer (the
//   operator is told; retrying forever would keep an actuator's fate in a loop nobody watches).
// - Timers are kept in the store, so they outlive a restart. The safe state wins: on stop, actuators go to their
//   safe state and no timer fires; at start they come up in it and nothing is set again. A timer not yet due at
//   start still switches back at its due time, the switch its operator scheduled. One that fell due while the
//   agent was down is not applied late (nobody chose that moment, and the actuator may have been left in its safe
//   state on purpose): if the parameter already holds the value to switch back to, it is done; otherwise it is
//   refused as delayed in the audit trail, and the operator is told what the parameter holds now.
// - While the agent runs, a timer waits on the monotonic clock: NTP stepping a Pi's clock back by hours must not keep
//   a heater on for hours more, nor a step forward end it early. A step the clock watch reports moves the kept due
//   time with it, so a restart after the step still switches back when the operator meant.
import { monotonicOf, systemClock, type Clock } from "../lib/clock.ts";
import type { AppliedValue, AuditEntry, Control, ControlResult } from "./control.ts";
import { errorText, type Logger } from "./log.ts";
import { formatDuration } from "../lib/duration.ts";

/** Durations up to a week: longer ones are schedules, not timed switches. */
export const MAX_TIMED_MS = 7 * 86_400_000;
/** Node's timers overflow past 2^31 ms; a longer wait is taken in steps of a day. */
const LONGEST_WAIT_MS = 86_400_000;

/** A timed set in force: what to switch back to, when, and who asked. Values are text, as faces send them. */
export interface TimedAction {
  nodeId: string;
  parameter: string;
  setValue: string;
  revertValue: string;
  /** The full JID (or other address) of the operator who set it; the switch back runs as them. */
  requester: string;
  via: string;
  /** ms since epoch */
  setAt: number;
  /** ms since epoch */
  dueAt: number;
}

/** Where timers are kept across restarts (agent/store.ts's Store fits). */
export interface TimedActionStore {
  saveTimedAction(action: TimedAction): Promise<void>;
  deleteTimedAction(nodeId: string, parameter: string): Promise<void>;
  timedActions(): Promise<TimedAction[]>;
}

export interface TimedActionsDeps {
  control: Pick<Control, "set" | "getForm">;
  store: TimedActionStore;
  /** The audit trail, for a timer that fell due while the agent was down (it never reaches Control). */
  audit: (entry: AuditEntry) => Promise<void>;
  /** Sends a chat message to an operator. */
  tell: (requester: string, text: string) => void;
  log: Logger;
  clock?: Clock;
}

/** Applied: the timer now in force and the one it replaced, if any; or the refusal, with no timer. */
export type TimedSetResult =
  | { result: Extract<ControlResult, { ok: true }>; action: TimedAction; replaced?: TimedAction }
  | { result: Extract<ControlResult, { ok: false }> };

export interface CancelResult {
  action: TimedAction;
  result: ControlResult;
}

interface Pending {
  action: TimedAction;
  cancelTimer: () => void;
}

export class TimedActions {
  private readonly pending = new Map<string, Pending>();
  private readonly clock: Clock;
  private stopped = false;
  /** Sets, cancels and switches back run one at a time, so a timer never fires in the middle of a replacement. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: TimedActionsDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Takes up the kept timers: those not yet due are scheduled, those overdue are settled (see the decisions). */
  start(): Promise<void> {
    return this.serially(async () => {
      for (const action of await this.deps.store.timedActions()) {
        if (action.dueAt > this.clock.now()) this.schedule(action);
        else await this.settleOverdue(action);
      }
    });
  }

  /** Forgets the timers in memory without switching anything: the store keeps them for the next start. */
  stop(): void {
    this.stopped = true;
    for (const { cancelTimer } of this.pending.values()) cancelTimer();
    this.pending.clear();
  }

  /** The timers in force, soonest due first. */
  list(): TimedAction[] {
    return [...this.pending.values()].map(({ action }) => action).sort((a, b) => a.dueAt - b.dueAt);
  }

  find(nodeId: string, parameter: string): TimedAction | undefined {
    return this.pending.get(keyOf(nodeId, parameter))?.action;
  }

  /** Sets `parameter` of `nodeId` to `value` for `durationMs`, then switches it back to the value it had before. */
  setFor(requester: string, nodeId: string, parameter: string, value: string, durationMs: number, via: string): Promise<TimedSetResult> {
    return this.serially(async () => {
      if (!(durationMs > 0 && durationMs <= MAX_TIMED_MS)) {
        return { result: { ok: false, kind: "bad-request", text: `a timed set lasts from 1ms to ${formatDuration(MAX_TIMED_MS)}`, applied: [] } };
      }
      const replaced = this.find(nodeId, parameter);
      const request = { nodeIds: [nodeId], values: [{ name: parameter, value }] };
      let revertValue = replaced?.revertValue;
      if (revertValue === undefined) {
        const form = await this.deps.control.getForm(requester, [nodeId]);
        const known = form.ok ? form.parameters.find((candidate) => candidate.spec.name === parameter) : undefined;
        // A stranger, an unknown node or parameter: Control refuses it and writes the refusal to the audit trail.
        if (!known) return refused(await this.deps.control.set(requester, request, via));
        if (known.value === undefined) {
          const text = `${nodeId} ${parameter} cannot be read now, so there is no value to switch back to; nothing was applied`;
          return { result: { ok: false, kind: "failed", text, parameter, applied: [] } };
        }
        revertValue = known.value;
      }
      const note = `timed: for ${formatDuration(durationMs)}, then back to ${revertValue}`;
      const result = await this.deps.control.set(requester, { ...request, note }, via);
      if (!result.ok) return { result };
      const now = this.clock.now();
      const applied = result.applied[0];
      const action: TimedAction = {
        nodeId,
        parameter,
        setValue: applied ? String(applied.value) : value,
        revertValue,
        requester,
        via,
        setAt: now,
        dueAt: now + durationMs,
      };
      this.pending.get(keyOf(nodeId, parameter))?.cancelTimer();
      this.schedule(action);
      await this.keep(action);
      return { result, action, ...(replaced ? { replaced } : {}) };
    });
  }

  /** Ends the timers of `nodeId` (or of one of its parameters) early, switching back now as `requester`. */
  cancel(requester: string, nodeId: string, parameter: string | undefined, via: string): Promise<CancelResult[]> {
    return this.serially(async () => {
      const chosen = this.list().filter((action) => action.nodeId === nodeId && (parameter === undefined || action.parameter === parameter));
      const results: CancelResult[] = [];
      for (const action of chosen) {
        const result = await this.switchBack(action, requester, via, `timed revert, cancelled early by ${requester}`);
        if (result.ok) await this.end(action);
        results.push({ action, result });
      }
      return results;
    });
  }

  /** A plain set was applied: timers on the parameters it wrote end without switching back. Returns them. */
  supersede(applied: readonly AppliedValue[]): TimedAction[] {
    const dropped: TimedAction[] = [];
    for (const value of applied) {
      const action = this.find(value.nodeId, value.name);
      if (!action) continue;
      dropped.push(action);
      void this.end(action);
    }
    return dropped;
  }

  /**
   * The wall clock was stepped by `byMs` (positive: forward): the timers still fall due after the time they were
   * set for, and their kept due times move with the clock, for the next start.
   */
  clockStepped(byMs: number): Promise<void> {
    return this.serially(async () => {
      for (const { action } of this.pending.values()) {
        action.setAt += byMs;
        action.dueAt += byMs;
        await this.keep(action);
      }
    });
  }

  private schedule(action: TimedAction): void {
    const key = keyOf(action.nodeId, action.parameter);
    // The due time on the monotonic clock, which a step of the wall clock does not move.
    const dueMonotonic = monotonicOf(this.clock) + (action.dueAt - this.clock.now());
    const wait = () => {
      const left = dueMonotonic - monotonicOf(this.clock);
      if (left > 0) {
        this.pending.set(key, { action, cancelTimer: this.clock.after(Math.min(left, LONGEST_WAIT_MS), wait) });
        return;
      }
      void this.serially(() => this.fire(action));
    };
    wait();
  }

  private async fire(action: TimedAction): Promise<void> {
    // A cancel, a replacement or a stop may have come first while this waited its turn.
    if (this.stopped || this.find(action.nodeId, action.parameter) !== action) return;
    const set = `set ${action.nodeId} ${action.parameter} ${action.setValue} for ${formatDuration(action.dueAt - action.setAt)}`;
    const result = await this.switchBack(action, action.requester, action.via, `timed revert: back to the value before '${set}'`);
    await this.end(action);
    const target = `${action.nodeId} ${action.parameter} back to ${action.revertValue}`;
    this.deps.tell(
      action.requester,
      result.ok ? `Switched ${target}: the time of your '${set}' is up.` : `Could not switch ${target} after your '${set}': ${result.text}.`,
    );
  }

  private switchBack(action: TimedAction, requester: string, via: string, note: string): Promise<ControlResult> {
    return this.deps.control.set(requester, { nodeIds: [action.nodeId], values: [{ name: action.parameter, value: action.revertValue }], note }, via);
  }

  private async settleOverdue(action: TimedAction): Promise<void> {
    await this.forget(action);
    const form = await this.deps.control.getForm(action.requester, [action.nodeId]);
    const current = form.ok ? form.parameters.find((candidate) => candidate.spec.name === action.parameter)?.value : undefined;
    const what = `${action.nodeId} ${action.parameter}`;
    if (current === action.revertValue) {
      this.deps.tell(action.requester, `${what} is back at ${action.revertValue}: the agent restarted, and its timer fell due while it was down.`);
      return;
    }
    const due = new Date(action.dueAt).toISOString();
    const detail = `timed revert to ${action.revertValue} not applied: due at ${due} while the agent was down; it holds ${current ?? "an unreadable value"} since the restart`;
    try {
      await this.deps.audit({
        at: new Date(this.clock.now()),
        requester: action.requester,
        via: action.via,
        nodeIds: [action.nodeId],
        values: [{ name: action.parameter, value: action.revertValue }],
        result: "delayed",
        detail,
      });
    } catch (error) {
      this.deps.log.error("audit trail write failed", { actuator: action.nodeId, error: errorText(error) });
    }
    this.deps.log.info("timed revert not applied: due while the agent was down", { actuator: action.nodeId, parameter: action.parameter, due });
    this.deps.tell(
      action.requester,
      `${what} was not switched back to ${action.revertValue}: its timer fell due while the agent was down, and it came back up at ${current ?? "an unreadable value"} (its safe state). Set it again if it should be ${action.revertValue}.`,
    );
  }

  private async end(action: TimedAction): Promise<void> {
    const key = keyOf(action.nodeId, action.parameter);
    const pending = this.pending.get(key);
    if (pending?.action !== action) return;
    pending.cancelTimer();
    this.pending.delete(key);
    await this.forget(action);
  }

  private async keep(action: TimedAction): Promise<void> {
    try {
      await this.deps.store.saveTimedAction(action);
    } catch (error) {
      this.deps.log.error("keeping a timed action failed: it will not outlive a restart", { actuator: action.nodeId, error: errorText(error) });
    }
  }

  private async forget(action: TimedAction): Promise<void> {
    try {
      await this.deps.store.deleteTimedAction(action.nodeId, action.parameter);
    } catch (error) {
      this.deps.log.error("forgetting a timed action failed", { actuator: action.nodeId, error: errorText(error) });
    }
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Control's answer for a set that should not have passed (Control found nothing it could refuse). */
function refused(result: ControlResult): TimedSetResult {
  if (!result.ok) return { result };
  return { result: { ok: false, kind: "failed", text: "applied without a timer, as the parameter was not found in the form", applied: result.applied } };
}

function keyOf(nodeId: string, parameter: string): string {
  return `${nodeId}\u0000${parameter}`;
}

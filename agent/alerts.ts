// The alert rule engine: it watches committed readings and sensor failures and says when a rule fires and when
// it clears. It knows no protocol and delivers nothing itself: whoever composes it passes `onEvent`, so config
// alerts and chat watches share the same rules and the same states. (Event subscriptions, agent/subscriptions.ts,
// are fed the same readings but re-arm at each notification, which a fired/cleared rule does not.)
//
// What a delivery layer builds on: `onEvent` (each fired and cleared event, once), `active()` (the rules fired
// now, e.g. for presence), `replace()` (a new rule set that keeps the state of unchanged rules) and each
// event's `notify`, whose roles the deliverer resolves against the operators in force when it sends.
import { isDeepStrictEqual } from "node:util";
import { formatFieldValue, type Field, type Sample } from "../lib/model.ts";
import { formatDuration } from "../lib/duration.ts";
import { monotonicOf, systemClock, type Clock } from "../lib/clock.ts";
import type { Role } from "./authz.ts";

export type AlertCondition =
  | { kind: "above"; threshold: number }
  | { kind: "below"; threshold: number }
  | { kind: "outside"; low: number; high: number }
  | { kind: "equals"; value: number | boolean | string }
  /** Moved at least `amount` away from the value the rule was last armed at (its first reading, or when it cleared). */
  | { kind: "changesBy"; amount: number }
  /** The sensor cannot be read. */
  | { kind: "failing" };

/** Who hears of a rule: one operator, or every operator of a role. */
export type AlertSubscriber = { jid: string } | { role: Role };

export interface AlertRule {
  id: string;
  sensorId: string;
  /** The field the condition looks at; absent for `failing`. */
  field?: string;
  condition: AlertCondition;
  /** How far back past the threshold a value must go before the rule clears, so noise does not flap it. */
  hysteresis: number;
  /** How long the condition must hold before the rule fires; 0 fires at once. */
  forMs: number;
  notify: AlertSubscriber[];
}

export interface AlertEvent {
  kind: "fired" | "cleared";
  ruleId: string;
  sensorId: string;
  field?: string;
  /** The value that fired or cleared the rule, with its unit ("31.20 °C"); absent for a failure. */
  value?: string;
  /** The condition in words, with the field's unit ("above 30 °C"). */
  threshold: string;
  /** When the condition started to hold (fired) or when it stopped (cleared). */
  since: Date;
  /** The sensor's error, for a failure. */
  error?: string;
  notify: AlertSubscriber[];
}

/** Where a value stands for a rule: its condition holds, it is clear past the hysteresis, or in between. */
type Verdict = "active" | "clear" | "between";

interface RuleState {
  fired: boolean;
  /** When the condition started to hold, while it waits out `for:`: as the reading says (shown), and on the monotonic clock (timed). */
  pendingSince?: Date;
  pendingMonotonic?: number;
  cancelTimer?: () => void;
  /** The latest value seen, rendered, and the error for a failure. */
  lastValue?: string;
  lastError?: string;
  /** The unit of the rule's field, once seen, for the threshold in words. */
  unit?: string;
  /** changesBy: the value the rule was armed at. */
  reference?: number;
  firedEvent?: AlertEvent;
}

function verdictOf(rule: AlertRule, field: Field, state: RuleState): Verdict {
  const { condition, hysteresis } = rule;
  if (condition.kind === "equals") return field.value === condition.value ? "active" : "clear";
  if (typeof field.value !== "number") return "clear";
  const value = field.value;
  switch (condition.kind) {
    case "above":
      return value > condition.threshold ? "active" : value <= condition.threshold - hysteresis ? "clear" : "between";
    case "below":
      return value < condition.threshold ? "active" : value >= condition.threshold + hysteresis ? "clear" : "between";
    case "outside":
      if (value < condition.low || value > condition.high) return "active";
      return value >= condition.low + hysteresis && value <= condition.high - hysteresis ? "clear" : "between";
    case "changesBy": {
      const moved = Math.abs(value - (state.reference ?? value));
      return moved >= condition.amount ? "active" : moved <= condition.amount - hysteresis ? "clear" : "between";
    }
    case "failing":
      // Decided by the sample's error, never by a field (AlertEngine.observe).
      return "clear";
  }
}

/** "above 30 °C", "outside 10..25 °C", "failing for 5m". */
export function describeCondition(rule: AlertRule, unit?: string): string {
  const withUnit = (value: number | boolean | string) => `${String(value)}${unit ? ` ${unit}` : ""}`;
  const { condition } = rule;
  const text = (() => {
    switch (condition.kind) {
      case "above":
        return `above ${withUnit(condition.threshold)}`;
      case "below":
        return `below ${withUnit(condition.threshold)}`;
      case "outside":
        return `outside ${condition.low}..${withUnit(condition.high)}`;
      case "equals":
        return `equals ${withUnit(condition.value)}`;
      case "changesBy":
        return `changes by ${withUnit(condition.amount)}`;
      case "failing":
        return "failing";
    }
  })();
  return rule.forMs > 0 ? `${text} for ${formatDuration(rule.forMs)}` : text;
}

function rendered(field: Field): string {
  const unit = field.type === "numeric" || field.type === "int" ? field.unit : undefined;
  return `${formatFieldValue(field)}${unit ? ` ${unit}` : ""}`;
}

export interface AlertEngineOptions {
  /** Told once when a rule fires and once when it clears: the seam to delivery. */
  onEvent: (event: AlertEvent) => void;
  clock?: Clock;
}

export class AlertEngine {
  private rules: AlertRule[] = [];
  private readonly states = new Map<string, RuleState>();
  private readonly clock: Clock;

  constructor(
    rules: readonly AlertRule[],
    private readonly options: AlertEngineOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.replace(rules);
  }

  /**
   * Takes these rules (a reloaded config). A rule that is unchanged keeps its state, so it does not fire again;
   * a rule that is gone or changed is forgotten without a word.
   */
  replace(rules: readonly AlertRule[]): void {
    const kept = new Map<string, RuleState>();
    for (const rule of rules) {
      const before = this.rules.find((old) => old.id === rule.id);
      const state = this.states.get(rule.id);
      if (before && state && isDeepStrictEqual(before, rule)) kept.set(rule.id, state);
    }
    for (const [id, state] of this.states) if (!kept.has(id)) state.cancelTimer?.();
    this.states.clear();
    for (const rule of rules) this.states.set(rule.id, kept.get(rule.id) ?? { fired: false });
    this.rules = [...rules];
  }

  /**
   * One committed sample of a sensor. With `error` set, the sensor failed (`timestamp`: since when); without it,
   * the sensor works, and the fields it carries are checked (none at all: it only recovered).
   */
  observe(sample: Sample): void {
    for (const rule of this.rules) {
      if (rule.sensorId !== sample.sensorId) continue;
      const state = this.states.get(rule.id);
      if (!state) continue;
      if (rule.condition.kind === "failing") {
        state.lastError = sample.error;
        this.apply(rule, state, sample.error !== undefined ? "active" : "clear", sample.timestamp);
        continue;
      }
      if (sample.error !== undefined) continue;
      const field = sample.fields.find((candidate) => candidate.name === rule.field);
      if (!field) continue;
      if (field.type === "numeric" || field.type === "int") state.unit = field.unit;
      const value = typeof field.value === "number" ? field.value : undefined;
      if (rule.condition.kind === "changesBy" && state.reference === undefined) state.reference = value;
      state.lastValue = rendered(field);
      this.apply(rule, state, verdictOf(rule, field, state), sample.timestamp);
      // A changesBy rule that just cleared is armed again at the value it came back to.
      if (rule.condition.kind === "changesBy" && state.reference === undefined) state.reference = value;
    }
  }

  /** The rules fired now, as they fired: what presence and a status would show. */
  active(): AlertEvent[] {
    return this.rules.flatMap((rule) => {
      const event = this.states.get(rule.id)?.firedEvent;
      return event ? [event] : [];
    });
  }

  stop(): void {
    for (const state of this.states.values()) state.cancelTimer?.();
  }

  private apply(rule: AlertRule, state: RuleState, verdict: Verdict, at: Date): void {
    if (verdict === "active") {
      if (state.fired) return;
      // `for:` is timed on the monotonic clock from when the engine first sees the condition: a wall clock that
      // jumps (NTP at boot, hours forward or minutes back) neither fires a rule early nor holds it back.
      if (state.pendingSince === undefined || state.pendingMonotonic === undefined) {
        state.pendingSince = at;
        state.pendingMonotonic = this.monotonic();
        if (rule.forMs > 0) state.cancelTimer = this.clock.after(rule.forMs, () => this.fireIfStillPending(rule.id));
      }
      if (this.monotonic() - state.pendingMonotonic >= rule.forMs) this.fire(rule, state);
      return;
    }
    // Not holding: a wait for `for:` starts over; a fired rule clears only once clear of the hysteresis.
    this.stopWaiting(state);
    if (verdict === "clear" && state.fired) {
      state.fired = false;
      state.firedEvent = undefined;
      if (rule.condition.kind === "changesBy") state.reference = undefined;
      this.options.onEvent(this.event("cleared", rule, state, at));
    }
  }

  private fireIfStillPending(ruleId: string): void {
    const rule = this.rules.find((candidate) => candidate.id === ruleId);
    const state = this.states.get(ruleId);
    if (!rule || !state || state.fired || state.pendingSince === undefined) return;
    this.fire(rule, state);
  }

  private fire(rule: AlertRule, state: RuleState): void {
    const since = state.pendingSince ?? new Date(this.clock.now());
    this.stopWaiting(state);
    state.fired = true;
    state.firedEvent = this.event("fired", rule, state, since);
    this.options.onEvent(state.firedEvent);
  }

  private stopWaiting(state: RuleState): void {
    state.cancelTimer?.();
    state.cancelTimer = undefined;
    state.pendingSince = undefined;
    state.pendingMonotonic = undefined;
  }

  private monotonic(): number {
    return monotonicOf(this.clock);
  }

  private event(kind: AlertEvent["kind"], rule: AlertRule, state: RuleState, since: Date): AlertEvent {
    const failing = rule.condition.kind === "failing";
    return {
      kind,
      ruleId: rule.id,
      sensorId: rule.sensorId,
      ...(rule.field !== undefined ? { field: rule.field } : {}),
      ...(!failing && state.lastValue !== undefined ? { value: state.lastValue } : {}),
      threshold: describeCondition(rule, state.unit),
      since,
      ...(failing && kind === "fired" && state.lastError !== undefined ? { error: state.lastError } : {}),
      notify: rule.notify,
    };
  }
}

// Event subscriptions: a subscriber (a full JID) asks to hear about nodes when a field moves by some amount, at
// least every so often, and never more often than a minimum interval. This core knows no protocol: it watches
// committed readings (the feed the alert engine gets), decides when a subscription is due, and tells its
// listeners, who read the nodes and send the answer in their own dialect (agent/xmpp/nf-events.ts).
//
// The rules follow the successor dialect's reference implementation: each field rule keeps the value the
// subscriber last heard (or gave), and a new value is news when it moved at least `by` either way, `up` upwards
// or `down` downwards from it (with no amount given: any change); the value heard moves only when it was news.
// The intervals time from the last notification. A change within the minimum interval is held and sent when it
// ends; the maximum interval sends a notification even when nothing moved.
//
// The alert engine's changesBy fires once and stays fired until the value comes back; a subscription instead
// moves its reference with every notification, so the two share only the clock seam.
import type { Field, Sample } from "../lib/model.ts";
import { bareJid } from "./authz.ts";
import { monotonicOf, systemClock, type Clock } from "../lib/clock.ts";
import type { ReadoutRequest, ReadoutType } from "./readout.ts";

export const SUBSCRIPTION_LIMITS = {
  perOperator: 16,
  total: 256,
  /** A maximum interval shorter than this would turn a subscription into a flood of readouts. */
  shortestMaxIntervalMs: 1000,
  /** Intervals beyond a week are refused (and a timer could not wait much longer). */
  longestIntervalMs: 7 * 86_400_000,
};

/** When a field's new value is news to the subscriber. */
export interface FieldRule {
  field: string;
  /** The value the subscriber holds now; absent: the first value seen is news. */
  reference?: number | string;
  by?: number;
  up?: number;
  down?: number;
}

export interface SubscriptionSpec {
  /** The subscriber's name for it, unique per subscriber. */
  id: string;
  /** Empty: every node. */
  nodeIds: readonly string[];
  /** The fields whose changes are news; also the fields a notification carries (none: every field). */
  rules: readonly FieldRule[];
  /** The field types a notification carries (empty: every current one). */
  types: ReadonlySet<ReadoutType>;
  minIntervalMs?: number;
  maxIntervalMs?: number;
}

/** A subscription in force, with whatever the face that took it keeps with it (e.g. its namespace). */
export interface Subscription<Tag> {
  readonly subscriber: string;
  readonly spec: SubscriptionSpec;
  readonly tag: Tag;
}

export type AddResult = { ok: true; replaced: boolean } | { ok: false; kind: "unknown-field" | "limit"; text: string };

interface Entry<Tag> extends Subscription<Tag> {
  references: Map<string, number | string | undefined>;
  lastNotified: number;
  /** A change came within the minimum interval: it is sent when the interval ends. */
  held: boolean;
  cancelTimers: (() => void)[];
}

export interface SubscriptionsOptions {
  /** The field names of a node, when known (declared by its driver or seen in a reading); undefined when not. */
  fieldsOf: (nodeId: string) => readonly string[] | undefined;
  clock?: Clock;
}

/** The value a rule compares: a number for quantities and counts, the written form for the rest. */
function comparable(field: Field): number | string {
  return field.type === "numeric" || field.type === "int" ? field.value : String(field.value);
}

/** Whether `value` is news against what the subscriber holds, by the rule's amounts. */
function isNews(rule: FieldRule, held: number | string | undefined, value: number | string): boolean {
  if (held === undefined || typeof held !== typeof value) return true;
  if (typeof held === "string" || typeof value === "string") return held !== value;
  const moved = value - held;
  const { by, up, down } = rule;
  if (by === undefined && up === undefined && down === undefined) return moved !== 0;
  return (by !== undefined && Math.abs(moved) >= by) || (up !== undefined && moved >= up) || (down !== undefined && -moved >= down);
}

/** What a notification reads: the subscribed nodes and fields, current values only. */
export function readoutOf(spec: SubscriptionSpec): ReadoutRequest {
  // History on every event would re-send the archive: a notification carries the values now.
  const types = new Set([...spec.types].filter((type) => type !== "all" && !type.startsWith("historical")));
  return { nodeIds: spec.nodeIds, fieldNames: spec.rules.map((rule) => rule.field), types };
}

export class EventSubscriptions<Tag> {
  private readonly entries = new Map<string, Entry<Tag>>();
  private readonly listeners: ((subscription: Subscription<Tag>) => void)[] = [];
  private readonly clock: Clock;

  constructor(private readonly options: SubscriptionsOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Told each time a subscription is due: the listener reads and sends. */
  onDue(listener: (subscription: Subscription<Tag>) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Takes a subscription; one with the same subscriber and id is replaced. Refused when a rule names a field none
   * of its nodes has, or past the bounds (per operator, counted by bare JID, and in total).
   */
  add(subscriber: string, spec: SubscriptionSpec, tag: Tag): AddResult {
    const unknown = this.unknownFields(spec);
    if (unknown.length > 0) return { ok: false, kind: "unknown-field", text: `no field ${unknown.join(", ")} on ${spec.nodeIds.length > 0 ? spec.nodeIds.join(", ") : "any node"}` };
    const key = keyOf(subscriber, spec.id);
    const replaced = this.entries.has(key);
    if (!replaced) {
      const account = bareJid(subscriber);
      const own = [...this.entries.values()].filter((entry) => bareJid(entry.subscriber) === account).length;
      if (own >= SUBSCRIPTION_LIMITS.perOperator) return { ok: false, kind: "limit", text: `at most ${SUBSCRIPTION_LIMITS.perOperator} event subscriptions per operator; unsubscribe one first` };
      if (this.entries.size >= SUBSCRIPTION_LIMITS.total) return { ok: false, kind: "limit", text: `this gateway takes at most ${SUBSCRIPTION_LIMITS.total} event subscriptions` };
    }
    this.end(key);
    const entry: Entry<Tag> = {
      subscriber,
      spec,
      tag,
      references: new Map(spec.rules.map((rule) => [rule.field, rule.reference])),
      lastNotified: monotonicOf(this.clock),
      held: false,
      cancelTimers: [],
    };
    this.entries.set(key, entry);
    this.armMaxInterval(entry);
    return { ok: true, replaced };
  }

  /** Ends the subscriber's subscription `id`; false when there is none. */
  remove(subscriber: string, id: string): boolean {
    return this.end(keyOf(subscriber, id));
  }

  /** Ends every subscription of one full JID (it went offline); how many ended. */
  removeSubscriber(subscriber: string): number {
    return this.endWhere((entry) => entry.subscriber === subscriber);
  }

  /** Ends every subscription of an account, all its resources (it stopped sharing presence); how many ended. */
  removeAccount(account: string): number {
    const bare = bareJid(account);
    return this.endWhere((entry) => bareJid(entry.subscriber) === bare);
  }

  /** Whether the subscriber's subscription `id` is still in force. */
  has(subscriber: string, id: string): boolean {
    return this.entries.has(keyOf(subscriber, id));
  }

  /** The subscriptions in force, oldest first. */
  list(): Subscription<Tag>[] {
    return [...this.entries.values()].map(({ subscriber, spec, tag }) => ({ subscriber, spec, tag }));
  }

  /** One committed sample. A failed read moves no value; its error shows in the next notification's readout. */
  observe(sample: Sample): void {
    if (sample.error !== undefined) return;
    for (const entry of [...this.entries.values()]) {
      if (entry.spec.nodeIds.length > 0 && !entry.spec.nodeIds.includes(sample.sensorId)) continue;
      let news = false;
      for (const rule of entry.spec.rules) {
        const field = sample.fields.find((candidate) => candidate.name === rule.field);
        if (!field) continue;
        const value = comparable(field);
        if (!isNews(rule, entry.references.get(rule.field), value)) continue;
        // The subscriber will hear this value (now or when the minimum interval ends): rules compare from it.
        entry.references.set(rule.field, value);
        news = true;
      }
      if (news) this.changed(entry);
    }
  }

  stop(): void {
    for (const entry of this.entries.values()) for (const cancel of entry.cancelTimers) cancel();
    this.entries.clear();
  }

  private changed(entry: Entry<Tag>): void {
    if (entry.held) return;
    const { minIntervalMs } = entry.spec;
    const wait = minIntervalMs === undefined ? 0 : entry.lastNotified + minIntervalMs - monotonicOf(this.clock);
    if (wait <= 0) {
      this.notify(entry);
      return;
    }
    entry.held = true;
    entry.cancelTimers.push(this.clock.after(wait, () => this.notify(entry)));
  }

  private notify(entry: Entry<Tag>): void {
    if (this.entries.get(keyOf(entry.subscriber, entry.spec.id)) !== entry) return;
    for (const cancel of entry.cancelTimers) cancel();
    entry.cancelTimers = [];
    entry.held = false;
    entry.lastNotified = monotonicOf(this.clock);
    this.armMaxInterval(entry);
    for (const listener of this.listeners) listener({ subscriber: entry.subscriber, spec: entry.spec, tag: entry.tag });
  }

  private armMaxInterval(entry: Entry<Tag>): void {
    const { maxIntervalMs } = entry.spec;
    if (maxIntervalMs === undefined) return;
    const wait = Math.max(0, entry.lastNotified + maxIntervalMs - monotonicOf(this.clock));
    entry.cancelTimers.push(this.clock.after(wait, () => this.notify(entry)));
  }

  /** Rule fields that none of the subscription's nodes has, among nodes whose fields are known. */
  private unknownFields(spec: SubscriptionSpec): string[] {
    const known = spec.nodeIds.length > 0 ? spec.nodeIds.map((nodeId) => this.options.fieldsOf(nodeId)) : [];
    // Every node's fields must be known to call a field unknown: a sensor not read yet may still have it.
    if (known.length === 0 || known.some((fields) => fields === undefined)) return [];
    const all = new Set(known.flatMap((fields) => fields ?? []));
    return [...new Set(spec.rules.map((rule) => rule.field))].filter((field) => !all.has(field));
  }

  private end(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    for (const cancel of entry.cancelTimers) cancel();
    this.entries.delete(key);
    return true;
  }

  private endWhere(test: (entry: Entry<Tag>) => boolean): number {
    const keys = [...this.entries].filter(([, entry]) => test(entry)).map(([key]) => key);
    for (const key of keys) this.end(key);
    return keys.length;
  }
}

function keyOf(subscriber: string, id: string): string {
  return `${subscriber} ${id}`;
}

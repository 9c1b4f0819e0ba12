// Watches: alert rules an operator sets for themself from chat or ad-hoc (`watch boiler temperature > 30 for 5m`).
// Each is an alert rule of the same engine as the config's `alerts:` (agent/alerts.ts), notifying only its owner.
// Nothing here knows about XMPP.
//
// Decisions:
// - Any operator may watch (the read role is enough); a watch belongs to the bare JID that set it. Watches are kept
//   in the store and outlive a restart. An operator removed from the list keeps their watches in the store but hears
//   nothing (delivery resolves recipients against the operators in force).
// - Conditions: above or below a value (no hysteresis: the rate limit of delivery keeps a value that hovers at
//   the threshold from flooding), or the sensor failing. A value watch says nothing of failures: a failing sensor
//   has no value to compare; `watch SENSOR failing` says that.
// - At most MAX_WATCHES per operator. Operators list and remove their own; an admin lists and removes everyone's.
import type { AlertCondition, AlertRule } from "../alerts.ts";
import { bareJid } from "../authz.ts";

export const MAX_WATCHES = 20;
const RULE_PREFIX = "watch:";

export type WatchCondition = Extract<AlertCondition, { kind: "above" | "below" | "failing" }>;

/** What an operator asks for. */
export interface WatchRequest {
  sensorId: string;
  /** Absent when it watches the sensor failing. */
  field?: string;
  condition: WatchCondition;
  forMs: number;
}

export interface WatchSpec extends Omit<WatchRequest, "condition"> {
  /** Bare JID of the operator who set it. */
  owner: string;
  condition: AlertCondition;
  /** ms since epoch */
  createdAt: number;
}

export interface StoredWatch extends WatchSpec {
  /** What the operator types to unwatch it. */
  id: number;
}

/** Where watches are kept (agent/store.ts's Store fits). */
export interface WatchStore {
  saveWatch(watch: WatchSpec): Promise<number>;
  deleteWatch(id: number): Promise<void>;
  watches(): Promise<StoredWatch[]>;
}

export interface WatchesDeps {
  store: WatchStore;
  /** The configured sensor ids. */
  sensorIds: () => readonly string[];
  /** The field names a sensor has (declared by its driver, or seen in its latest sample); empty when not known yet. */
  fieldsOf: (sensorId: string) => readonly string[];
  /** Told after every change, so the engine takes the new rule set. */
  changed: () => void;
  now?: () => number;
}

export type WatchResult = { ok: true; watch: StoredWatch } | { ok: false; text: string };

export function watchRuleId(id: number): string {
  return `${RULE_PREFIX}${id}`;
}

/** The watch number of an engine rule id, or undefined for a config rule. */
export function watchNumber(ruleId: string): number | undefined {
  return ruleId.startsWith(RULE_PREFIX) ? Number(ruleId.slice(RULE_PREFIX.length)) : undefined;
}

/** A watch as a rule of the engine, notifying its owner only. */
export function watchRule(watch: StoredWatch): AlertRule {
  return {
    id: watchRuleId(watch.id),
    sensorId: watch.sensorId,
    ...(watch.field !== undefined ? { field: watch.field } : {}),
    condition: watch.condition,
    hysteresis: 0,
    forMs: watch.forMs,
    notify: [{ jid: watch.owner }],
  };
}

/** Finds `wanted` as typed, or regardless of case (phones capitalise the first letter). */
function pick(known: readonly string[], wanted: string): string | undefined {
  return known.find((name) => name === wanted) ?? known.find((name) => name.toLowerCase() === wanted.toLowerCase());
}

export class Watches {
  private kept: StoredWatch[] = [];
  /** Changes run one at a time, so two adds cannot both pass the limit. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: WatchesDeps) {}

  /** Takes up the kept watches. */
  async start(): Promise<void> {
    this.kept = await this.deps.store.watches();
    this.deps.changed();
  }

  rules(): AlertRule[] {
    return this.kept.map(watchRule);
  }

  /** The watches of `owner` (a full or bare JID), or every one when undefined; oldest first. */
  list(owner?: string): StoredWatch[] {
    return owner === undefined ? [...this.kept] : this.kept.filter((watch) => watch.owner === bareJid(owner));
  }

  add(requester: string, request: WatchRequest): Promise<WatchResult> {
    return this.serially(async () => {
      const sensors = this.deps.sensorIds();
      const sensorId = pick(sensors, request.sensorId);
      if (sensorId === undefined) return { ok: false, text: `no sensor '${request.sensorId}'. Sensors: ${sensors.join(", ")}` };
      let field: string | undefined;
      if (request.field !== undefined) {
        const fields = this.deps.fieldsOf(sensorId);
        field = fields.length > 0 ? pick(fields, request.field) : request.field;
        if (field === undefined) return { ok: false, text: `${sensorId} has no field '${request.field}'. Its fields: ${fields.join(", ")}` };
      }
      const owner = bareJid(requester);
      if (this.list(owner).length >= MAX_WATCHES) return { ok: false, text: `you have ${MAX_WATCHES} watches, the most one operator may set; unwatch one first` };
      const spec: WatchSpec = {
        owner,
        sensorId,
        ...(field !== undefined ? { field } : {}),
        condition: request.condition,
        forMs: request.forMs,
        createdAt: this.deps.now?.() ?? Date.now(),
      };
      const watch: StoredWatch = { id: await this.deps.store.saveWatch(spec), ...spec };
      this.kept.push(watch);
      this.deps.changed();
      return { ok: true, watch };
    });
  }

  /** Removes watch `id` if `requester` owns it, or any with `anyOwner` (admins). */
  remove(requester: string, id: number, anyOwner: boolean): Promise<WatchResult> {
    return this.serially(async () => {
      const watch = this.kept.find((candidate) => candidate.id === id && (anyOwner || candidate.owner === bareJid(requester)));
      if (!watch) return { ok: false, text: `you have no watch ${id}; send 'watches' for yours` };
      await this.deps.store.deleteWatch(id);
      this.kept = this.kept.filter((candidate) => candidate !== watch);
      this.deps.changed();
      return { ok: true, watch };
    });
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

// The gateway's health, one model for everyone who shows it: XMPP presence (one line and a class, here), the
// chat and ad-hoc `status` (agent/operator/render.ts), systemd's status line, and `xedge status` (agent/cli.ts:
// the running agent's report over its status socket, or the store alone when it does not run): failing sensors,
// the outbox, the last publish, readings dropped by the store's bound, readings the pubsub service refused for good
// (set aside in the store), a damaged store recovered at start, a store that cannot commit (disk full, read-only),
// uptime and the link.
import * as z from "../lib/zod.ts";
import type { StoreStatus } from "./store.ts";
import { age } from "../lib/text.ts";

/** Worst first: a failing sensor needs a person, a backlog usually clears by itself. */
export type HealthClass = "dnd" | "away" | "available";

export interface Health {
  show: HealthClass;
  /** e.g. `2 failing: gps, cellar · 12 sensors · buffer 0 · published 3 s ago` */
  text: string;
}

export interface SensorHealth {
  id: string;
  /** Why its last sample failed; undefined while it works. */
  error?: string;
  failingSince?: Date;
}

export interface HealthFacts {
  sensors: readonly SensorHealth[];
  /** Readings in the outbox (the server has not accepted them yet). */
  buffered: number;
  /** Readings dropped by the store's bound since the store was created. */
  dropped: number;
  /** Readings the pubsub service refused for good (e.g. payload-too-big), kept in the store; absent when none. */
  setAside?: number;
  lastPublished?: Date;
  /** How long the outbox has been non-empty without a publish or a shrink; undefined while it drains. */
  stalledForMs?: number;
  /** A damaged store this start recovered from, in a few words: the SD card needs a person. */
  storeDamage?: string;
  /** The store cannot commit (disk full, read-only), in a few words: a person must free space or fix the card. */
  storeFault?: string;
  /** The wall clock is not trusted yet, in a few words: timestamps of new readings are marked. */
  clockUnsynced?: string;
}

/** The running agent's health at one moment: the facts, its uptime and its link. */
export interface HealthSnapshot extends HealthFacts {
  startedAt: Date;
  online: boolean;
}

export interface HealthThresholds {
  /** An outbox deeper than this counts as buffering (the link is back but the gateway is catching up). */
  awayBuffered: number;
  /** An outbox that has not shrunk for this long counts as not draining. */
  stallMs: number;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = { awayBuffered: 100, stallMs: 30_000 };

export function assessHealth(facts: HealthFacts, now: Date, thresholds: HealthThresholds = DEFAULT_THRESHOLDS): Health {
  const failing = facts.sensors.filter((sensor) => sensor.error !== undefined).map((sensor) => sensor.id);
  const stalled = facts.stalledForMs !== undefined && facts.stalledForMs >= thresholds.stallMs;
  const parts = [
    ...(failing.length > 0 ? [`${failing.length} failing: ${failing.join(", ")}`] : []),
    `${facts.sensors.length} ${facts.sensors.length === 1 ? "sensor" : "sensors"}`,
    `buffer ${facts.buffered}${stalled ? " (not draining)" : ""}`,
    ...(facts.dropped > 0 ? [`${facts.dropped} dropped`] : []),
    ...(facts.setAside ? [`${facts.setAside} set aside`] : []),
    ...(facts.storeDamage ? [facts.storeDamage] : []),
    ...(facts.storeFault ? [facts.storeFault] : []),
    ...(facts.clockUnsynced ? [facts.clockUnsynced] : []),
    facts.lastPublished ? `published ${age(facts.lastPublished, now)}` : "nothing published yet",
  ];
  const show: HealthClass = failing.length > 0 || facts.storeDamage || facts.storeFault ? "dnd" : stalled || facts.buffered > thresholds.awayBuffered ? "away" : "available";
  return { show, text: parts.join(" · ") };
}

/** Where the running agent's health comes from; each is cheap (no store query), so every request may look. */
export interface HealthSources {
  sensors: () => readonly SensorHealth[];
  buffered: () => number;
  dropped: () => number;
  /** Readings set aside because the service refuses them for good; none when absent. */
  setAside?: () => number;
  lastPublished: () => Date | undefined;
  online: () => boolean;
  startedAt: Date;
  /** A damaged store this start recovered from, in a few words; none when absent. */
  storeDamage?: () => string | undefined;
  /** Why the store cannot commit now and what it holds meanwhile, in a few words; none when absent. */
  storeFault?: () => string | undefined;
  /** That the wall clock is not trusted yet, in a few words; none when absent. */
  clockUnsynced?: () => string | undefined;
}

export function snapshotOf(sources: HealthSources): HealthSnapshot {
  const lastPublished = sources.lastPublished();
  const setAside = sources.setAside?.() ?? 0;
  const storeDamage = sources.storeDamage?.();
  const storeFault = sources.storeFault?.();
  const clockUnsynced = sources.clockUnsynced?.();
  return {
    sensors: sources.sensors().map((sensor) => ({
      id: sensor.id,
      ...(sensor.error !== undefined ? { error: sensor.error } : {}),
      ...(sensor.failingSince ? { failingSince: sensor.failingSince } : {}),
    })),
    buffered: sources.buffered(),
    dropped: sources.dropped(),
    ...(setAside > 0 ? { setAside } : {}),
    ...(lastPublished ? { lastPublished } : {}),
    ...(storeDamage ? { storeDamage } : {}),
    ...(storeFault ? { storeFault } : {}),
    ...(clockUnsynced ? { clockUnsynced } : {}),
    startedAt: sources.startedAt,
    online: sources.online(),
  };
}

/** The link's state and since when it has been so (the agent's start until it first changes). */
export interface LinkState {
  online: boolean;
  since: Date;
}

const integer = () => z.number().check(z.int());

/** What the running agent tells `xedge status` over its status socket: JSON, so dates travel as ISO text. */
export const agentReportSchema = z.object({
  pid: integer(),
  version: z.string(),
  startedAt: z.coerce.date(),
  online: z.boolean(),
  linkSince: z.coerce.date(),
  buffered: integer(),
  dropped: integer(),
  setAside: z.optional(integer()),
  storeDamage: z.optional(z.string()),
  storeFault: z.optional(z.string()),
  clockUnsynced: z.optional(z.string()),
  lastPublished: z.optional(z.coerce.date()),
  sensors: z.array(z.object({ id: z.string(), error: z.optional(z.string()), failingSince: z.optional(z.coerce.date()) })),
  health: z.object({ show: z.enum(["dnd", "away", "available"]), text: z.string() }),
  /** The alerts active now, one line each as their messages say them; they live in the running agent only. */
  alerts: z._default(z.array(z.string()), []),
});
export type AgentReport = z.output<typeof agentReportSchema>;

export function reportOf(snapshot: HealthSnapshot, link: LinkState, health: Health, process: { pid: number; version: string }, alerts: string[] = []): AgentReport {
  return {
    pid: process.pid,
    version: process.version,
    startedAt: snapshot.startedAt,
    online: link.online,
    linkSince: link.since,
    buffered: snapshot.buffered,
    dropped: snapshot.dropped,
    ...(snapshot.setAside ? { setAside: snapshot.setAside } : {}),
    ...(snapshot.storeDamage ? { storeDamage: snapshot.storeDamage } : {}),
    ...(snapshot.storeFault ? { storeFault: snapshot.storeFault } : {}),
    ...(snapshot.clockUnsynced ? { clockUnsynced: snapshot.clockUnsynced } : {}),
    ...(snapshot.lastPublished ? { lastPublished: snapshot.lastPublished } : {}),
    sensors: [...snapshot.sensors],
    health,
    alerts,
  };
}

/** systemd's status line: the link, then the health line presence shows, e.g. `online · 3 sensors · buffer 0 · …`. */
export function statusLine(report: Pick<AgentReport, "online" | "health">): string {
  return `${report.online ? "online" : "offline"} · ${report.health.text}`;
}

/** The health a store recorded, for `xedge status` whether or not the agent runs: no uptime, no link. */
export function storedHealth(status: StoreStatus): HealthFacts {
  return {
    sensors: status.sensors.map((sensor) => ({
      id: sensor.sensorId,
      ...(sensor.error !== undefined ? { error: sensor.error } : {}),
      ...(sensor.errorSince ? { failingSince: sensor.errorSince } : {}),
    })),
    buffered: status.unsent,
    dropped: status.dropped,
    ...(status.setAside ? { setAside: status.setAside } : {}),
    ...(status.lastPublished ? { lastPublished: status.lastPublished } : {}),
  };
}

export interface HealthMonitorOptions {
  thresholds?: HealthThresholds;
  /** How often the sources are looked at. */
  checkEveryMs?: number;
  /** Least time between two announcements that change only the text; a change of class is announced at once. */
  textEveryMs?: number;
  /** The wall clock, for the age of the last publish. */
  now?: () => Date;
  /** Milliseconds on a clock that never steps, for how long the outbox stalled and the text was announced: an NTP
   * step of the wall clock must neither raise "not draining" at once nor hold it back. */
  monotonic?: () => number;
}

/**
 * Watches the sources and calls `due` when an announcement is due (without `due` it only answers `current()`,
 * for those who ask rather than announce): at once when the health class changes, at
 * most every `textEveryMs` when only the text does (its "published N s ago" changes every second; a presence
 * broadcast to every operator each second would be a flood). Whoever announces calls `take()` for the health
 * to show, which also records it as announced.
 */
export class HealthMonitor {
  private readonly thresholds: HealthThresholds;
  private readonly textEveryMs: number;
  private readonly now: () => Date;
  private readonly monotonic: () => number;
  private readonly timer: NodeJS.Timeout | undefined;
  private announced: Health | undefined;
  private announcedAt = 0;
  /** Whether the text announced last had a publish in it: the first publish is announced at once. */
  private announcedPublishing = false;
  private lastBuffered = 0;
  private lastPublished: Date | undefined;
  private stalledSince: number | undefined;

  constructor(
    private readonly sources: HealthSources,
    private readonly due: (() => void) | undefined,
    options: HealthMonitorOptions = {},
  ) {
    this.thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
    this.textEveryMs = options.textEveryMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.timer = due ? setInterval(() => this.check(), options.checkEveryMs ?? 1000).unref() : undefined;
  }

  /** The current health, recorded as announced. */
  take(): Health {
    const health = this.current();
    this.announced = health;
    this.announcedAt = this.monotonic();
    this.announcedPublishing = this.lastPublished !== undefined;
    return health;
  }

  current(): Health {
    const buffered = this.sources.buffered();
    const lastPublished = this.sources.lastPublished();
    const setAside = this.sources.setAside?.() ?? 0;
    const storeDamage = this.sources.storeDamage?.();
    const storeFault = this.sources.storeFault?.();
    const clockUnsynced = this.sources.clockUnsynced?.();
    this.track(buffered, lastPublished);
    const facts: HealthFacts = {
      sensors: this.sources.sensors(),
      buffered,
      dropped: this.sources.dropped(),
      ...(setAside > 0 ? { setAside } : {}),
      ...(storeDamage ? { storeDamage } : {}),
      ...(storeFault ? { storeFault } : {}),
      ...(clockUnsynced ? { clockUnsynced } : {}),
      ...(lastPublished ? { lastPublished } : {}),
      ...(this.stalledSince !== undefined ? { stalledForMs: this.monotonic() - this.stalledSince } : {}),
    };
    return assessHealth(facts, this.now(), this.thresholds);
  }

  /** Looks now (the timer does this every `checkEveryMs`). */
  check(): void {
    const health = this.current();
    const last = this.announced;
    if (last === undefined || health.show !== last.show) this.due?.();
    // "nothing published yet" beside values that move would mislead whoever just installed the gateway.
    else if (!this.announcedPublishing && this.lastPublished !== undefined) this.due?.();
    else if (health.text !== last.text && this.monotonic() - this.announcedAt >= this.textEveryMs) this.due?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The outbox stalls when it is not empty and has neither shrunk nor seen a publish since it was last looked at. */
  private track(buffered: number, published: Date | undefined): void {
    const progressed = buffered < this.lastBuffered || published?.getTime() !== this.lastPublished?.getTime();
    if (buffered === 0 || progressed) this.stalledSince = undefined;
    else this.stalledSince ??= this.monotonic();
    this.lastBuffered = buffered;
    this.lastPublished = published;
  }
}

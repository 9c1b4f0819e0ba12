// Alert delivery: each fired or cleared alert becomes one chat message per subscriber, in words. Nothing here
// knows about XMPP: the composition root passes `send` (the chat face's) and tells `linkUp()`.
//
// Decisions:
// - Subscribers are resolved when the message is made, against the operators in force then: a JID names one
//   operator, `{ role }` every operator with at least that role (roles include the ones before them, as in
//   authz). A JID that is no longer an operator gets nothing; nor does a queued message whose recipient left.
// - The engine says each fire and clear once, so nothing repeats while a rule stays fired.
// - Rate limit per recipient: a burst of RATE.burst messages, then one per RATE.everyMs. What comes in between is
//   held and folded into one message ("And 3 more alerts …") sent when the next slot opens; a single held alert
//   goes out as itself. What is held when the agent stops joins the outbox.
// - A message that cannot go now (link down, or older ones still queued) waits in the store's alert outbox and
//   goes out in order when the link is back. The outbox keeps the newest RATE.outboxMax; older ones are dropped
//   and counted in the log.
import { allows, bareJid, type Operator } from "../authz.ts";
import type { AlertEvent, AlertSubscriber } from "../alerts.ts";
import { monotonicOf, systemClock, type Clock } from "../../lib/clock.ts";
import { clockTime, type TimeFormat } from "../../lib/text.ts";
import { errorText, type Logger } from "../log.ts";
import { watchNumber } from "./watches.ts";

export const RATE = { burst: 5, everyMs: 30_000, outboxMax: 200 };
/** Lines a folded message lists before it only counts the rest. */
const FOLDED_LINES = 5;

export interface QueuedAlert {
  id: number;
  /** Bare JID. */
  recipient: string;
  body: string;
  /** ms since epoch */
  queuedAt: number;
}

/** Where messages wait for the link (agent/store.ts's Store fits). */
export interface AlertOutbox {
  /** Returns how many of the oldest were dropped to keep `max`. */
  queueAlert(alert: Omit<QueuedAlert, "id">, max: number): Promise<number>;
  queuedAlerts(): Promise<QueuedAlert[]>;
  deleteQueuedAlert(id: number): Promise<void>;
}

export interface AlertDeliveryDeps {
  /** The operators in force now. */
  operators: () => readonly Operator[];
  /** Sends one chat message; false when it could not go (the link is down). */
  send: (recipient: string, body: string) => Promise<boolean>;
  isOnline: () => boolean;
  outbox: AlertOutbox;
  log: Logger;
  clock?: Clock;
  timeZone?: string;
  rate?: typeof RATE;
}

/** How an alert is named in its message: a config rule by its id, a watch by its number. */
export function alertName(ruleId: string): string {
  const watch = watchNumber(ruleId);
  return watch !== undefined ? `watch ${watch}` : `alert ${ruleId}`;
}

/** "boiler temperature" or, for a failure, "boiler". */
function subject(event: AlertEvent): string {
  return event.field !== undefined ? `${event.sensorId} ${event.field}` : event.sensorId;
}

/**
 * The chat message of one event, e.g. "⚠ boiler temperature 31.20 °C: above 30 °C since 12:03:41 (alert hot)" or
 * "✓ boiler temperature 28.90 °C: no longer above 30 °C since 12:09:12 (alert hot)".
 */
export function alertText(event: AlertEvent, format: TimeFormat): string {
  const since = clockTime(event.since, format);
  const name = alertName(event.ruleId);
  if (event.field === undefined) {
    return event.kind === "fired"
      ? `⚠ ${event.sensorId} is failing since ${since}${event.error !== undefined ? `: ${event.error}` : ""} (${name})`
      : `✓ ${event.sensorId} reads again since ${since} (${name})`;
  }
  const value = event.value !== undefined ? ` ${event.value}` : "";
  return event.kind === "fired"
    ? `⚠ ${subject(event)}${value}: ${event.threshold} since ${since} (${name})`
    : `✓ ${subject(event)}${value}: no longer ${event.threshold} since ${since} (${name})`;
}

/** The active alerts in a few words, for presence: "2 alerts: boiler temperature above 30 °C, cellar failing". */
export function activeAlertsSummary(active: readonly AlertEvent[], shown = 3): string | undefined {
  if (active.length === 0) return undefined;
  const listed = active.slice(0, shown).map((event) => `${subject(event)} ${event.threshold}`);
  const more = active.length > shown ? `, +${active.length - shown} more` : "";
  return `${active.length} alert${active.length === 1 ? "" : "s"}: ${listed.join(", ")}${more}`;
}

/** The bare JIDs `notify` names among `operators`, each once, in the order named. */
export function recipientsOf(notify: readonly AlertSubscriber[], operators: readonly Operator[]): string[] {
  const recipients = new Set<string>();
  for (const subscriber of notify) {
    if ("jid" in subscriber) {
      const jid = bareJid(subscriber.jid);
      if (operators.some((operator) => bareJid(operator.jid) === jid)) recipients.add(jid);
    } else {
      for (const operator of operators) if (allows(operator.role, subscriber.role)) recipients.add(bareJid(operator.jid));
    }
  }
  return [...recipients];
}

interface Allowance {
  tokens: number;
  /** When the tokens were counted, on the monotonic clock. */
  at: number;
  held: string[];
  /** When the first held message came, on the wall clock (the folded message names it). */
  heldSince?: number;
  cancelTimer?: () => void;
}

export class AlertDelivery {
  private readonly clock: Clock;
  private readonly rate: typeof RATE;
  private readonly allowances = new Map<string, Allowance>();
  /** Messages in the store's outbox, so a new one queues behind them rather than overtaking them. */
  private queued = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: AlertDeliveryDeps) {
    this.clock = deps.clock ?? systemClock;
    this.rate = deps.rate ?? RATE;
  }

  /** Takes up what the outbox kept from before a restart; it goes out on the next `linkUp()`. */
  start(): Promise<void> {
    return this.serially(async () => {
      this.queued = (await this.deps.outbox.queuedAlerts()).length;
    });
  }

  /** One event from the engine: a message for each of its subscribers. */
  deliver(event: AlertEvent): void {
    if (this.stopped) return;
    const recipients = recipientsOf(event.notify, this.deps.operators());
    if (recipients.length === 0) {
      this.deps.log.info("nobody to tell of an alert", { alert: event.ruleId, kind: event.kind });
      return;
    }
    const body = alertText(event, this.format());
    for (const recipient of recipients) this.offer(recipient, body);
  }

  /** The link is back: the queued messages go out in order, each forgotten once sent. */
  linkUp(): Promise<void> {
    return this.serially(async () => {
      const queued = await this.deps.outbox.queuedAlerts();
      this.queued = queued.length;
      for (const alert of queued) {
        if (this.stopped) return;
        const stillOperator = this.deps.operators().some((operator) => bareJid(operator.jid) === alert.recipient);
        if (stillOperator && !(await this.deps.send(alert.recipient, alert.body))) return;
        await this.deps.outbox.deleteQueuedAlert(alert.id);
        this.queued -= 1;
      }
    });
  }

  /** Held messages join the queued ones, which stay in the store for the next start. */
  stop(): Promise<void> {
    this.stopped = true;
    for (const [recipient, allowance] of this.allowances) {
      allowance.cancelTimer?.();
      const body = this.heldMessage(allowance);
      if (body !== undefined) void this.serially(() => this.queue(recipient, body)).catch(() => undefined);
    }
    return this.tail.then(() => undefined);
  }

  private format(): TimeFormat {
    return { now: new Date(this.clock.now()), ...(this.deps.timeZone ? { timeZone: this.deps.timeZone } : {}) };
  }

  /** Sends within the recipient's allowance, or holds the message for the next folded one. */
  private offer(recipient: string, body: string): void {
    // The allowance refills on the monotonic clock: a step of the wall clock neither grants nor withholds messages.
    const now = monotonicOf(this.clock);
    const allowance = this.allowances.get(recipient) ?? { tokens: this.rate.burst, at: now, held: [] };
    this.allowances.set(recipient, allowance);
    allowance.tokens = Math.min(this.rate.burst, allowance.tokens + (now - allowance.at) / this.rate.everyMs);
    allowance.at = now;
    if (allowance.held.length === 0 && allowance.tokens >= 1) {
      allowance.tokens -= 1;
      this.transmit(recipient, body);
      return;
    }
    allowance.held.push(body);
    allowance.heldSince ??= this.clock.now();
    allowance.cancelTimer ??= this.clock.after(Math.ceil((1 - allowance.tokens) * this.rate.everyMs), () => this.release(recipient));
  }

  /** The next slot is open: everything held goes out as one message. */
  private release(recipient: string): void {
    const allowance = this.allowances.get(recipient);
    if (!allowance || this.stopped) return;
    const body = this.heldMessage(allowance);
    allowance.cancelTimer = undefined;
    allowance.tokens = 0;
    allowance.at = monotonicOf(this.clock);
    if (body !== undefined) this.transmit(recipient, body);
  }

  /** What is held, as one message (a single alert as itself), and no longer held; undefined when nothing is. */
  private heldMessage(allowance: Allowance): string | undefined {
    const { held, heldSince = this.clock.now() } = allowance;
    allowance.held = [];
    allowance.heldSince = undefined;
    if (held.length <= 1) return held[0];
    return folded(held, clockTime(new Date(heldSince), this.format()));
  }

  private transmit(recipient: string, body: string): void {
    // A failure is logged by serially.
    void this.serially(async () => {
      if (this.queued === 0 && this.deps.isOnline() && (await this.deps.send(recipient, body))) return;
      await this.queue(recipient, body);
    }).catch(() => undefined);
  }

  private async queue(recipient: string, body: string): Promise<void> {
    try {
      const dropped = await this.deps.outbox.queueAlert({ recipient, body, queuedAt: this.clock.now() }, this.rate.outboxMax);
      this.queued += 1 - dropped;
      if (dropped > 0) this.deps.log.warn("alert outbox full: dropped the oldest queued alert messages", { dropped, kept: this.rate.outboxMax });
    } catch (error) {
      this.deps.log.error("queueing an alert message failed", { recipient, error: errorText(error) });
    }
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run);
    this.tail = next.catch((error: unknown) => this.deps.log.error("alert delivery failed", { error: errorText(error) }));
    return next;
  }
}

function folded(held: readonly string[], since: string): string {
  const listed = held.slice(0, FOLDED_LINES);
  const rest = held.length - listed.length;
  return [
    `And ${held.length} more alerts since ${since}, held back by the rate limit:`,
    ...listed,
    ...(rest > 0 ? [`… ${rest} more; send 'status' for the alerts active now.`] : []),
  ].join("\n");
}

// Drains the store's outbox to a publish sink. Per node, readings go out in sequence order; a reading leaves
// the outbox only when the sink resolves, i.e. when the server's iq result arrived, or when the server refuses
// that reading for good: it is then set aside in the store (kept, marked, counted) and the rest carries on.
// Publishes are pipelined within a bounded window. Nothing here knows XMPP: the sink is the XEP-0060 face.
import { EventEmitter } from "node:events";
import type { Reading } from "../lib/model.ts";
import type { Store, StoredReading } from "./store.ts";
import { errorText, type Logger } from "./log.ts";

export interface PublishSink {
  /** Resolves once the server has accepted the reading; rejects with PublishError otherwise. */
  publish(reading: Reading): Promise<void>;
  /** Forget per-session state (such as which nodes are known to exist) after a link loss. */
  reset(): void;
}

export class PublishError extends Error {
  constructor(
    message: string,
    /**
     * "transient": retry in order (link down, server busy). "fatal": retrying soon will not help (e.g.
     * permissions); the operator must act, and everything is retried in order, slowly. "rejected": the service
     * refuses this reading itself for good (e.g. payload too big): sending it again gets the same answer.
     */
    readonly severity: "transient" | "fatal" | "rejected",
  ) {
    super(message);
    this.name = "PublishError";
  }
}

export interface PublisherOptions {
  /** Publishes awaiting their iq result at once. */
  window: number;
  /** Readings loaded from the outbox per page. */
  pageSize?: number;
  /** Delay before retrying after a failed publish; doubles up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

interface Events {
  published: [reading: StoredReading];
  setAside: [reading: StoredReading, reason: string];
}

export class Publisher extends EventEmitter<Events> {
  private queue: StoredReading[] = [];
  private inFlight = 0;
  private lastLoadedId = 0;
  private exhausted = false;
  private loading = false;
  private liveWhileLoading: StoredReading[] = [];
  private active = false;
  /** Bumped on every failure or link change: results of older sends are then not trusted for ordering. */
  private generation = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private lastPublishedAt: Date | undefined;

  constructor(
    private readonly store: Store,
    private readonly sink: PublishSink,
    private readonly options: PublisherOptions,
    private readonly log: Logger,
  ) {
    super();
    this.unsubscribe = store.onCommitted((readings) => this.committed(readings));
  }

  get lastPublished(): Date | undefined {
    return this.lastPublishedAt;
  }

  /** The link is up: drain the outbox from its oldest reading. */
  resume(): void {
    this.active = true;
    this.restart();
  }

  /** The link is down: stop sending; whatever was in flight stays in the outbox. */
  pause(): void {
    this.active = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.queue = [];
    this.inFlight = 0;
    this.sink.reset();
  }

  stop(): void {
    this.pause();
    this.unsubscribe();
  }

  private restart(): void {
    this.generation += 1;
    this.queue = [];
    this.inFlight = 0;
    this.lastLoadedId = 0;
    this.exhausted = false;
    // A load still running for an older generation is discarded when it returns; it must not block this one.
    this.loading = false;
    this.liveWhileLoading = [];
    void this.loadMore();
  }

  private committed(readings: StoredReading[]): void {
    if (!this.active) return;
    if (this.loading) {
      this.liveWhileLoading.push(...readings);
      return;
    }
    if (!this.exhausted) return; // the next page will include them
    this.enqueue(readings);
    this.pump();
  }

  private enqueue(readings: StoredReading[]): void {
    for (const reading of readings) {
      if (reading.id <= this.lastLoadedId) continue;
      this.queue.push(reading);
      this.lastLoadedId = reading.id;
    }
  }

  private async loadMore(): Promise<void> {
    if (this.loading || this.exhausted || !this.active) return;
    this.loading = true;
    const generation = this.generation;
    const pageSize = this.options.pageSize ?? 1000;
    try {
      const page = await this.store.unsent(this.lastLoadedId, pageSize);
      if (generation !== this.generation) return;
      this.enqueue(page);
      this.exhausted = page.length < pageSize;
      if (this.exhausted) this.enqueue(this.liveWhileLoading);
    } catch (error) {
      if (generation === this.generation) {
        const delay = this.nextRetryDelay(false);
        this.log.error("reading the outbox failed", { error: errorText(error), retryInMs: delay });
        this.restartLater(delay);
      }
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.liveWhileLoading = [];
      }
    }
    if (generation === this.generation) this.pump();
  }

  private pump(): void {
    while (this.active && this.inFlight < this.options.window) {
      const reading = this.queue.shift();
      if (!reading) break;
      this.send(reading);
    }
    if (this.active && !this.exhausted && this.queue.length < this.options.window) void this.loadMore();
  }

  private send(reading: StoredReading): void {
    const generation = this.generation;
    this.inFlight += 1;
    this.sink.publish(reading).then(
      () => {
        if (generation !== this.generation) return;
        this.inFlight -= 1;
        this.failures = 0;
        this.store.markPublished(reading.id);
        this.lastPublishedAt = new Date();
        this.emit("published", reading);
        this.pump();
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        if (error instanceof PublishError && error.severity === "rejected") this.setAside(reading, error);
        else this.failed(reading, error);
      },
    );
  }

  /**
   * The service refuses this reading for good. Retrying it would block its sensor's later readings forever, so it
   * leaves the outbox like a published one, but stays in the store marked with the reason; nothing else is
   * resent: the readings in flight after it were not affected by its refusal.
   */
  private setAside(reading: StoredReading, error: PublishError): void {
    this.inFlight -= 1;
    this.store.setAside(reading.id, error.message);
    this.log.error("reading set aside: the pubsub service refuses it for good", { sensor: reading.sensorId, seq: reading.seq, error: error.message });
    this.emit("setAside", reading, error.message);
    this.pump();
  }

  /**
   * A publish failed. Everything not yet acknowledged is sent again from the outbox, in order, after a delay;
   * results of sends made before the failure are ignored so a later reading is never recorded as published
   * ahead of an earlier one on the same node. Re-sent items carry the same ids and overwrite themselves.
   */
  private failed(reading: StoredReading, error: unknown): void {
    const fatal = error instanceof PublishError && error.severity === "fatal";
    const delay = this.nextRetryDelay(fatal);
    const details = { sensor: reading.sensorId, seq: reading.seq, error: errorText(error), retryInMs: delay };
    if (fatal) this.log.error("publish failed", details);
    else this.log.warn("publish failed", details);
    this.restartLater(delay);
  }

  /** Doubles from retryDelayMs up to maxRetryDelayMs with each consecutive failure; ten times longer when fatal. */
  private nextRetryDelay(fatal: boolean): number {
    const base = this.options.retryDelayMs ?? 1000;
    const delay = Math.min(this.options.maxRetryDelayMs ?? 60_000, base * 2 ** Math.min(this.failures, 10)) * (fatal ? 10 : 1);
    this.failures += 1;
    return delay;
  }

  /** Forgets everything in flight and queued, and drains the outbox again from its oldest reading after `delay`. */
  private restartLater(delay: number): void {
    this.generation += 1;
    this.queue = [];
    // The queue no longer holds the rest of the outbox: readings committed before the retry wait for it.
    this.exhausted = false;
    this.inFlight = 0;
    this.sink.reset();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.active) this.restart();
    }, delay);
  }
}

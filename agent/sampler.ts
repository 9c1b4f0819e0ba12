// Samples each sensor at its interval (and at once when an event-driven device signals a change) and appends
// the result to its sink: the store, or while the store cannot open the readings held for it
// (agent/held-before-open.ts). A sensor that fails to open or read is retried with backoff while every other
// sensor carries on; its last error is kept for the faces to report.
import type { Hal } from "../drivers/hal.ts";
import type { SensorDevice, SensorDriver } from "../drivers/driver.ts";
import type { SensorConfig } from "./config.ts";
import type { Field, Reading, Sample } from "../lib/model.ts";
import { shouldKeep } from "./policy.ts";
import { errorText, type Logger } from "./log.ts";

export interface SensorState {
  id: string;
  driver: string;
  /** The error of the last attempt, cleared by the next good reading. */
  error?: string;
  /** When the sensor started failing. */
  failingSince?: Date;
  /** The latest sample, kept or not: the current value. */
  lastSample?: Sample;
  /** The latest kept reading the store numbered (readings held until it opens are numbered at the hand-over). */
  lastReading?: Reading;
}

/** Where the readings kept go, and the sensors' errors: the store, or what holds readings until it opens. */
export interface ReadingSink {
  /** Keeps the sample; returns it as a reading when it got its sequence number now. */
  append(sample: Sample): Reading | undefined;
  /** A sensor failing since `since` (or, without `error`, working again). */
  setSensorError(sensorId: string, error?: string, since?: Date): void;
}

/** Told of every attempt on a sensor (agent/metrics.ts counts them); absent when nobody counts. */
export interface SamplingObserver {
  sampled(sensorId: string): void;
  failed(sensorId: string): void;
}

/** Longest wait between attempts on a failing sensor. */
const MAX_RETRY_MS = 60_000;
/** Consecutive failed reads after which the device is closed and opened again. */
const REOPEN_AFTER_FAILURES = 3;

class SensorLoop {
  private device: SensorDevice | undefined;
  private unwatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pendingTrigger = false;
  private stopped = false;
  private failures = 0;
  /** The last kept reading's fields, and when it was sampled on the monotonic clock (maxSilence must not follow a step of the wall clock). */
  private lastKept: { fields: Field[]; at: number } | undefined;
  readonly state: SensorState;

  constructor(
    private readonly config: SensorConfig,
    private readonly driver: SensorDriver,
    private readonly hal: Hal,
    private readonly sink: () => ReadingSink,
    private readonly log: Logger,
    private readonly observer: SamplingObserver | undefined,
  ) {
    this.state = { id: config.id, driver: config.driver };
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.release();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.sampleNow(), delayMs);
  }

  /** Takes a sample now, unless one is under way (then one more follows it, so no change is missed). */
  private sampleNow(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pendingTrigger = true;
      return;
    }
    clearTimeout(this.timer);
    // Monotonic: a step of the wall clock during a read must not stop sampling for its size.
    const started = performance.now();
    this.running = this.tick().then((ok) => {
      this.running = undefined;
      if (this.pendingTrigger && ok) {
        this.pendingTrigger = false;
        this.sampleNow();
        return;
      }
      this.pendingTrigger = false;
      // Keep the cadence: the next sample is due one interval after this one started; failures back off.
      const delay = ok ? this.config.intervalMs - (performance.now() - started) : this.retryDelay();
      this.schedule(Math.max(0, delay));
    });
  }

  private retryDelay(): number {
    return Math.min(MAX_RETRY_MS, Math.max(this.config.intervalMs, 1000 * 2 ** Math.min(this.failures - 1, 16)));
  }

  /** One sample; false when the device could not be opened or read. */
  private async tick(): Promise<boolean> {
    if (!this.device) {
      try {
        this.device = await this.driver.open(this.hal, this.config.options);
        this.unwatch = this.device.watch?.(() => this.sampleNow());
      } catch (error) {
        this.fail(`cannot open: ${errorText(error)}`);
        return false;
      }
    }
    const timestamp = new Date();
    const sampledAt = performance.now();
    try {
      const fields = await this.device.read();
      if (this.stopped) return true;
      const sample = { sensorId: this.config.id, timestamp, fields };
      this.observer?.sampled(this.config.id);
      this.state.lastSample = sample;
      if (shouldKeep(this.config.report, this.lastKept, fields, sampledAt)) {
        this.state.lastReading = this.sink().append(sample) ?? this.state.lastReading;
        this.lastKept = { fields, at: sampledAt };
      }
      if (this.state.error !== undefined) {
        this.log.info("sensor recovered", { sensor: this.config.id });
        this.sink().setSensorError(this.config.id);
      }
      this.failures = 0;
      this.state.error = undefined;
      this.state.failingSince = undefined;
      return true;
    } catch (error) {
      this.fail(errorText(error));
      // A device that keeps failing may have been unplugged and replugged (a USB serial adapter re-enumerates,
      // a chip loses its configuration): open it afresh on the next attempt.
      if (this.failures >= REOPEN_AFTER_FAILURES) await this.release();
      return false;
    }
  }

  private fail(message: string): void {
    this.failures += 1;
    this.observer?.failed(this.config.id);
    // Log a change of state once, not every failed attempt.
    if (this.state.error !== message) {
      this.log.warn("sensor failed", { sensor: this.config.id, error: message, retryInMs: this.retryDelay() });
    }
    if (this.state.error !== message) this.sink().setSensorError(this.config.id, message, this.state.failingSince ?? new Date());
    this.state.error = message;
    this.state.failingSince ??= new Date();
  }

  private async release(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    await this.device?.close().catch(() => undefined);
    this.device = undefined;
  }
}

export class Sampler {
  private loops: SensorLoop[] = [];
  private started = false;

  constructor(
    sensors: SensorConfig[],
    private readonly drivers: Record<string, SensorDriver>,
    private readonly hal: Hal,
    private sink: ReadingSink,
    private readonly log: Logger,
    private readonly observer?: SamplingObserver,
  ) {
    this.adopt(sensors);
  }

  /** Starts sampling; once started, does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const loop of this.loops) loop.start();
  }

  /** Stops sampling; resolves once reads in progress have finished and devices are closed. */
  async stop(): Promise<void> {
    this.started = false;
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }

  /** From now on the readings and errors go to `sink` (the store, once it opened). */
  sinkTo(sink: ReadingSink): void {
    this.sink = sink;
  }

  /** Stops the sensors with these ids and forgets them; their readings stay in the store and the outbox. */
  async retire(ids: ReadonlySet<string>): Promise<void> {
    const leaving = this.loops.filter((loop) => ids.has(loop.state.id));
    this.loops = this.loops.filter((loop) => !ids.has(loop.state.id));
    await Promise.all(leaving.map((loop) => loop.stop()));
  }

  /**
   * Samples exactly these sensors, in this order: sensors already sampled carry on, new ones start.
   * Sensors that are not listed must have been retired first (stopping them is asynchronous).
   */
  adopt(sensors: readonly SensorConfig[]): void {
    const running = new Map(this.loops.map((loop) => [loop.state.id, loop]));
    const unlisted = [...running.keys()].filter((id) => !sensors.some((sensor) => sensor.id === id));
    if (unlisted.length > 0) throw new Error(`retire sensors before dropping them: ${unlisted.join(", ")}`);
    this.loops = sensors.map((sensor) => {
      const existing = running.get(sensor.id);
      if (existing) return existing;
      const driver = this.drivers[sensor.driver];
      if (!driver) throw new Error(`sensor ${sensor.id}: no driver named ${sensor.driver}`);
      const loop = new SensorLoop(sensor, driver, this.hal, () => this.sink, this.log, this.observer);
      if (this.started) loop.start();
      return loop;
    });
  }

  get states(): SensorState[] {
    return this.loops.map((loop) => loop.state);
  }
}

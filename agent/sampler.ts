// Samples each sensor at its interval and appends the result to the store. A sensor that fails to open or
// read is retried with backoff while every other sensor carries on.
import type { Hal } from "../drivers/hal.ts";
import type { SensorDevice, SensorDriver } from "../drivers/driver.ts";
import type { SensorConfig } from "./config.ts";
import type { Reading } from "./model.ts";
import type { Store } from "./store.ts";
import { errorText, type Logger } from "./log.ts";

export interface SensorState {
  id: string;
  driver: string;
  /** The error of the last attempt, cleared by the next good reading. */
  error?: string;
  lastReading?: Reading;
}

const MAX_OPEN_RETRY_MS = 60_000;

class SensorLoop {
  private device: SensorDevice | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private openFailures = 0;
  readonly state: SensorState;

  constructor(
    private readonly config: SensorConfig,
    private readonly driver: SensorDriver,
    private readonly hal: Hal,
    private readonly store: Store,
    private readonly log: Logger,
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
    await this.device?.close().catch(() => undefined);
    this.device = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.running = this.tick().then((retryInMs) => {
        this.running = undefined;
        // Keep the cadence: the next sample is due one interval after this one started.
        this.schedule(retryInMs ?? Math.max(0, this.config.intervalMs - (Date.now() - started)));
      });
    }, delayMs);
  }

  /** One sample; returns a delay when the device could not be opened and must be retried sooner or later. */
  private async tick(): Promise<number | undefined> {
    if (!this.device) {
      try {
        this.device = await this.driver.open(this.hal, this.config.options);
        this.openFailures = 0;
      } catch (error) {
        const retryInMs = Math.min(MAX_OPEN_RETRY_MS, 1000 * 2 ** this.openFailures);
        this.openFailures += 1;
        this.fail(`cannot open: ${errorText(error)}`, retryInMs);
        return retryInMs;
      }
    }
    const timestamp = new Date();
    try {
      const fields = await this.device.read();
      if (this.stopped) return undefined;
      const reading = this.store.append({ sensorId: this.config.id, timestamp, fields });
      if (this.state.error !== undefined) this.log.info("sensor recovered", { sensor: this.config.id });
      this.state.error = undefined;
      this.state.lastReading = reading;
    } catch (error) {
      this.fail(errorText(error));
    }
    return undefined;
  }

  private fail(message: string, retryInMs?: number): void {
    // Log a change of state once, not every failed sample.
    if (this.state.error !== message) this.log.warn("sensor failed", { sensor: this.config.id, error: message, retryInMs });
    this.state.error = message;
  }
}

export class Sampler {
  private readonly loops: SensorLoop[];

  constructor(sensors: SensorConfig[], drivers: Record<string, SensorDriver>, hal: Hal, store: Store, log: Logger) {
    this.loops = sensors.map((sensor) => {
      const driver = drivers[sensor.driver];
      if (!driver) throw new Error(`sensor ${sensor.id}: no driver named ${sensor.driver}`);
      return new SensorLoop(sensor, driver, hal, store, log);
    });
  }

  start(): void {
    for (const loop of this.loops) loop.start();
  }

  /** Stops sampling; resolves once reads in progress have finished and devices are closed. */
  async stop(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }

  get states(): SensorState[] {
    return this.loops.map((loop) => loop.state);
  }
}

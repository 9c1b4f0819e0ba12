// The agent's counts for monitoring (Prometheus/OpenMetrics), kept only when the config has a `metrics:` block.
// The agent feeds them from the sampler, the store, the publisher, the link, the desk and control; the scrape
// reads the gauges (buffer, link, failing sensors) at that moment. prom-client is loaded here, on demand, so an
// agent without metrics never loads it and its modules pay one skipped optional call per event. Per-sensor series
// exist only for the configured sensors (a reload adds and removes them), so a label can never grow unbounded.
// No protocol here: agent/metrics-endpoint.ts serves the text.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type * as PromClient from "prom-client";
import type { Counter, Gauge, Histogram, OpenMetricsContentType, Registry } from "prom-client";
import type { PublishSink } from "./publisher.ts";

/** Where the endpoint listens: a TCP host and port, or a unix socket. */
export type ListenAddress = { host: string; port: number } | { socket: string };

/** "127.0.0.1:9464", "[::1]:9464" or an absolute unix socket path; a string saying what is wrong otherwise. */
export function parseListenAddress(text: string): ListenAddress | string {
  if (text.startsWith("/")) return { socket: text };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) return `expected host:port (e.g. 127.0.0.1:9464, [::1]:9464) or an absolute unix socket path, got ${JSON.stringify(text)}`;
  return { host: match[1] ?? match[2] ?? "", port };
}

export function describeListen(listen: ListenAddress): string {
  return "socket" in listen ? listen.socket : `${listen.host.includes(":") ? `[${listen.host}]` : listen.host}:${listen.port}`;
}

/** What the scrape reads from the running agent, each cheap (no store query). */
export interface MetricsGauges {
  buffered: () => number;
  online: () => boolean;
  /** The sensors whose last attempt failed. */
  failing: () => readonly string[];
  /** Readings held in memory, waiting for a commit (all new ones while the store cannot commit). */
  held: () => number;
  /** Whether the wall clock is trusted (agent/clock-watch.ts); no such gauge when absent. */
  clockSynchronized?: () => boolean;
}

/**
 * How often the event loop's delay is sampled. prom-client's default set samples every 10 ms and observes every
 * garbage collection, which cost about a point of a core's CPU on a 20-sensor gateway (docs/benchmarks.md); this
 * is the same measure, ten times less often, and nothing else of that set.
 */
const EVENT_LOOP_RESOLUTION_MS = 100;

/** Seconds; a publish's iq round trip on a LAN is milliseconds, over a cellular link up to seconds. */
const ROUND_TRIP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class AgentMetrics {
  readonly contentType: string;
  private sensors = new Set<string>();
  private readonly perSensor: Counter<"sensor">[];
  private readonly sampledTotal: Counter<"sensor">;
  private readonly committedTotal: Counter<"sensor">;
  private readonly publishedTotal: Counter<"sensor">;
  private readonly droppedTotal: Counter<"sensor">;
  private readonly lostTotal: Counter<"sensor">;
  private readonly failuresTotal: Counter<"sensor">;
  private readonly failingGauge: Gauge<"sensor">;
  private readonly reconnectsTotal: Counter;
  private readonly readoutsTotal: Counter;
  private readonly controlTotal: Counter<"result">;
  private readonly storeRecoveriesTotal: Counter;
  private readonly clockJumpsTotal: Counter<"direction">;
  private readonly roundTrip: Histogram;
  private onlineBefore = false;
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });

  private constructor(
    client: typeof PromClient,
    private readonly registry: Registry<OpenMetricsContentType>,
    sensorIds: readonly string[],
    gauges: MetricsGauges,
  ) {
    const registers = [registry];
    const perSensor = (name: string, help: string) => new client.Counter({ name, help, labelNames: ["sensor"] as const, registers });
    this.sampledTotal = perSensor("xedge_readings_sampled_total", "Samples read from the sensor's device, kept or not.");
    this.committedTotal = perSensor("xedge_readings_committed_total", "Readings committed to the store (kept by the report policy).");
    this.publishedTotal = perSensor("xedge_readings_published_total", "Readings the pubsub service acknowledged.");
    this.droppedTotal = perSensor("xedge_readings_dropped_total", "Unsent readings the store's bound (store.maxReadings) deleted.");
    this.lostTotal = perSensor(
      "xedge_readings_lost_unwritable_total",
      "Readings lost because the store could not commit them (disk full, read-only) and the bound on those held in memory was reached.",
    );
    this.failuresTotal = perSensor("xedge_sensor_failures_total", "Failed attempts to open or read the sensor's device.");
    this.perSensor = [this.sampledTotal, this.committedTotal, this.publishedTotal, this.droppedTotal, this.lostTotal, this.failuresTotal];
    const failingGauge = new client.Gauge({
      name: "xedge_sensor_failing",
      help: "1 while the sensor's last attempt failed, else 0.",
      labelNames: ["sensor"] as const,
      registers,
      collect: () => {
        const failing = new Set(gauges.failing());
        for (const sensor of this.sensors) failingGauge.set({ sensor }, failing.has(sensor) ? 1 : 0);
      },
    });
    this.failingGauge = failingGauge;
    new client.Gauge({
      name: "xedge_buffered_readings",
      help: "Readings in the outbox: committed, not yet acknowledged by the pubsub service.",
      registers,
      collect() {
        this.set(gauges.buffered());
      },
    });
    new client.Gauge({
      name: "xedge_readings_held",
      help: "Readings held in memory, waiting for a commit: all new ones while the store cannot commit (disk full, read-only).",
      registers,
      collect() {
        this.set(gauges.held());
      },
    });
    new client.Gauge({
      name: "xedge_connected",
      help: "1 while the XMPP link is online, else 0.",
      registers,
      collect() {
        this.set(gauges.online() ? 1 : 0);
      },
    });
    this.reconnectsTotal = new client.Counter({ name: "xedge_reconnects_total", help: "Times the XMPP link came back online after it was lost.", registers });
    this.readoutsTotal = new client.Counter({ name: "xedge_readouts_served_total", help: "Readouts answered to operators (XEP-0323, urn:nf:iot, chat, ad-hoc).", registers });
    this.storeRecoveriesTotal = new client.Counter({
      name: "xedge_store_recoveries_total",
      help: "Damaged stores found at start, kept aside and replaced by what could be read of them (0 or 1 per start).",
      registers,
    });
    const clockSynchronized = gauges.clockSynchronized;
    if (clockSynchronized) {
      new client.Gauge({
        name: "xedge_clock_synchronized",
        help: "1 once the wall clock is trusted (synchronized by NTP), else 0: readings taken meanwhile are marked.",
        registers,
        collect() {
          this.set(clockSynchronized() ? 1 : 0);
        },
      });
    }
    this.clockJumpsTotal = new client.Counter({
      name: "xedge_clock_jumps_total",
      help: "Steps of the wall clock against the monotonic clock (NTP at boot, a clock set by hand), by direction.",
      labelNames: ["direction"] as const,
      registers,
    });
    this.controlTotal = new client.Counter({
      name: "xedge_control_requests_total",
      help: "Control requests by result: ok, or why they were refused.",
      labelNames: ["result"] as const,
      registers,
    });
    this.roundTrip = new client.Histogram({
      name: "xedge_publish_round_trip_seconds",
      help: "From sending a publish to the pubsub service's iq result.",
      buckets: ROUND_TRIP_BUCKETS,
      registers,
    });
    // The process's own figures, under the names prom-client's default set gives them, so dashboards find them.
    const processGauge = (name: string, help: string, value: () => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    processGauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => process.memoryUsage.rss());
    processGauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", () => process.memoryUsage().heapUsed);
    processGauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", () => process.memoryUsage().heapTotal);
    // The delays since the last scrape; the scrape after the p99's starts a new period.
    processGauge("nodejs_eventloop_lag_max_seconds", "The longest event-loop delay since the last scrape.", () => (this.loopDelay.count > 0 ? this.loopDelay.max / 1e9 : 0));
    processGauge("nodejs_eventloop_lag_p99_seconds", "The 99th percentile event-loop delay since the last scrape.", () => {
      const p99 = this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e9 : 0;
      this.loopDelay.reset();
      return p99;
    });
    this.loopDelay.enable();
    this.contentType = registry.contentType;
    this.adoptSensors(sensorIds);
  }

  /** Loads prom-client (only now) and sets up the counts for these sensors. */
  static async create(sensorIds: readonly string[], gauges: MetricsGauges): Promise<AgentMetrics> {
    const client = await import("prom-client");
    const registry = new client.Registry<OpenMetricsContentType>();
    registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    return new AgentMetrics(client, registry, sensorIds, gauges);
  }

  /** Per-sensor series for exactly these sensors (a reloaded config): new ones start at 0, removed ones go. */
  adoptSensors(sensorIds: readonly string[]): void {
    const next = new Set(sensorIds);
    for (const sensor of this.sensors) {
      if (next.has(sensor)) continue;
      for (const counter of this.perSensor) counter.remove({ sensor });
      this.failingGauge.remove({ sensor });
    }
    for (const sensor of next) if (!this.sensors.has(sensor)) for (const counter of this.perSensor) counter.inc({ sensor }, 0);
    this.sensors = next;
  }

  sampled(sensorId: string): void {
    this.count(this.sampledTotal, sensorId, 1);
  }

  failed(sensorId: string): void {
    this.count(this.failuresTotal, sensorId, 1);
  }

  committed(readings: readonly { sensorId: string }[]): void {
    for (const reading of readings) this.count(this.committedTotal, reading.sensorId, 1);
  }

  published(sensorId: string): void {
    this.count(this.publishedTotal, sensorId, 1);
  }

  dropped(bySensor: ReadonlyMap<string, number>): void {
    for (const [sensorId, count] of bySensor) this.count(this.droppedTotal, sensorId, count);
  }

  /** Held readings the store could not commit, dropped past their bound. */
  lostUnwritable(bySensor: ReadonlyMap<string, number>): void {
    for (const [sensorId, count] of bySensor) this.count(this.lostTotal, sensorId, count);
  }

  /** The link came online; every time after the first is a reconnect. */
  online(): void {
    if (this.onlineBefore) this.reconnectsTotal.inc();
    this.onlineBefore = true;
  }

  /** The store was found damaged at this start and recovered. */
  storeRecovered(): void {
    this.storeRecoveriesTotal.inc();
  }

  /** The wall clock stepped forward or backward. */
  clockJumped(direction: "forward" | "backward"): void {
    this.clockJumpsTotal.inc({ direction });
  }

  readoutServed(): void {
    this.readoutsTotal.inc();
  }

  control(result: string): void {
    this.controlTotal.inc({ result });
  }

  /** The same sink, timing each publish from send to the service's acknowledgement. */
  timed(sink: PublishSink): PublishSink {
    return {
      publish: async (reading) => {
        const started = performance.now();
        await sink.publish(reading);
        this.roundTrip.observe((performance.now() - started) / 1000);
      },
      reset: () => sink.reset(),
    };
  }

  /** The OpenMetrics text, ending in `# EOF`. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops sampling the event loop. */
  close(): void {
    this.loopDelay.disable();
    this.registry.clear();
  }

  /** Readings of a sensor no longer configured (still draining from the outbox) are not counted. */
  private count(counter: Counter<"sensor">, sensor: string, by: number): void {
    if (this.sensors.has(sensor)) counter.inc({ sensor }, by);
  }
}

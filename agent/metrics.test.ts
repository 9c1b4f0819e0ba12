// The agent's counts and their OpenMetrics text, read back by sample name and labels.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { AgentMetrics, describeListen, parseListenAddress, type MetricsGauges } from "./metrics.ts";
import type { Reading } from "../lib/model.ts";

/** The value of the sample line `name{labels}` in an exposition; undefined when there is no such line. */
function valueOf(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const reading = (sensorId: string): Reading => ({ sensorId, seq: 1, timestamp: new Date(), fields: [] });

describe("AgentMetrics", () => {
  let metrics: AgentMetrics | undefined;
  const gauges: MetricsGauges = { buffered: () => 7, online: () => true, failing: () => ["gps"], held: () => 0 };
  const open = async (sensorIds: string[], with_: Partial<MetricsGauges> = {}) => (metrics = await AgentMetrics.create(sensorIds, { ...gauges, ...with_ }));
  afterEach(() => metrics?.close());

  it("counts readings per configured sensor, each starting at 0, and ignores sensors not configured", async () => {
    const counts = await open(["boiler", "gps"]);
    counts.sampled("boiler");
    counts.sampled("boiler");
    counts.committed([reading("boiler"), reading("gps"), reading("gone")]);
    counts.published("boiler");
    counts.dropped(new Map([["gps", 3], ["gone", 5]]));
    counts.lostUnwritable(new Map([["boiler", 4], ["gone", 2]]));
    counts.failed("gps");
    counts.sampled("gone");
    const text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_readings_sampled_total", 'sensor="boiler"'), 2);
    assert.equal(valueOf(text, "xedge_readings_sampled_total", 'sensor="gps"'), 0);
    assert.equal(valueOf(text, "xedge_readings_committed_total", 'sensor="boiler"'), 1);
    assert.equal(valueOf(text, "xedge_readings_committed_total", 'sensor="gps"'), 1);
    assert.equal(valueOf(text, "xedge_readings_published_total", 'sensor="boiler"'), 1);
    assert.equal(valueOf(text, "xedge_readings_dropped_total", 'sensor="gps"'), 3);
    assert.equal(valueOf(text, "xedge_readings_lost_unwritable_total", 'sensor="boiler"'), 4);
    assert.equal(valueOf(text, "xedge_readings_lost_unwritable_total", 'sensor="gps"'), 0);
    assert.equal(valueOf(text, "xedge_sensor_failures_total", 'sensor="gps"'), 1);
    assert.doesNotMatch(text, /sensor="gone"/);
  });

  it("reads the buffer, the held readings, the link and the failing sensors at the scrape", async () => {
    let buffered = 7;
    let online = true;
    let held = 12;
    const counts = await open(["boiler", "gps"], { buffered: () => buffered, online: () => online, held: () => held });
    let text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_buffered_readings"), 7);
    assert.equal(valueOf(text, "xedge_readings_held"), 12);
    assert.equal(valueOf(text, "xedge_connected"), 1);
    assert.equal(valueOf(text, "xedge_sensor_failing", 'sensor="gps"'), 1);
    assert.equal(valueOf(text, "xedge_sensor_failing", 'sensor="boiler"'), 0);
    buffered = 0;
    online = false;
    held = 0;
    text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_buffered_readings"), 0);
    assert.equal(valueOf(text, "xedge_readings_held"), 0);
    assert.equal(valueOf(text, "xedge_connected"), 0);
  });

  it("a reloaded sensor list adds series at 0 and removes the series of sensors that left", async () => {
    const counts = await open(["boiler", "gps"]);
    counts.published("boiler");
    counts.published("gps");
    counts.adoptSensors(["boiler", "cellar"]);
    const text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_readings_published_total", 'sensor="boiler"'), 1, "a sensor that stays keeps its count");
    assert.equal(valueOf(text, "xedge_readings_published_total", 'sensor="cellar"'), 0);
    assert.doesNotMatch(text, /sensor="gps"/);
  });

  it("counts reconnects (not the first connection), readouts, and control requests by result", async () => {
    const counts = await open([]);
    counts.online();
    let text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_reconnects_total"), 0);
    counts.online();
    counts.online();
    counts.readoutServed();
    counts.control("ok");
    counts.control("ok");
    counts.control("forbidden");
    text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_reconnects_total"), 2);
    assert.equal(valueOf(text, "xedge_readouts_served_total"), 1);
    assert.equal(valueOf(text, "xedge_control_requests_total", 'result="ok"'), 2);
    assert.equal(valueOf(text, "xedge_control_requests_total", 'result="forbidden"'), 1);
  });

  it("counts a store recovered at start: 0 without one, 1 with", async () => {
    const counts = await open([]);
    assert.equal(valueOf(await counts.exposition(), "xedge_store_recoveries_total"), 0);
    counts.storeRecovered();
    assert.equal(valueOf(await counts.exposition(), "xedge_store_recoveries_total"), 1);
  });

  it("says whether the clock is synchronized at the scrape, and counts its jumps by direction", async () => {
    let synchronized = false;
    const counts = await open([], { clockSynchronized: () => synchronized });
    let text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_clock_synchronized"), 0);
    assert.equal(valueOf(text, "xedge_clock_jumps_total", 'direction="forward"'), undefined, "no series before a jump");
    synchronized = true;
    counts.clockJumped("forward");
    counts.clockJumped("backward");
    counts.clockJumped("forward");
    text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_clock_synchronized"), 1);
    assert.equal(valueOf(text, "xedge_clock_jumps_total", 'direction="forward"'), 2);
    assert.equal(valueOf(text, "xedge_clock_jumps_total", 'direction="backward"'), 1);
  });

  it("times each acknowledged publish through the sink, and passes failures and resets through", async () => {
    const counts = await open(["boiler"]);
    let resets = 0;
    let fail = false;
    const sink = counts.timed({
      publish: () => (fail ? Promise.reject(new Error("item-not-found")) : new Promise<void>((resolve) => setTimeout(resolve, 20))),
      reset: () => (resets += 1),
    });
    await sink.publish(reading("boiler"));
    fail = true;
    await assert.rejects(sink.publish(reading("boiler")), /item-not-found/);
    sink.reset();
    const text = await counts.exposition();
    assert.equal(valueOf(text, "xedge_publish_round_trip_seconds_count"), 1, "only the acknowledged publish is timed");
    assert.ok((valueOf(text, "xedge_publish_round_trip_seconds_sum") ?? 0) >= 0.015);
    assert.equal(valueOf(text, "xedge_publish_round_trip_seconds_bucket", 'le="0.005"'), 0);
    assert.equal(valueOf(text, "xedge_publish_round_trip_seconds_bucket", 'le="+Inf"'), 1);
    assert.equal(resets, 1);
  });

  it("speaks OpenMetrics: its content type, the process's memory, and # EOF at the end", async () => {
    const counts = await open([]);
    assert.match(counts.contentType, /^application\/openmetrics-text; version=1\.0\.0/);
    const text = await counts.exposition();
    assert.ok((valueOf(text, "process_resident_memory_bytes") ?? 0) > 0);
    assert.ok((valueOf(text, "nodejs_heap_size_used_bytes") ?? 0) > 0);
    assert.match(text, /\n# EOF\n$/);
  });

  it("reports the event loop's delay since the previous scrape", async () => {
    const counts = await open([]);
    await counts.exposition();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const blockedUntil = Date.now() + 500;
    while (Date.now() < blockedUntil); // the event loop stalls for 500 ms
    await new Promise((resolve) => setTimeout(resolve, 250));
    const stalled = await counts.exposition();
    assert.ok((valueOf(stalled, "nodejs_eventloop_lag_max_seconds") ?? 0) >= 0.3, stalled);
    assert.ok((valueOf(stalled, "nodejs_eventloop_lag_p99_seconds") ?? 0) >= 0.3);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const calm = await counts.exposition();
    assert.ok((valueOf(calm, "nodejs_eventloop_lag_max_seconds") ?? 1) < 0.3, "a new period after each scrape");
  });
});

describe("parseListenAddress", () => {
  it("takes host:port, [ipv6]:port and absolute unix socket paths", () => {
    assert.deepEqual(parseListenAddress("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
    assert.deepEqual(parseListenAddress("localhost:9464"), { host: "localhost", port: 9464 });
    assert.deepEqual(parseListenAddress("[::1]:9464"), { host: "::1", port: 9464 });
    assert.deepEqual(parseListenAddress("/run/xedge/metrics.sock"), { socket: "/run/xedge/metrics.sock" });
    assert.equal(describeListen({ host: "::1", port: 9464 }), "[::1]:9464");
  });

  it("says what is valid for anything else", () => {
    for (const text of ["9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "metrics.sock", "::1:9464", ""]) {
      const parsed = parseListenAddress(text);
      assert.ok(typeof parsed === "string" && parsed.startsWith("expected host:port"), text);
    }
  });
});

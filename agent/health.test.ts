import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentReportSchema, assessHealth, HealthMonitor, reportOf, snapshotOf, statusLine, storedHealth, type HealthSources } from "./health.ts";

const now = new Date("2025-01-05T10:00:00Z");
const secondsAgo = (seconds: number) => new Date(now.getTime() - seconds * 1000);
const sensors = (ids: string[], failing: string[] = []) => ids.map((id) => (failing.includes(id) ? { id, error: "bme280 read: EIO" } : { id }));

describe("assessHealth", () => {
  it("is available with sensors, buffer and last publish in the text", () => {
    assert.deepEqual(assessHealth({ sensors: sensors(["boiler", "gps"]), buffered: 0, dropped: 0, lastPublished: secondsAgo(3) }, now), {
      show: "available",
      text: "2 sensors · buffer 0 · published 3 s ago",
    });
  });

  it("is dnd after a damaged store was recovered at start, saying so", () => {
    const health = assessHealth({ sensors: sensors(["boiler"]), buffered: 0, dropped: 0, storeDamage: "store damaged at start: 12 readings recovered, kept as x.db.damaged-1" }, now);
    assert.deepEqual(health, { show: "dnd", text: "1 sensor · buffer 0 · store damaged at start: 12 readings recovered, kept as x.db.damaged-1 · nothing published yet" });
  });

  it("is dnd while the store cannot commit, saying why and what it holds", () => {
    const health = assessHealth({ sensors: sensors(["boiler"]), buffered: 40, dropped: 0, storeFault: "disk full on /var/lib: 40 readings held in memory, 3 lost", lastPublished: secondsAgo(2) }, now);
    assert.deepEqual(health, { show: "dnd", text: "1 sensor · buffer 40 · disk full on /var/lib: 40 readings held in memory, 3 lost · published 2 s ago" });
  });

  it("says that the clock is not synchronized, without changing the class: sampling and publishing go on", () => {
    const health = assessHealth({ sensors: sensors(["boiler"]), buffered: 0, dropped: 0, clockUnsynced: "clock not synchronized", lastPublished: secondsAgo(2) }, now);
    assert.deepEqual(health, { show: "available", text: "1 sensor · buffer 0 · clock not synchronized · published 2 s ago" });
  });

  it("is dnd with failing sensors, naming them", () => {
    const health = assessHealth({ sensors: sensors(["boiler", "gps", "cellar"], ["gps", "cellar"]), buffered: 0, dropped: 0 }, now);
    assert.deepEqual(health, { show: "dnd", text: "2 failing: gps, cellar · 3 sensors · buffer 0 · nothing published yet" });
  });

  it("is away while buffering beyond the threshold or when the outbox is not draining", () => {
    const facts = { sensors: sensors(["boiler"]), dropped: 0, lastPublished: secondsAgo(90) };
    assert.equal(assessHealth({ ...facts, buffered: 101 }, now).show, "away");
    assert.equal(assessHealth({ ...facts, buffered: 100 }, now).show, "available");
    const stalled = assessHealth({ ...facts, buffered: 5, stalledForMs: 30_000 }, now);
    assert.deepEqual(stalled, { show: "away", text: "1 sensor · buffer 5 (not draining) · published 90 s ago" });
    assert.equal(assessHealth({ ...facts, buffered: 5, stalledForMs: 29_999 }, now).show, "available");
  });

  it("reports readings dropped by the store's bound", () => {
    assert.match(assessHealth({ sensors: sensors(["boiler"]), buffered: 0, dropped: 37 }, now).text, / · 37 dropped · /);
  });

  it("reports readings the pubsub service refused for good, without changing the class", () => {
    const health = assessHealth({ sensors: sensors(["boiler"]), buffered: 0, dropped: 0, setAside: 2, lastPublished: secondsAgo(3) }, now);
    assert.deepEqual(health, { show: "available", text: "1 sensor · buffer 0 · 2 set aside · published 3 s ago" });
  });
});

describe("HealthMonitor", () => {
  function harness() {
    let clock = now.getTime();
    let monotonic = 0;
    const state = { failing: [] as string[], buffered: 0, lastPublished: undefined as Date | undefined };
    const sources: HealthSources = {
      sensors: () => sensors(["boiler", "gps"], state.failing),
      buffered: () => state.buffered,
      dropped: () => 0,
      lastPublished: () => state.lastPublished,
      online: () => true,
      startedAt: now,
    };
    let dueCalls = 0;
    const monitor = new HealthMonitor(sources, () => (dueCalls += 1), { now: () => new Date(clock), monotonic: () => monotonic, checkEveryMs: 3_600_000, textEveryMs: 60_000 });
    return {
      monitor,
      state,
      advance: (ms: number) => {
        clock += ms;
        monotonic += ms;
      },
      /** NTP steps the wall clock; the monotonic clock does not move. */
      stepWallClock: (ms: number) => (clock += ms),
      due: () => dueCalls,
    };
  }

  it("asks at once for a class change, and at most once a minute for a text-only change", () => {
    const { monitor, state, advance, due } = harness();
    try {
      monitor.check();
      assert.equal(due(), 1, "nothing announced yet");
      state.lastPublished = new Date(now.getTime());
      monitor.take();
      advance(1000);
      monitor.check();
      assert.equal(due(), 1, "text changed, but a second after the last announcement");
      state.failing = ["gps"];
      monitor.check();
      assert.equal(due(), 2, "dnd at once");
      assert.equal(monitor.take().show, "dnd");
      state.failing = [];
      advance(1000);
      monitor.check();
      assert.equal(due(), 3, "available again at once");
      monitor.take();
      advance(59_000);
      monitor.check();
      assert.equal(due(), 3);
      advance(1000);
      monitor.check();
      assert.equal(due(), 4, "the text a minute later");
    } finally {
      monitor.stop();
    }
  });

  it("asks at once for the first publish, so that \"nothing published yet\" does not stay up to a minute", () => {
    const { monitor, state, advance, due } = harness();
    try {
      monitor.check();
      monitor.take();
      assert.match(monitor.current().text, /nothing published yet/);
      advance(1000);
      monitor.check();
      assert.equal(due(), 1, "nothing new");
      state.lastPublished = new Date(now.getTime() + 1000);
      monitor.check();
      assert.equal(due(), 2, "the first publish at once");
      assert.match(monitor.take().text, /published just now/);
      state.lastPublished = new Date(now.getTime() + 2000);
      advance(1000);
      monitor.check();
      assert.equal(due(), 2, "later publishes wait for the minute");
    } finally {
      monitor.stop();
    }
  });

  it("sees an outbox that neither shrinks nor publishes as stalled after the threshold", () => {
    const { monitor, state, advance } = harness();
    try {
      state.buffered = 3;
      monitor.check();
      advance(29_000);
      assert.equal(monitor.current().show, "available");
      advance(1000);
      assert.equal(monitor.current().show, "away");
      state.buffered = 2;
      assert.equal(monitor.current().show, "available", "it shrank: draining");
    } finally {
      monitor.stop();
    }
  });

  it("measures a stall and the text's pace on a clock that does not step when NTP sets the wall clock", () => {
    const { monitor, state, advance, stepWallClock, due } = harness();
    try {
      state.buffered = 3;
      state.lastPublished = new Date(now.getTime());
      monitor.check();
      monitor.take();
      stepWallClock(3_600_000);
      assert.equal(monitor.current().show, "available", "an hour's step forward is not an hour without draining");
      monitor.check();
      assert.equal(due(), 1, "nor a minute since the last announcement, though the text's age moved");
      stepWallClock(-7_200_000);
      advance(30_000);
      assert.equal(monitor.current().show, "away", "a step back does not hold back 30 s without draining");
    } finally {
      monitor.stop();
    }
  });
});

describe("one health model", () => {
  it("takes the running agent's snapshot from its sources, keeping only what health shows of a sensor", () => {
    const failingSince = secondsAgo(60);
    const states = [
      { id: "boiler", driver: "bme280" },
      { id: "gps", driver: "gps", error: "no fix", failingSince },
    ];
    const snapshot = snapshotOf({
      sensors: () => states,
      buffered: () => 4,
      dropped: () => 1,
      lastPublished: () => undefined,
      online: () => false,
      startedAt: now,
    });
    assert.deepEqual(snapshot, { sensors: [{ id: "boiler" }, { id: "gps", error: "no fix", failingSince }], buffered: 4, dropped: 1, startedAt: now, online: false });
  });

  it("reads the same facts from a store's status for `xedge status`", () => {
    const errorSince = secondsAgo(10);
    const health = storedHealth({
      unsent: 7,
      dropped: 2,
      lastPublished: secondsAgo(5),
      sensors: [
        { sensorId: "boiler", lastSeq: 3 },
        { sensorId: "gps", lastSeq: 0, error: "no fix", errorSince },
      ],
    });
    assert.deepEqual(health, { sensors: [{ id: "boiler" }, { id: "gps", error: "no fix", failingSince: errorSince }], buffered: 7, dropped: 2, lastPublished: secondsAgo(5) });
    assert.equal(assessHealth(health, now).text, "1 failing: gps · 2 sensors · buffer 7 · 2 dropped · published 5 s ago");
  });

  it("carries the set-aside count from the sources and from a store's status", () => {
    const sources = { sensors: () => [], buffered: () => 0, dropped: () => 0, setAside: () => 3, lastPublished: () => undefined, online: () => true, startedAt: now };
    assert.equal(snapshotOf(sources).setAside, 3);
    assert.equal(storedHealth({ unsent: 0, dropped: 0, setAside: 3, sensors: [] }).setAside, 3);
  });

  it("reports it to `xedge status` through JSON and back, with the link and since when", () => {
    const sources = { sensors: () => [{ id: "gps", driver: "nmea", error: "no fix", failingSince: secondsAgo(9) }], buffered: () => 2, dropped: () => 0, setAside: () => 3, lastPublished: () => secondsAgo(1), online: () => true, startedAt: secondsAgo(60) };
    const health = assessHealth(snapshotOf(sources), now);
    const report = reportOf(snapshotOf(sources), { online: true, since: secondsAgo(30) }, health, { pid: 4242, version: "9.9.9" });
    assert.deepEqual(agentReportSchema.parse(JSON.parse(JSON.stringify(report))), report);
    assert.deepEqual([report.setAside, report.linkSince, report.sensors[0]?.error], [3, secondsAgo(30), "no fix"]);
    assert.equal(statusLine(report), "online · 1 failing: gps · 1 sensor · buffer 2 · 3 set aside · published 1 s ago");
  });

  it("carries the active alerts' lines, and reads a report from an agent that sent none as no alerts", () => {
    const sources = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: secondsAgo(60) };
    const health = assessHealth(snapshotOf(sources), now);
    const alerts = ["⚠ tank rail 102.5 V: above 80 V since 12:00:01 (alert rail-high)"];
    const report = reportOf(snapshotOf(sources), { online: true, since: secondsAgo(30) }, health, { pid: 1, version: "9.9.9" }, alerts);
    assert.deepEqual(agentReportSchema.parse(JSON.parse(JSON.stringify(report))).alerts, alerts);
    const { alerts: _left, ...older } = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    assert.deepEqual(agentReportSchema.parse(older).alerts, []);
  });
});

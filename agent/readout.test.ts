// The readout core: current values, actuator state, failures per node, stored history and its aggregation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ActuatorDevice } from "../drivers/driver.ts";
import type { ActuatorEntry } from "./actuators.ts";
import type { Field } from "../lib/model.ts";
import { aggregate, FAILURE_TEXT_LIMIT, MAX_RAW_READINGS, periodStart, Readout, type ReadoutRequest, type ReadoutType } from "./readout.ts";
import type { SensorState } from "./sampler.ts";
import type { StoredReading } from "./store.ts";

const NOW = new Date("2025-01-05T10:00:00.000Z");
const temperature = (value: number): Field => ({ name: "temperature", type: "numeric", value, unit: "°C", decimals: 2, flags: { momentary: true } });
const count = (value: number): Field => ({ name: "pulses", type: "int", value, flags: { momentary: true } });

function relay(state: boolean | Error): ActuatorDevice {
  return {
    parameters: [{ name: "state", type: "boolean" }],
    read: () => (state instanceof Error ? Promise.reject(state) : Promise.resolve([{ name: "state", type: "boolean", value: state, flags: { status: true } }])),
    write: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

function stored(sensorId: string, seq: number, iso: string, fields: Field[]): StoredReading {
  return { id: seq, sensorId, seq, timestamp: new Date(iso), fields };
}

function setup(options: { states?: SensorState[]; actuators?: ActuatorEntry[]; history?: StoredReading[] } = {}) {
  const states: SensorState[] = options.states ?? [
    { id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: new Date("2025-01-05T09:59:59Z"), fields: [temperature(61.5)] } },
    { id: "cellar", driver: "ds18b20", lastSample: { sensorId: "cellar", timestamp: new Date("2025-01-05T09:59:58Z"), fields: [temperature(12.25)] } },
  ];
  const actuators: ActuatorEntry[] = options.actuators ?? [{ id: "pump", driver: "gpio-output", device: relay(true) }];
  const history = options.history ?? [];
  const ranges: { sensorId: string; from?: Date; to?: Date; limit?: number; newest?: boolean }[] = [];
  const store = {
    history: (sensorId: string, range: { from?: Date; to?: Date; limit?: number; newest?: boolean }) => {
      ranges.push({ sensorId, ...range });
      const inside = history.filter(
        (r) => r.sensorId === sensorId && r.timestamp >= (range.from ?? new Date(0)) && r.timestamp < (range.to ?? new Date(8.64e15)),
      );
      if (range.limit === undefined) return Promise.resolve(inside);
      return Promise.resolve(range.newest ? inside.slice(-range.limit) : inside.slice(0, range.limit));
    },
  };
  return { readout: new Readout({ sampler: { states }, actuators: { all: actuators }, store }, () => NOW), ranges };
}

const request = (types: ReadoutType[], rest: Partial<ReadoutRequest> = {}): ReadoutRequest => ({ types: new Set(types), ...rest });

describe("Readout: current values", () => {
  it("gives each sensor's last sample and each actuator's state flagged writable, in configuration order", async () => {
    const { readout } = setup();
    const result = await readout.read(request(["momentary"]));
    assert.deepEqual(result.failures, []);
    assert.deepEqual(
      result.groups.map((g) => [g.nodeId, g.timestamp.toISOString(), g.fields.map((f) => [f.name, f.value, f.flags])]),
      [
        ["boiler", "2025-01-05T09:59:59.000Z", [["temperature", 61.5, { momentary: true }]]],
        ["cellar", "2025-01-05T09:59:58.000Z", [["temperature", 12.25, { momentary: true }]]],
        ["pump", NOW.toISOString(), [["state", true, { status: true, writable: true }]]],
      ],
    );
  });

  it("hands a face the sensor's current sample when a group is that sample whole", async () => {
    const { readout } = setup();
    const whole = await readout.read(request(["momentary"], { nodeIds: ["boiler"] }));
    assert.equal(whole.groups[0]?.sample?.fields, whole.groups[0]?.fields);
    const filtered = await readout.read(request(["momentary"], { nodeIds: ["boiler"], fieldNames: ["temperature"] }));
    assert.ok(filtered.groups[0]?.sample, "a field filter that keeps every field keeps the sample whole");
    const { readout: twoFields } = setup({ states: [{ id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: NOW, fields: [temperature(1), count(2)] } }] });
    const part = await twoFields.read(request(["momentary"], { fieldNames: ["pulses"] }));
    assert.deepEqual(part.groups.map((g) => [g.fields.map((f) => f.name), g.sample]), [[["pulses"], undefined]], "part of a sample is no sample");
  });

  it("reads only the requested nodes, in the order asked, once each", async () => {
    const { readout } = setup();
    const result = await readout.read(request(["momentary"], { nodeIds: ["pump", "boiler", "pump"] }));
    assert.deepEqual(result.groups.map((g) => g.nodeId), ["pump", "boiler"]);
  });

  it("treats a request naming no type as a request for the current values", async () => {
    const { readout, ranges } = setup();
    const result = await readout.read(request([], { nodeIds: ["boiler"] }));
    assert.deepEqual(result.groups.map((g) => g.nodeId), ["boiler"]);
    assert.equal(ranges.length, 0, "history is not read");
  });

  it("applies the field filter and leaves out nodes with nothing left", async () => {
    const { readout } = setup();
    const result = await readout.read(request(["momentary"], { fieldNames: ["state"] }));
    assert.deepEqual(result.groups.map((g) => [g.nodeId, g.fields.map((f) => f.name)]), [["pump", ["state"]]]);
  });

  it("reports a failing sensor with its error and since when, while the other nodes still answer", async () => {
    const since = new Date("2025-01-05T09:58:00Z");
    const { readout } = setup({
      states: [
        { id: "boiler", driver: "bme280", error: "bme280 read: bus error (EIO)", failingSince: since, lastSample: { sensorId: "boiler", timestamp: since, fields: [temperature(1)] } },
        { id: "cellar", driver: "ds18b20" },
        { id: "attic", driver: "sht3x", lastSample: { sensorId: "attic", timestamp: NOW, fields: [temperature(5)] } },
      ],
      actuators: [
        { id: "pump", driver: "gpio-output", error: "gpio-output: no such pin" },
        { id: "valve", driver: "gpio-output", device: relay(new Error("gpio-output on GPIO 5: device is closed")) },
      ],
    });
    const result = await readout.read(request(["momentary"]));
    assert.deepEqual(result.groups.map((g) => g.nodeId), ["attic"]);
    assert.deepEqual(
      result.failures.map((f) => [f.nodeId, f.timestamp.toISOString(), f.message]),
      [
        ["boiler", since.toISOString(), "bme280 read: bus error (EIO)"],
        ["cellar", NOW.toISOString(), "no reading yet"],
        ["pump", NOW.toISOString(), "gpio-output: no such pin"],
        ["valve", NOW.toISOString(), "gpio-output on GPIO 5: device is closed"],
      ],
    );
  });

  it("cuts a failure's text to FAILURE_TEXT_LIMIT characters, so one readout's failures fit one stanza", async () => {
    const babble = `nmea: malformed sentence ${"$GPGGA,".repeat(200)}`;
    const { readout } = setup({ states: [{ id: "gps", driver: "nmea", error: babble, failingSince: NOW }] });
    const [failure] = (await readout.read(request(["momentary"]))).failures;
    assert.equal(failure?.message.length, FAILURE_TEXT_LIMIT);
    assert.equal(failure?.message, `${babble.slice(0, FAILURE_TEXT_LIMIT - 1)}…`);
  });

  it("names the ids that are neither sensors nor actuators", () => {
    const { readout } = setup();
    assert.deepEqual(readout.unknownNodes(["boiler", "nope", "pump", "Boiler"]), ["nope", "Boiler"]);
    assert.deepEqual(readout.nodeIds, ["boiler", "cellar", "pump"]);
  });
});

describe("Readout: history", () => {
  const history = [
    stored("boiler", 1, "2025-01-05T09:00:10Z", [temperature(60), count(3)]),
    stored("boiler", 2, "2025-01-05T09:00:40Z", [temperature(62), count(5)]),
    stored("boiler", 3, "2025-01-05T09:01:20Z", [temperature(70), count(4), { name: "note", type: "string", value: "x" }]),
    stored("boiler", 4, "2025-01-05T09:02:00Z", [temperature(71)]),
    stored("cellar", 1, "2025-01-05T09:00:30Z", [temperature(12)]),
  ];

  it("returns the stored readings inside [from, to) as historicalOther, without the momentary flag", async () => {
    const { readout, ranges } = setup({ history });
    const from = new Date("2025-01-05T09:00:40Z");
    const to = new Date("2025-01-05T09:02:00Z");
    const result = await readout.read(request(["historicalOther"], { nodeIds: ["boiler"], from, to }));
    assert.deepEqual(ranges.map((r) => [r.sensorId, r.from, r.to]), [["boiler", from, to]]);
    assert.deepEqual(
      result.groups.map((g) => [g.timestamp.toISOString(), g.historical, g.fields.map((f) => f.flags?.momentary)]),
      [
        ["2025-01-05T09:00:40.000Z", "historicalOther", [undefined, undefined]],
        ["2025-01-05T09:01:20.000Z", "historicalOther", [undefined, undefined, undefined]],
      ],
    );
  });

  it("gives no stored readings for actuators, and current values as well only when asked", async () => {
    const { readout } = setup({ history });
    const onlyHistory = await readout.read(request(["historical"], { nodeIds: ["pump", "cellar"] }));
    assert.deepEqual(onlyHistory.groups.map((g) => [g.nodeId, g.historical]), [["cellar", "historicalOther"]]);
    const all = await readout.read(request(["all"], { nodeIds: ["cellar"] }));
    assert.deepEqual(all.groups.map((g) => g.historical), [undefined, "historicalOther"]);
  });

  it("aggregates numeric and int fields per minute: average under the field's name, min and max beside it", async () => {
    const { readout } = setup({ history });
    const result = await readout.read(request(["historicalMinute"], { nodeIds: ["boiler"] }));
    const summary = result.groups.map((g) => [g.timestamp.toISOString(), g.historical, g.fields.map((f) => [f.name, f.type, f.value, f.flags])]);
    assert.deepEqual(summary, [
      [
        "2025-01-05T09:00:00.000Z",
        "historicalMinute",
        [
          ["temperature", "numeric", 61, {}],
          ["temperature, min", "numeric", 60, { peak: true }],
          ["temperature, max", "numeric", 62, { peak: true }],
          ["pulses", "numeric", 4, {}],
          ["pulses, min", "int", 3, { peak: true }],
          ["pulses, max", "int", 5, { peak: true }],
        ],
      ],
      [
        "2025-01-05T09:01:00.000Z",
        "historicalMinute",
        [
          ["temperature", "numeric", 70, {}],
          ["temperature, min", "numeric", 70, { peak: true }],
          ["temperature, max", "numeric", 70, { peak: true }],
          ["pulses", "numeric", 4, {}],
          ["pulses, min", "int", 4, { peak: true }],
          ["pulses, max", "int", 4, { peak: true }],
        ],
      ],
      ["2025-01-05T09:02:00.000Z", "historicalMinute", [["temperature", "numeric", 71, {}], ["temperature, min", "numeric", 71, { peak: true }], ["temperature, max", "numeric", 71, { peak: true }]]],
    ]);
    const average = result.groups[0]?.fields[0];
    assert.equal(average?.type === "numeric" && average.decimals, 2, "the average keeps the sensor's precision");
  });

  it("lets a field filter on `temperature` through its min and max too", async () => {
    const { readout } = setup({ history });
    const result = await readout.read(request(["historicalHour"], { nodeIds: ["boiler"], fieldNames: ["temperature"] }));
    assert.deepEqual(result.groups[0]?.fields.map((f) => f.name), ["temperature", "temperature, min", "temperature, max"]);
    const onlyMax = await readout.read(request(["historicalHour"], { nodeIds: ["boiler"], fieldNames: ["temperature, max"] }));
    assert.deepEqual(onlyMax.groups[0]?.fields.map((f) => f.name), ["temperature, max"]);
  });

  const many = Array.from({ length: MAX_RAW_READINGS + 2 }, (_, i) => stored("cellar", i + 1, new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(), [temperature(i)]));

  it("refuses a raw range with more readings than it returns at once, naming the way out", async () => {
    const { readout } = setup({ history: many });
    const result = await readout.read(request(["historicalOther"], { from: new Date(Date.UTC(2024, 0, 1)), to: NOW }));
    assert.deepEqual(result.failures.map((f) => f.nodeId), ["cellar"]);
    assert.match(result.failures[0]?.message ?? "", /more than 5000 stored readings in the range; narrow from\/to/);
    assert.deepEqual(result.groups.map((g) => g.nodeId), []);
    assert.equal(result.notes, undefined);
  });

  it("answers all='true' or history without a range with the newest readings up to the limit, and says so", async () => {
    const { readout } = setup({ history: many });
    const asks: ReadoutRequest[] = [
      request(["historical"], { nodeIds: ["cellar"] }),
      request(["historicalOther"], { nodeIds: ["cellar"] }),
      request(["all"], { nodeIds: ["cellar"] }),
      request(["all"], { nodeIds: ["cellar"], from: new Date(Date.UTC(2024, 0, 1)) }),
    ];
    for (const ask of asks) {
      const result = await readout.read(ask);
      const stamps = result.groups.filter((g) => g.historical === "historicalOther").map((g) => g.timestamp.getTime());
      assert.equal(stamps.length, MAX_RAW_READINGS);
      assert.deepEqual([stamps[0], stamps.at(-1)], [many[2]!.timestamp.getTime(), many.at(-1)!.timestamp.getTime()], "the newest, oldest first");
      assert.deepEqual(result.failures, []);
      assert.deepEqual(result.notes, [{ nodeId: "cellar", message: "the newest 5000 stored readings, since 2025-01-01T00:00:02.000Z; ask with from and to for older ones" }]);
    }
  });
});

describe("periodStart and aggregate", () => {
  const at = new Date("2025-05-14T13:47:21.500Z"); // a Wednesday
  it("starts each period in UTC; weeks on Monday, quarters in January, April, July, October", () => {
    assert.deepEqual(
      (["Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"] as const).map((p) => periodStart(at, p).toISOString()),
      [
        "2025-05-14T13:47:21.000Z",
        "2025-05-14T13:47:00.000Z",
        "2025-05-14T13:00:00.000Z",
        "2025-05-14T00:00:00.000Z",
        "2025-05-12T00:00:00.000Z",
        "2025-05-01T00:00:00.000Z",
        "2025-04-01T00:00:00.000Z",
        "2025-01-01T00:00:00.000Z",
      ],
    );
    assert.equal(periodStart(new Date("2025-01-05T23:00:00Z"), "Week").toISOString(), "2024-12-30T00:00:00.000Z", "a Sunday belongs to the week before");
  });

  it("skips periods with no numeric values", () => {
    assert.deepEqual(aggregate([stored("door", 1, "2025-01-01T00:00:00Z", [{ name: "open", type: "boolean", value: true }])], "Day"), []);
  });
});

describe("Readout: timestamps the clock could not vouch for", () => {
  it("marks current values while the clock is not trusted, and carries a stored reading's mark into history", async () => {
    const { readout } = setup({
      history: [
        { ...stored("boiler", 1, "2025-01-05T09:00:10Z", [temperature(60)]), clock: "unsynced" },
        { ...stored("boiler", 2, "2025-01-05T09:00:20Z", [temperature(61)]), clock: "corrected" },
        stored("boiler", 3, "2025-01-05T09:00:30Z", [temperature(62)]),
      ],
    });
    const history = await readout.read(request(["historicalOther"], { nodeIds: ["boiler"] }));
    assert.deepEqual(history.groups.map((group) => group.clock), ["unsynced", "corrected", undefined]);

    const states: SensorState[] = [{ id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: NOW, fields: [temperature(61.5)] } }];
    const clock = { trusted: false };
    const live = new Readout({ sampler: { states }, actuators: { all: [{ id: "pump", driver: "gpio-output", device: relay(true) }] }, store: { history: () => Promise.resolve([]) }, clock }, () => NOW);
    assert.deepEqual((await live.read(request(["momentary"]))).groups.map((group) => [group.nodeId, group.clock]), [["boiler", "unsynced"], ["pump", "unsynced"]]);
    clock.trusted = true;
    assert.deepEqual((await live.read(request(["momentary"]))).groups.map((group) => [group.nodeId, group.clock]), [["boiler", undefined], ["pump", undefined]]);
  });
});

// Answers "what are the values of these nodes?" from the sampler's current samples, the actuators' state and
// the store's history. The XEP-0323 face translates requests and results; nothing here knows about XMPP.
//
// Historical periods (historicalMinute, …) aggregate each numeric field per UTC period: the average keeps the
// field's own name, so a series of `temperature` reads the same whatever the period, and the extremes follow
// the XEP-0323 author's naming ("Temperature, Min"/"Temperature, Max") in our lowerCamelCase: `temperature, min`
// and `temperature, max`, flagged peak. Each period is stamped with its start.
import type { Field, FieldFlags, NumericField, Sample, TimestampQuality } from "../lib/model.ts";
import type { SensorState } from "./sampler.ts";
import type { ActuatorEntry } from "./actuators.ts";
import type { StoredReading } from "./store.ts";
import { errorText } from "./log.ts";
import { clipText } from "../lib/text.ts";

export const PERIODS = ["Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"] as const;
export type Period = (typeof PERIODS)[number];
export type HistoricalFlag = `historical${Period}` | "historicalOther";

/** The field types a request may name (XEP-0323 `req` attributes, with the `all` and `historical` shortcuts). */
export const READOUT_TYPES = [
  "momentary",
  "peak",
  "status",
  "computed",
  "identity",
  ...PERIODS.map((period): HistoricalFlag => `historical${period}`),
  "historicalOther",
  "historical",
  "all",
] as const;
export type ReadoutType = (typeof READOUT_TYPES)[number];

export interface ReadoutRequest {
  /** Absent or empty: every node. */
  nodeIds?: readonly string[];
  /** Absent or empty: every field. */
  fieldNames?: readonly string[];
  /** Empty: current values only (what a client asking for nothing in particular wants). */
  types: ReadonlySet<ReadoutType>;
  /** Historical range, from <= timestamp < to. */
  from?: Date;
  to?: Date;
}

/** Fields of one node at one time; `historical` marks stored or aggregated values and which kind. */
export interface ReadoutGroup {
  nodeId: string;
  timestamp: Date;
  /** A stored reading's timestamp that was not taken on a trusted clock. */
  clock?: TimestampQuality;
  fields: Field[];
  historical?: HistoricalFlag;
  /**
   * The sensor's current sample, when the group is that sample whole (its timestamp and every field): a face may
   * render it once and reuse the rendering until the sensor's next sample, which is a new object.
   */
  sample?: Sample;
}

/**
 * Longest failure text a readout carries. A device's error may quote what it sent; the log keeps the whole text,
 * while one readout's failures travel in one stanza that a server refuses past its size limit (64 KiB on many).
 */
export const FAILURE_TEXT_LIMIT = 300;

export interface ReadoutFailure {
  nodeId: string;
  timestamp: Date;
  message: string;
  /** Not an error: the sensor has simply not been read yet since the agent started. */
  pending?: boolean;
}

/** Something the requester should know about a node's answer that is no failure (a history cut to the newest). */
export interface ReadoutNote {
  nodeId: string;
  message: string;
}

export interface ReadoutResult {
  groups: ReadoutGroup[];
  failures: ReadoutFailure[];
  notes?: ReadoutNote[];
}

export interface ReadoutSources {
  sampler: { readonly states: readonly SensorState[] };
  actuators: { readonly all: readonly ActuatorEntry[] };
  store: { history(sensorId: string, range: { from?: Date; to?: Date; limit?: number; newest?: boolean }): Promise<StoredReading[]> };
  /** Whether the wall clock is trusted (agent/clock-watch.ts): current values on an untrusted one are marked. */
  clock?: { readonly trusted: boolean };
}

/**
 * Most stored readings one node returns as they are. Beyond it a request for everything (`all`, or history without
 * from and to) gets the newest ones and a note saying so; one with a range is asked to narrow it.
 */
export const MAX_RAW_READINGS = 5_000;
/** Most stored readings one node aggregates per request (a week at one reading per 3 s). */
export const MAX_AGGREGATED_READINGS = 200_000;

const CURRENT_TYPES: ReadonlySet<ReadoutType> = new Set(["momentary", "peak", "status", "computed", "identity", "all"]);

export class Readout {
  constructor(
    private readonly sources: ReadoutSources,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every node id, sensors first, in configuration order. */
  get nodeIds(): string[] {
    return [...this.sources.sampler.states.map((state) => state.id), ...this.sources.actuators.all.map((entry) => entry.id)];
  }

  /** The ids in `nodeIds` that name no sensor or actuator. */
  unknownNodes(nodeIds: readonly string[]): string[] {
    const { sampler, actuators } = this.sources;
    return nodeIds.filter((id) => !sampler.states.some((state) => state.id === id) && !actuators.all.some((entry) => entry.id === id));
  }

  /** Reads every requested node; one that fails gives a failure while the others still give their data. */
  async read(request: ReadoutRequest): Promise<ReadoutResult> {
    const wanted = request.nodeIds && request.nodeIds.length > 0 ? [...new Set(request.nodeIds)] : this.nodeIds;
    const keepField = fieldFilter(request.fieldNames);
    const current = request.types.size === 0 || [...request.types].some((type) => CURRENT_TYPES.has(type));
    const raw = request.types.has("historicalOther") || request.types.has("historical") || request.types.has("all");
    const periods = PERIODS.filter((period) => request.types.has(`historical${period}`));
    const result: ReadoutResult = { groups: [], failures: [] };

    for (const nodeId of wanted) {
      const sensor = this.sources.sampler.states.find((state) => state.id === nodeId);
      const actuator = sensor ? undefined : this.sources.actuators.all.find((entry) => entry.id === nodeId);
      try {
        if (current && sensor) this.currentOfSensor(sensor, result);
        if (current && actuator) await this.currentOfActuator(actuator, result);
        if (sensor && (raw || periods.length > 0)) await this.historyOf(sensor.id, request, raw, periods, result);
      } catch (error) {
        result.failures.push({ nodeId, timestamp: this.now(), message: errorText(error) });
      }
    }
    result.groups = result.groups.map((group) => withFieldsKept(group, keepField)).filter((group) => group.fields.length > 0);
    result.failures = result.failures.map((failure) => ({ ...failure, message: clipText(failure.message, FAILURE_TEXT_LIMIT) }));
    return result;
  }

  private currentOfSensor(state: SensorState, result: ReadoutResult): void {
    if (state.error !== undefined) {
      result.failures.push({ nodeId: state.id, timestamp: state.failingSince ?? this.now(), message: state.error });
    } else if (state.lastSample) {
      const sample = state.lastSample;
      result.groups.push({ nodeId: state.id, timestamp: sample.timestamp, ...this.currentClock(), fields: sample.fields, sample });
    } else {
      result.failures.push({ nodeId: state.id, timestamp: this.now(), message: "no reading yet", pending: true });
    }
  }

  private async currentOfActuator(entry: ActuatorEntry, result: ReadoutResult): Promise<void> {
    if (!entry.device) {
      result.failures.push({ nodeId: entry.id, timestamp: this.now(), message: entry.error ?? "actuator not available" });
      return;
    }
    const timestamp = this.now();
    const fields = await entry.device.read();
    result.groups.push({ nodeId: entry.id, timestamp, ...this.currentClock(), fields: fields.map(markWritable) });
  }

  /** A current value's timestamp comes from the clock as it is now: marked while that is not trusted. */
  private currentClock(): { clock?: TimestampQuality } {
    return this.sources.clock && !this.sources.clock.trusted ? { clock: "unsynced" } : {};
  }

  private async historyOf(sensorId: string, request: ReadoutRequest, raw: boolean, periods: Period[], result: ReadoutResult): Promise<void> {
    const range = { from: request.from, to: request.to };
    if (raw) {
      const everything = request.types.has("all") || (request.from === undefined && request.to === undefined);
      const readings = await this.sources.store.history(sensorId, { ...range, limit: MAX_RAW_READINGS + 1, newest: everything });
      if (readings.length > MAX_RAW_READINGS) {
        if (!everything) {
          throw new Error(`more than ${MAX_RAW_READINGS} stored readings in the range; narrow from/to or ask for a period (historicalMinute, …)`);
        }
        readings.shift();
        const since = readings[0]?.timestamp.toISOString() ?? "";
        (result.notes ??= []).push({
          nodeId: sensorId,
          message: `the newest ${MAX_RAW_READINGS} stored readings, since ${since}; ask with from and to for older ones`,
        });
      }
      for (const reading of readings) {
        if (reading.fields.length === 0) continue;
        result.groups.push({
          nodeId: sensorId,
          timestamp: reading.timestamp,
          ...(reading.clock ? { clock: reading.clock } : {}),
          fields: reading.fields.map(asHistorical),
          historical: "historicalOther",
        });
      }
    }
    if (periods.length === 0) return;
    const readings = await this.sources.store.history(sensorId, { ...range, limit: MAX_AGGREGATED_READINGS + 1 });
    if (readings.length > MAX_AGGREGATED_READINGS) {
      throw new Error(`more than ${MAX_AGGREGATED_READINGS} stored readings in the range; narrow from/to`);
    }
    for (const period of periods) {
      for (const group of aggregate(readings, period)) result.groups.push({ nodeId: sensorId, ...group, historical: `historical${period}` });
    }
  }
}

/** A field filter that lets through the named fields and the extremes derived from them. */
function fieldFilter(names: readonly string[] | undefined): (name: string) => boolean {
  if (!names || names.length === 0) return () => true;
  const wanted = new Set(names);
  return (name) => wanted.has(name) || wanted.has(name.replace(/, (min|max)$/, ""));
}

/** The group with only the fields `keep` lets through; no longer a whole sample when it lost any. */
function withFieldsKept(group: ReadoutGroup, keep: (name: string) => boolean): ReadoutGroup {
  const fields = group.fields.filter((field) => keep(field.name));
  if (fields.length === group.fields.length) return group;
  const { sample: _whole, ...rest } = group;
  return { ...rest, fields };
}

function markWritable(field: Field): Field {
  return { ...field, flags: { ...field.flags, writable: true } };
}

/** A stored value is historical, not momentary: the group's historical flag says what it is instead. */
function asHistorical(field: Field): Field {
  const flags = { ...field.flags };
  delete flags.momentary;
  return { ...field, flags };
}

/** The start (UTC) of the period that holds `time`; weeks start on Monday (ISO 8601). */
export function periodStart(time: Date, period: Period): Date {
  const t = new Date(time.getTime());
  switch (period) {
    case "Second":
      t.setUTCMilliseconds(0);
      return t;
    case "Minute":
      t.setUTCSeconds(0, 0);
      return t;
    case "Hour":
      t.setUTCMinutes(0, 0, 0);
      return t;
    case "Day":
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
    case "Week": {
      const sinceMonday = (t.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() - sinceMonday));
    }
    case "Month":
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
    case "Quarter":
      return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - (t.getUTCMonth() % 3), 1));
    case "Year":
      return new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  }
}

interface Accumulator {
  template: Field & { type: "numeric" | "int" };
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** Average, min and max of every numeric and int field per period, in time order; other types are not aggregated. */
export function aggregate(readings: readonly StoredReading[], period: Period): { timestamp: Date; fields: Field[] }[] {
  const periods = new Map<number, Map<string, Accumulator>>();
  for (const reading of readings) {
    const start = periodStart(reading.timestamp, period).getTime();
    let fields = periods.get(start);
    if (!fields) periods.set(start, (fields = new Map<string, Accumulator>()));
    for (const field of reading.fields) {
      if (field.type !== "numeric" && field.type !== "int") continue;
      const acc = fields.get(field.name);
      if (!acc) fields.set(field.name, { template: field, sum: field.value, count: 1, min: field.value, max: field.value });
      else {
        acc.sum += field.value;
        acc.count += 1;
        acc.min = Math.min(acc.min, field.value);
        acc.max = Math.max(acc.max, field.value);
      }
    }
  }
  return [...periods.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, fields]) => ({ timestamp: new Date(start), fields: [...fields.values()].flatMap(summarize) }))
    .filter((group) => group.fields.length > 0);
}

function summarize({ template, sum, count, min, max }: Accumulator): Field[] {
  const flags: FieldFlags = {};
  if (template.flags?.computed) flags.computed = true;
  if (template.flags?.status) flags.status = true;
  // An int's average is rarely whole: it becomes numeric, with two decimals beyond the int's none.
  const average: NumericField =
    template.type === "numeric"
      ? { ...template, value: sum / count, flags }
      : { type: "numeric", name: template.name, value: sum / count, unit: template.unit ?? "", decimals: 2, flags };
  const extreme = (suffix: string, value: number): Field => ({ ...template, name: `${template.name}, ${suffix}`, value, flags: { ...flags, peak: true } });
  return [average, extreme("min", min), extreme("max", max)];
}

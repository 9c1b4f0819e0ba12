// A node's history for operators: per-period aggregates of its numeric values over a span, shaped for a
// sparkline. Chat and ad-hoc render it each their own way (render.ts, xmpp/adhoc-commands.ts). A chart takes
// one value at a finer period (chartSeries) for chart.ts to draw.
import type { Readout, Period } from "../readout.ts";
import type { Field } from "../../lib/model.ts";
import type { ChartPoint } from "./chart.ts";

/** The span of a history when the operator names none. */
export const DEFAULT_HISTORY_MS = 3_600_000;
/** Longest history a request may cover: the store keeps no more than its retention anyway. */
export const MAX_HISTORY_MS = 366 * 86_400_000;

/** One numeric value's history over the requested span. */
export interface HistorySeries {
  name: string;
  unit: string;
  decimals: number;
  /** Averages per time slot across the span, oldest first; undefined where nothing was stored. */
  slots: (number | undefined)[];
  min: number;
  max: number;
  /** The mean of the per-period averages (each period weighs the same). */
  avg: number;
  /** The current value, when the node has one. */
  last?: Field;
}

export interface HistorySummary {
  nodeId: string;
  from: Date;
  to: Date;
  period: Period;
  series: HistorySeries[];
}

/** Most characters a sparkline takes: fits a phone's chat bubble. */
export const SPARKLINE_WIDTH = 32;

/** The aggregation period for a span: fine enough for a sparkline, coarse enough to stay within the store's limits. */
export function periodFor(durationMs: number): Period {
  if (durationMs <= 10 * 60_000) return "Second";
  if (durationMs <= 12 * 3_600_000) return "Minute";
  if (durationMs <= 31 * 86_400_000) return "Hour";
  return "Day";
}

const PERIOD_MS: Partial<Record<Period, number>> = { Second: 1000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 };

/** A node's numeric values over the last `durationMs`, through Readout's per-period aggregation. */
export async function historySummary(readout: Pick<Readout, "read">, nodeId: string, durationMs: number, now: Date): Promise<HistorySummary> {
  const from = new Date(now.getTime() - durationMs);
  const period = periodFor(durationMs);
  const [past, current] = await Promise.all([
    readout.read({ nodeIds: [nodeId], types: new Set([`historical${period}` as const]), from, to: now }),
    readout.read({ nodeIds: [nodeId], types: new Set() }),
  ]);
  const [failure] = past.failures;
  if (failure) throw new Error(failure.message);
  const periods = Math.max(1, Math.ceil(durationMs / (PERIOD_MS[period] ?? durationMs)));
  const width = Math.min(SPARKLINE_WIDTH, periods);
  const slotOf = (time: Date) => Math.min(width - 1, Math.max(0, Math.floor(((time.getTime() - from.getTime()) / durationMs) * width)));

  const byName = new Map<string, { template: Field & { type: "numeric" | "int" }; sums: number[]; counts: number[]; averages: number[]; min: number; max: number }>();
  for (const group of past.groups) {
    for (const field of group.fields) {
      if (field.type !== "numeric" && field.type !== "int") continue;
      const [, base = field.name, extreme] = /^(.*?)(?:, (min|max))?$/.exec(field.name) ?? [];
      let entry = byName.get(base);
      if (!entry) {
        entry = { template: field, sums: Array<number>(width).fill(0), counts: Array<number>(width).fill(0), averages: [], min: Infinity, max: -Infinity };
        byName.set(base, entry);
      }
      if (extreme === "min") entry.min = Math.min(entry.min, field.value);
      else if (extreme === "max") entry.max = Math.max(entry.max, field.value);
      else {
        entry.template = field;
        entry.averages.push(field.value);
        const slot = slotOf(group.timestamp);
        entry.sums[slot] = (entry.sums[slot] ?? 0) + field.value;
        entry.counts[slot] = (entry.counts[slot] ?? 0) + 1;
      }
    }
  }
  const currentFields = current.groups.flatMap((group) => group.fields);
  const series: HistorySeries[] = [...byName.entries()]
    .filter(([, entry]) => entry.averages.length > 0)
    .map(([name, entry]) => {
      const last = currentFields.find((field) => field.name === name);
      return {
        name,
        unit: entry.template.unit ?? "",
        // Averages of an int carry two decimals (readout.ts); the extremes are the int's own values.
        decimals: entry.template.type === "numeric" ? entry.template.decimals : 2,
        slots: entry.sums.map((sum, slot) => ((entry.counts[slot] ?? 0) > 0 ? sum / (entry.counts[slot] ?? 1) : undefined)),
        min: entry.min,
        max: entry.max,
        avg: entry.averages.reduce((total, value) => total + value, 0) / entry.averages.length,
        ...(last ? { last } : {}),
      };
    });
  return { nodeId, from, to: now, period, series };
}


type NumberField = Field & { type: "numeric" | "int" };
const isNumber = (field: Field): field is NumberField => field.type === "numeric" || field.type === "int";

/** About as many points as a chart has pixel columns, or a few times more: each column then shows their spread. */
const MAX_CHART_POINTS = 2_200;

/** The finest period whose count over the span stays within MAX_CHART_POINTS (24 h: minutes). */
export function chartPeriodFor(durationMs: number): Period {
  const fitting = (["Second", "Minute", "Hour"] as const).find((period) => durationMs / (PERIOD_MS[period] ?? 1) <= MAX_CHART_POINTS);
  return fitting ?? "Day";
}

/** One numeric value of a node over a span, per period, for a chart (operator/chart.ts draws it). */
export interface ChartSeries {
  nodeId: string;
  name: string;
  unit: string;
  decimals: number;
  from: Date;
  to: Date;
  period: Period;
  points: ChartPoint[];
}

/**
 * `fieldName` of `nodeId` over the last `durationMs` through Readout's per-period aggregation, or undefined when
 * the node stored no numeric value of that name in the span.
 */
export async function chartSeries(readout: Pick<Readout, "read">, nodeId: string, fieldName: string, durationMs: number, now: Date): Promise<ChartSeries | undefined> {
  const from = new Date(now.getTime() - durationMs);
  const period = chartPeriodFor(durationMs);
  const past = await readout.read({ nodeIds: [nodeId], types: new Set([`historical${period}` as const]), from, to: now, fieldNames: [fieldName] });
  const [failure] = past.failures;
  if (failure) throw new Error(failure.message);
  let template: NumberField | undefined;
  const points: ChartPoint[] = [];
  for (const group of past.groups) {
    const value = (name: string) => group.fields.filter(isNumber).find((field) => field.name === name);
    const average = value(fieldName);
    if (!average) continue;
    template = average;
    const min = value(`${fieldName}, min`)?.value ?? average.value;
    const max = value(`${fieldName}, max`)?.value ?? average.value;
    points.push({ time: group.timestamp.getTime(), avg: average.value, min, max });
  }
  if (!template) return undefined;
  const decimals = template.type === "numeric" ? template.decimals : 2;
  return { nodeId, name: fieldName, unit: template.unit ?? "", decimals, from, to: now, period, points };
}

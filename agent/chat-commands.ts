// Operator commands as text: parsing what a person types in a chat window, running it against the core
// (Readout, Control, the agent's health) and rendering the answer. The chat face (xmpp/chat.ts) only moves
// stanzas; the ad-hoc face (xmpp/adhoc.ts) reuses the history summary, the sparkline and the health snapshot.
// Nothing here knows about XMPP.
import type { Readout, ReadoutFailure, ReadoutGroup, Period } from "./readout.ts";
import { clockTime, span, sparkline, when, type TimeFormat } from "../lib/text.ts";
import type { OperatorSession } from "./operator/desk.ts";
import type { SensorState } from "./sampler.ts";
import { formatFieldValue, type Field } from "../lib/model.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import { errorText } from "./log.ts";

export const COMMANDS = [
  { name: "help", usage: "help", summary: "this list" },
  { name: "read", usage: "read [ID]", summary: "current values of every sensor and actuator, or of one" },
  { name: "set", usage: "set ID NAME VALUE", summary: "set an actuator's parameter, e.g. set pump state true (control role)" },
  { name: "status", usage: "status", summary: "the agent's health: sensors, buffer, last publish, uptime, connection" },
  { name: "history", usage: "history ID [DURATION]", summary: "min, max, average, last and a sparkline per value (default 1h; e.g. 15m, 6h, 2d)" },
] as const;
export type CommandName = (typeof COMMANDS)[number]["name"];

export const DEFAULT_HISTORY_MS = 3_600_000;
/** Longest history a request may cover: the store keeps no more than its retention anyway. */
export const MAX_HISTORY_MS = 366 * 86_400_000;

export type ParsedCommand =
  | { name: "help" }
  | { name: "read"; id?: string }
  | { name: "set"; id: string; parameter: string; value: string }
  | { name: "status" }
  | { name: "history"; id: string; durationMs: number }
  /** A known command with wrong arguments: `text` says what is wrong and shows the usage. */
  | { name: "usage"; text: string }
  | { name: "unknown"; word: string; suggestion?: CommandName };

/** Reads one line of chat. Command words are case-insensitive; ids, names and values are taken as typed. */
export function parseCommand(body: string): ParsedCommand {
  const text = body.trim();
  const [first = "", ...args] = text.split(/\s+/);
  const word = first.toLowerCase();
  const usage = (name: CommandName, problem: string): ParsedCommand => ({
    name: "usage",
    text: `${problem}. Usage: ${COMMANDS.find((command) => command.name === name)?.usage ?? name}`,
  });
  switch (word) {
    case "help":
    case "?":
      return { name: "help" };
    case "status":
      return { name: "status" };
    case "read":
      if (args.length > 1) return usage("read", "read takes at most one id");
      return args[0] !== undefined ? { name: "read", id: args[0] } : { name: "read" };
    case "set": {
      // The value is the rest of the line, so a string parameter may hold spaces.
      const match = /^\S+\s+(\S+)\s+(\S+)\s+(.+)$/s.exec(text);
      if (!match) return usage("set", "set needs an id, a parameter name and a value");
      const [, id = "", parameter = "", value = ""] = match;
      return { name: "set", id, parameter, value };
    }
    case "history": {
      if (args.length === 0 || args.length > 2) return usage("history", "history needs an id and optionally a duration");
      const [id = "", durationText] = args;
      if (durationText === undefined) return { name: "history", id, durationMs: DEFAULT_HISTORY_MS };
      const durationMs = parseDuration(durationText);
      if (durationMs === undefined || durationMs <= 0) return usage("history", `'${durationText}' is not a duration such as 30m, 6h or 2d`);
      if (durationMs > MAX_HISTORY_MS) return usage("history", `${durationText} is longer than a year`);
      return { name: "history", id, durationMs };
    }
    default: {
      const suggestion = closestCommand(word);
      return suggestion ? { name: "unknown", word: first, suggestion } : { name: "unknown", word: first };
    }
  }
}

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of neighbours (optimal string alignment,
 * the restricted Damerau-Levenshtein distance): "raed" is one step from "read".
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => d[i]?.[j] ?? 0;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i]![j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The command a typo most likely meant: a unique prefix, or the nearest name within a small distance. */
export function closestCommand(word: string, names: readonly string[] = COMMANDS.map((command) => command.name)): CommandName | undefined {
  const typed = word.toLowerCase();
  if (typed === "") return undefined;
  const prefixed = names.filter((name) => typed.length >= 2 && name.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0] as CommandName;
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    // Short words tolerate one slip, longer ones two: "sat" → set, but "xyz" is nothing.
    const tolerance = name.length <= 4 ? 1 : 2;
    if (distance <= tolerance && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name as CommandName | undefined;
}

/** "21.53 °C", "true", "3 pulses". */
export function valueText(field: Field): string {
  const unit = field.type === "numeric" || field.type === "int" ? field.unit : undefined;
  return unit ? `${formatFieldValue(field)} ${unit}` : formatFieldValue(field);
}

/** One line per node: "boiler: temperature 21.53 °C · humidity 45.20 %RH (12:03:41, 2 s ago)". */
export function renderCurrent(nodeIds: readonly string[], groups: readonly ReadoutGroup[], failures: readonly ReadoutFailure[], format: TimeFormat): string {
  const lines: string[] = [];
  for (const nodeId of nodeIds) {
    for (const group of groups.filter((candidate) => candidate.nodeId === nodeId)) {
      const settable = group.fields.some((field) => field.flags?.writable) ? " [settable]" : "";
      const values = group.fields.map((field) => `${field.name} ${valueText(field)}`).join(" · ");
      lines.push(`${nodeId}: ${values}${settable} (${when(group.timestamp, format)})`);
    }
    for (const failure of failures.filter((candidate) => candidate.nodeId === nodeId)) {
      lines.push(failure.pending ? `${nodeId}: waiting for its first reading` : `⚠ ${nodeId}: FAILING: ${failure.message} (since ${when(failure.timestamp, format)})`);
    }
  }
  return lines.join("\n");
}

/** The agent's health (chat `status`, the ad-hoc "status" command). */
export interface AgentStatus {
  sensors: { id: string; error?: string; failingSince?: Date }[];
  /** Readings in the store the server has not accepted yet. */
  buffered: number;
  /** Readings the store's bound dropped, ever. */
  dropped: number;
  lastPublished?: Date;
  startedAt: Date;
  online: boolean;
}

export interface StatusSources {
  sampler: { readonly states: readonly SensorState[] };
  store: { readonly buffered: number; readonly dropped: number };
  publisher: { readonly lastPublished: Date | undefined };
  connection: { readonly isOnline: boolean };
  startedAt: Date;
}

/** Takes the health from the running parts; cheap (no store query), so every request may call it. */
export function statusOf(sources: StatusSources): () => AgentStatus {
  return () => {
    const lastPublished = sources.publisher.lastPublished;
    return {
      sensors: sources.sampler.states.map((state) => ({
        id: state.id,
        ...(state.error !== undefined ? { error: state.error } : {}),
        ...(state.failingSince ? { failingSince: state.failingSince } : {}),
      })),
      buffered: sources.store.buffered,
      dropped: sources.store.dropped,
      ...(lastPublished ? { lastPublished } : {}),
      startedAt: sources.startedAt,
      online: sources.connection.isOnline,
    };
  };
}

export function renderStatus(health: AgentStatus, format: TimeFormat): string {
  const failing = health.sensors.filter((sensor) => sensor.error !== undefined);
  const lines = [
    `connection: ${health.online ? "online" : "offline"} · up ${span(format.now.getTime() - health.startedAt.getTime())} (since ${clockTime(health.startedAt, format)})`,
    `sensors: ${health.sensors.length - failing.length} ok, ${failing.length} failing`,
    ...failing.map((sensor) => `  ⚠ ${sensor.id}: ${sensor.error ?? ""}${sensor.failingSince ? ` (since ${when(sensor.failingSince, format)})` : ""}`),
    `buffer: ${health.buffered} unsent reading${health.buffered === 1 ? "" : "s"} · ${health.dropped} dropped`,
    `last publish: ${health.lastPublished ? when(health.lastPublished, format) : "never"}`,
  ];
  return lines.join("\n");
}

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

export function renderHistory(summary: HistorySummary, durationMs: number, format: TimeFormat): string {
  const head = `${summary.nodeId}, last ${formatDuration(durationMs)} (${clockTime(summary.from, format)} – ${clockTime(summary.to, format)})`;
  if (summary.series.length === 0) return `${head}: no stored numeric readings (only sensors keep a history).`;
  const lines = [`${head}, per-${summary.period.toLowerCase()} averages:`];
  for (const series of summary.series) {
    const number = (value: number) => `${value.toFixed(series.decimals)}${series.unit ? ` ${series.unit}` : ""}`;
    const last = series.last ? ` · last ${valueText(series.last)}` : "";
    lines.push(`${series.name}: ${sparkline(series.slots)}`);
    lines.push(`  min ${number(series.min)} · max ${number(series.max)} · avg ${number(series.avg)}${last}`);
  }
  return lines.join("\n");
}

export function renderHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length));
  return ["Commands:", ...COMMANDS.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`)].join("\n");
}

export interface ChatCommandOptions {
  now?: () => Date;
  timeZone?: string;
}

/** Runs one chat line from an operator and answers with text; the session is the desk's (it holds the authorization). */
export class ChatCommands {
  constructor(private readonly options: ChatCommandOptions = {}) {}

  async answer(session: OperatorSession, body: string): Promise<string> {
    const now = this.options.now?.() ?? new Date();
    const format: TimeFormat = { now, ...(this.options.timeZone ? { timeZone: this.options.timeZone } : {}) };
    const command = parseCommand(body);
    try {
      switch (command.name) {
        case "help":
          return renderHelp();
        case "usage":
          return command.text;
        case "unknown":
          return command.suggestion
            ? `Unknown command '${command.word}'. Did you mean '${command.suggestion}'?`
            : `Unknown command '${command.word}'. Send 'help' for the list.`;
        case "status":
          return renderStatus(session.status(), format);
        case "read":
          return await read(session, command.id, format);
        case "set":
          return await set(session, command.id, command.parameter, command.value);
        case "history": {
          const id = resolve(session, command.id);
          if (id === undefined) return unknownId(session, command.id);
          return renderHistory(await historySummary(session, id, command.durationMs, now), command.durationMs, format);
        }
      }
    } catch (error) {
      return `Sorry, that failed: ${errorText(error)}`;
    }
  }
}

/** People type "on" and "off" to a switch: for a boolean parameter they mean true and false. */
async function spoken(session: OperatorSession, id: string, parameter: string, value: string): Promise<string> {
  const words: Record<string, string> = { on: "true", off: "false", yes: "true", no: "false" };
  const word = words[value.toLowerCase()];
  if (word === undefined) return value;
  const form = await session.control.getForm([id]);
  const spec = form.ok ? form.parameters.find((known) => known.spec.name === parameter)?.spec : undefined;
  return spec?.type === "boolean" ? word : value;
}

async function read(session: OperatorSession, wanted: string | undefined, format: TimeFormat): Promise<string> {
  const id = wanted === undefined ? undefined : resolve(session, wanted);
  if (wanted !== undefined && id === undefined) return unknownId(session, wanted);
  const result = await session.read({ ...(id !== undefined ? { nodeIds: [id] } : {}), types: new Set() });
  return renderCurrent(id !== undefined ? [id] : session.nodeIds, result.groups, result.failures, format) || "No sensors or actuators are configured.";
}

async function set(session: OperatorSession, wanted: string, parameter: string, value: string): Promise<string> {
  const id = resolve(session, wanted);
  if (id === undefined) return unknownId(session, wanted);
  const result = await session.control.set({ nodeIds: [id], values: [{ name: parameter, value: await spoken(session, id, parameter, value) }] }, "chat");
  if (result.ok) return `Done: ${result.applied.map((applied) => `${applied.nodeId} ${applied.name} = ${String(applied.value)}`).join(", ")}.`;
  switch (result.kind) {
    case "forbidden":
      return "Sorry, setting values needs the control role; your account may only read.";
    case "item-not-found": {
      const form = await session.control.getForm([id]);
      const names = form.ok ? form.parameters.map((known) => known.spec.name) : [];
      return `Not applied: ${result.text}.${names.length > 0 ? ` Parameters of ${id}: ${names.join(", ")}.` : ""}`;
    }
    default:
      return `Not applied: ${result.text}.`;
  }
}

/** The configured id as typed, or matching regardless of case (phones capitalise the first letter). */
function resolve(session: OperatorSession, id: string): string | undefined {
  const ids = session.nodeIds;
  return ids.find((known) => known === id) ?? ids.find((known) => known.toLowerCase() === id.toLowerCase());
}

function unknownId(session: OperatorSession, id: string): string {
  return `Unknown id '${id}'. Known ids: ${session.nodeIds.join(", ")}.`;
}

// Operator answers as text, for the chat window and the ad-hoc result notes: current values, the agent's
// health, a history summary, what became of a pushed config and the audit trail. Nothing here knows about XMPP.
import type { ReadoutFailure, ReadoutGroup } from "../readout.ts";
import type { HealthSnapshot } from "../health.ts";
import type { HistorySummary } from "./history.ts";
import { clipText, clockTime, span, sparkline, when, type TimeFormat } from "../../lib/text.ts";
import { formatFieldValue, type Field } from "../../lib/model.ts";
import { formatDuration } from "../../lib/duration.ts";
import type { PushResult } from "../remote-config.ts";
import type { AuditRecord } from "./audit.ts";

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


export function renderStatus(health: HealthSnapshot, format: TimeFormat): string {
  const failing = health.sensors.filter((sensor) => sensor.error !== undefined);
  const lines = [
    `connection: ${health.online ? "online" : "offline"} · up ${span(format.now.getTime() - health.startedAt.getTime())} (since ${clockTime(health.startedAt, format)})`,
    `sensors: ${health.sensors.length - failing.length} ok, ${failing.length} failing`,
    ...failing.map((sensor) => `  ⚠ ${sensor.id}: ${sensor.error ?? ""}${sensor.failingSince ? ` (since ${when(sensor.failingSince, format)})` : ""}`),
    `buffer: ${health.buffered} unsent reading${health.buffered === 1 ? "" : "s"} · ${health.dropped} dropped${health.setAside ? ` · ${health.setAside} set aside (refused by the pubsub service)` : ""}`,
    // What is wrong with the store, under the buffer it holds: as the presence and `xedge status` say it.
    ...[health.storeDamage, health.storeFault].filter((fault) => fault !== undefined).map((fault) => `  ⚠ ${fault}`),
    `last publish: ${health.lastPublished ? when(health.lastPublished, format) : "never"}`,
    ...(health.clockUnsynced ? [`clock: ${health.clockUnsynced} (readings taken meanwhile are marked)`] : []),
  ];
  return lines.join("\n");
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


/** What became of a pushed config, one line each: the outcome first, then what changed or what is wrong. */
export function renderPush(result: PushResult): string[] {
  if (!result.ok) {
    switch (result.kind) {
      case "invalid":
        return [`Not written: the config has ${result.problems.length} problem(s):`, ...result.problems];
      case "forbidden":
        return [`Not written: ${result.problems.join("; ")}.`];
      default:
        return [`Not applied: ${result.problems.join("; ")}.`];
    }
  }
  switch (result.outcome) {
    case "unchanged":
      return ["Written; nothing changed in what the agent runs."];
    case "trying":
      return [
        `Written. The connection settings change: the agent reconnects with them now. If it is not online again within ${formatDuration(result.deadlineMs)}, it restores the previous config and tells you why; either way you get a message.`,
      ];
    case "applied":
      return [
        `Applied: ${result.applied.join("; ") || "nothing that runs now"}.`,
        ...(result.needsRestart.length > 0 ? [`Written but waiting for a restart: ${result.needsRestart.join("; ")}.`] : []),
      ];
  }
}


/** The faces as people know them; the stored names are the code's. */
const VIA_NAMES: Record<string, string> = { chat: "chat", adhoc: "ad-hoc", iq: "XEP-0325", message: "XEP-0325 message", nf: "nf", ieee: "IEEE" };
/** A line must fit a phone: a long value or reason is cut, the full text stays in the store. */
export const AUDIT_CLIP = { action: 60, reason: 120 };

/** "12:03:41 ops@example.net · chat · pump state=true · applied", one line per record. */
export function auditLine(record: AuditRecord, format: TimeFormat): string {
  const outcome = record.reason !== undefined ? `${record.result}: ${clipText(record.reason, AUDIT_CLIP.reason)}` : record.result;
  const via = VIA_NAMES[record.via] ?? record.via;
  return `${clockTime(record.at, format)} ${record.operator} · ${via} · ${clipText(record.action, AUDIT_CLIP.action)} · ${outcome}`;
}

/**
 * The audit trail oldest first, as the chat itself and `tail` read: the newest line lands at the bottom, next to
 * where the operator types and where a chat client scrolls to.
 */
export function renderAudit(records: readonly AuditRecord[], complete: boolean, format: TimeFormat): string {
  if (records.length === 0) return "The audit trail is empty: no control action or config push yet.";
  const count = `${records.length} entr${records.length === 1 ? "y" : "ies"}`;
  const head = complete ? `Audit trail, all ${count}, newest last:` : `Audit trail, the last ${count}, newest last:`;
  return [head, ...records.map((record) => auditLine(record, format))].join("\n");
}

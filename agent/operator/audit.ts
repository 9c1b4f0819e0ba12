// The audit trail as operators read it: control actions (agent/control.ts) and config pushes
// (agent/remote-config.ts), refusals included, merged by time into one list of who did what, through which face,
// and how it ended. The store keeps both trails; this reads and shapes them. Nothing here knows about XMPP.
import type { AuditEntry } from "../control.ts";
import type { ConfigAuditEntry } from "../remote-config.ts";
import { bareJid } from "../authz.ts";

/** How many entries `audit` shows when not told, and at most: a screenful on a phone, and a bounded query. */
export const DEFAULT_AUDIT_ENTRIES = 10;
export const MAX_AUDIT_ENTRIES = 50;

/** How many audit entries a person asked for: a whole number from 1 to MAX_AUDIT_ENTRIES, else undefined. */
export function parseAuditEntries(text: string): number | undefined {
  if (!/^\d{1,4}$/.test(text.trim())) return undefined;
  const entries = Number(text.trim());
  return entries >= 1 && entries <= MAX_AUDIT_ENTRIES ? entries : undefined;
}

/** What the desk needs of the store (agent/store.ts fits): each trail's newest entries, newest first. */
export interface AuditTrails {
  auditLog(limit: number): Promise<AuditEntry[]>;
  configAuditLog(limit: number): Promise<ConfigAuditEntry[]>;
}

/** One action as an operator reads it. */
export interface AuditRecord {
  at: Date;
  /** The bare JID of whoever asked. */
  operator: string;
  /** The face it came through, as stored: chat, adhoc, iq, message, nf, ieee. */
  via: string;
  /** What was asked: "pump state=true", "config push". */
  action: string;
  /** applied, unchanged, refused, failed, rolled back. */
  result: string;
  /** Why it was refused, failed or rolled back; for an applied config push, what changed. */
  reason?: string;
}

/** The newest `limit` records of both trails, oldest first; `complete` when there are no more. */
export async function readAudit(trails: AuditTrails, limit: number): Promise<{ records: AuditRecord[]; complete: boolean }> {
  const [control, config] = await Promise.all([trails.auditLog(limit), trails.configAuditLog(limit)]);
  const merged = [...control.map(controlRecord), ...config.map(configRecord)].sort((a, b) => b.at.getTime() - a.at.getTime());
  // Each trail read short of the limit was read whole; past the limit there may be older entries.
  const complete = control.length < limit && config.length < limit && merged.length <= limit;
  return { records: merged.slice(0, limit).reverse(), complete };
}

function controlRecord(entry: AuditEntry): AuditRecord {
  const values = entry.values.map((value) => `${value.name}=${value.value}`).join(" ");
  const action = [entry.nodeIds.join(","), values].filter((part) => part !== "").join(" ") || "(nothing)";
  const common = { at: entry.at, operator: bareJid(entry.requester), via: entry.via, action };
  // An applied entry carries a detail only when it says why it was made (a timed set or its switch back).
  if (entry.result === "ok") return { ...common, result: "applied", ...(entry.detail !== undefined ? { reason: entry.detail } : {}) };
  // A device that refused a write failed; anything stopped before a write was refused.
  return { ...common, result: entry.result === "failed" ? "failed" : "refused", reason: entry.detail ?? entry.result };
}

function configRecord(entry: ConfigAuditEntry): AuditRecord {
  const common = { at: entry.at, operator: bareJid(entry.requester), via: entry.via, action: "config push" };
  switch (entry.result) {
    case "applied":
    case "unchanged":
      return { ...common, result: entry.result, reason: entry.summary };
    case "rolled-back":
      return { ...common, result: "rolled back", reason: entry.detail ?? entry.summary };
    case "failed":
      return { ...common, result: "failed", reason: entry.detail ?? entry.summary };
    case "refused":
    case "forbidden":
      return { ...common, result: "refused", reason: entry.summary };
  }
}

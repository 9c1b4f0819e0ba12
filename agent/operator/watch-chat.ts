// Watches in words: what `watch`, `watches` and `unwatch` look like typed into a chat window and what they answer,
// and the active alerts as `status` lists them. chat-commands.ts dispatches here. Nothing here knows about XMPP.
import { describeCondition, type AlertEvent } from "../alerts.ts";
import { bareJid } from "../authz.ts";
import type { OperatorSession } from "./desk.ts";
import { MAX_WATCHES, watchRule, watchRuleId, type StoredWatch, type WatchRequest } from "./watches.ts";
import { alertText } from "./alert-delivery.ts";
import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { clockTime, type TimeFormat } from "../../lib/text.ts";

/** A condition held longer than a day is a report, not an alert. */
export const MAX_WATCH_FOR_MS = 86_400_000;

export const WATCH_USAGE = "watch SENSOR FIELD > VALUE [for DURATION]";

export type WatchCommand = { name: "watch"; request: WatchRequest } | { name: "watches" } | { name: "unwatch"; id: number };

const VALUE_WATCH = /^(\S+)\s+(\S+?)\s*(>|<|above\b|below\b)\s*(-?\d+(?:\.\d+)?)(?:\s+for\s+(\S+))?$/i;
const FAILING_WATCH = /^(\S+)\s+failing(?:\s+for\s+(\S+))?$/i;

/** The arguments of `watch` (the rest of the line after the word): the request, or what is wrong with them. */
export function parseWatch(rest: string): WatchRequest | { problem: string } {
  const line = rest.trim();
  const failing = FAILING_WATCH.exec(line);
  const value = failing ? undefined : VALUE_WATCH.exec(line);
  if (!failing && !value) return { problem: "watch needs a sensor, a field, > or < and a number, or a sensor and the word failing" };
  const durationText = failing ? failing[2] : value?.[5];
  const forMs = durationText === undefined ? 0 : parseDuration(durationText);
  if (forMs === undefined || forMs > MAX_WATCH_FOR_MS) {
    return { problem: `'${durationText ?? ""}' is not a duration such as 30s, 5m or 2h (at most ${formatDuration(MAX_WATCH_FOR_MS)})` };
  }
  if (failing) return { sensorId: failing[1] ?? "", condition: { kind: "failing" }, forMs };
  const [, sensorId = "", field = "", comparison = "", threshold = ""] = value ?? [];
  const kind = comparison === ">" || comparison.toLowerCase() === "above" ? "above" : "below";
  return { sensorId, field, condition: { kind, threshold: Number(threshold) }, forMs };
}

/** `unwatch ID`: the watch number, or undefined. */
export function parseWatchId(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

/** "3: boiler temperature above 30 for 5m". */
export function watchLine(watch: StoredWatch): string {
  const what = watch.field !== undefined ? `${watch.sensorId} ${watch.field}` : watch.sensorId;
  return `${watch.id}: ${what} ${describeCondition(watchRule(watch))}`;
}

export async function answerWatch(session: OperatorSession, command: WatchCommand, format: TimeFormat): Promise<string> {
  switch (command.name) {
    case "watch": {
      const result = await session.watches.add(command.request);
      if (!result.ok) return `Not watching: ${result.text}.`;
      const { watch } = result;
      return `Watching ${watchLine(watch)}. You get a message when it fires and when it clears; 'unwatch ${watch.id}' ends it.`;
    }
    case "watches": {
      const watches = session.watches.list();
      if (watches.length === 0) return `No watches. Set one with: ${WATCH_USAGE} (at most ${MAX_WATCHES}).`;
      const fired = new Set(session.activeAlerts().map((event) => event.ruleId));
      const lines = watches.map((watch) => {
        const owner = watch.owner !== bareJid(session.requester) ? ` · ${watch.owner}` : "";
        return `  ${watchLine(watch)}${fired.has(watchRuleId(watch.id)) ? " · FIRED" : ""}${owner} (set ${clockTime(new Date(watch.createdAt), format)})`;
      });
      return [session.role === "admin" ? "Watches of every operator:" : "Your watches:", ...lines].join("\n");
    }
    case "unwatch": {
      const result = await session.watches.remove(command.id);
      return result.ok ? `Stopped watch ${watchLine(result.watch)}.` : `Sorry, ${result.text}.`;
    }
  }
}

/** The active alerts for `status`: a count, then one line each as its message said it. */
export function renderActiveAlerts(active: readonly AlertEvent[], format: TimeFormat): string[] {
  if (active.length === 0) return ["alerts: none active"];
  return [`alerts: ${active.length} active`, ...active.map((event) => `  ${alertText(event, format)}`)];
}

// Operator commands as text: parsing what a person types in a chat window, running it through the operator's
// session (agent/operator/desk.ts) and answering in words (render.ts). The chat face (xmpp/chat.ts) only moves
// stanzas. Nothing here knows about XMPP.
import type { OperatorSession } from "./desk.ts";
import type { ControlResult } from "../control.ts";
import { DEFAULT_HISTORY_MS, MAX_HISTORY_MS } from "./history.ts";
import { renderAudit, renderCurrent, renderHistory, renderPush, renderStatus } from "./render.ts";
import { DEFAULT_AUDIT_ENTRIES, MAX_AUDIT_ENTRIES, parseAuditEntries } from "./audit.ts";
import { allows, type Role } from "../authz.ts";
import { MAX_CONFIG_BYTES } from "../remote-config.ts";
import type { TimeFormat } from "../../lib/text.ts";
import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { clockTime } from "../../lib/text.ts";
import { MAX_TIMED_MS } from "../timed-actions.ts";
import { errorText } from "../log.ts";
import { WATCH_USAGE, answerWatch, parseWatch, parseWatchId, renderActiveAlerts, type WatchCommand } from "./watch-chat.ts";
import { postChart, type ImageUpload } from "./chart-post.ts";

export const COMMANDS = [
  { name: "help", usage: "help", summary: "this list" },
  { name: "read", usage: "read [ID]", summary: "current values of every sensor and actuator, or of one" },
  {
    name: "set",
    usage: "set ID NAME VALUE [for DURATION]",
    summary: "set an actuator's parameter, e.g. set pump state on; with for 10m it switches back after that (control role)",
  },
  { name: "cancel", usage: "cancel ID [NAME]", summary: "end a timed set early, switching back now (control role)" },
  { name: "status", usage: "status", summary: "the agent's health: sensors, buffer, last publish, uptime, connection, active alerts" },
  { name: "history", usage: "history ID [DURATION]", summary: "min, max, average, last and a sparkline per value (default 1h; e.g. 15m, 6h, 2d)" },
  { name: "chart", usage: "chart ID VALUE [DURATION]", summary: "a picture of one value over time, e.g. chart boiler temperature 24h (default 1h)" },
  {
    name: "audit",
    usage: "audit [N]",
    summary: `who set what or pushed a config, and how it ended, newest last (default ${DEFAULT_AUDIT_ENTRIES}, at most ${MAX_AUDIT_ENTRIES})`,
    listedFor: "control",
  },
  { name: "watch", usage: WATCH_USAGE, summary: "tell me when it goes above (>) or below (<), held for DURATION if given; or: watch SENSOR failing" },
  { name: "watches", usage: "watches", summary: "your watches, with their ids (an admin sees everyone's)" },
  { name: "unwatch", usage: "unwatch ID", summary: "stop a watch" },
  { name: "config", usage: "config", summary: "the running config, the password not shown (admin role)" },
  {
    name: "config set",
    usage: "config set [inline-secrets]",
    summary: "push a new config: the whole YAML file on the lines after this one (admin role); inline-secrets accepts an inline password",
  },
] as const satisfies readonly { name: string; usage: string; summary: string; listedFor?: Role }[];
/** Command words a person types first; `config set` is the word `config` with an argument. */
type CommandWord = Exclude<(typeof COMMANDS)[number]["name"], "config set">;
const COMMAND_WORDS: readonly string[] = COMMANDS.map((command) => command.name).filter((name) => name !== "config set");
export type CommandName = (typeof COMMANDS)[number]["name"];

/** A config push carries a whole file; every other command is a short line. */
export const MAX_CONFIG_BODY = MAX_CONFIG_BYTES + 256;
export const MAX_COMMAND_BODY = 1024;

/** The longest body answered for what `body` starts with. */
export function bodyLimit(body: string): number {
  return CONFIG_SET.test(body) ? MAX_CONFIG_BODY : MAX_COMMAND_BODY;
}

/** "config set", then optionally "inline-secrets", on the first line; the YAML follows on the next lines. */
const CONFIG_SET = /^\s*config[ \t]+set\b([^\n]*)(?:\n([\s\S]*))?$/i;

export type ParsedCommand =
  | { name: "help" }
  | { name: "read"; id?: string }
  | { name: "set"; id: string; parameter: string; value: string; durationMs?: number }
  | { name: "cancel"; id: string; parameter?: string }
  | { name: "status" }
  | { name: "history"; id: string; durationMs: number }
  | { name: "chart"; id: string; field: string; durationMs: number }
  | { name: "audit"; entries: number }
  | WatchCommand
  | { name: "config" }
  | { name: "config set"; text: string; acceptInlineSecrets: boolean }
  /** A known command with wrong arguments: `text` says what is wrong and shows the usage. */
  | { name: "usage"; text: string }
  | { name: "unknown"; word: string; suggestion?: CommandWord };

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
      const [, id = "", parameter = "", rest = ""] = match;
      // "for DURATION" at the end makes it timed; a value that merely ends in "for" and a word stays a value.
      const timed = /^(.+?)\s+for\s+(\S+)$/is.exec(rest);
      const durationMs = timed?.[2] !== undefined ? parseDuration(timed[2]) : undefined;
      if (!timed || durationMs === undefined) return { name: "set", id, parameter, value: rest };
      if (durationMs <= 0 || durationMs > MAX_TIMED_MS) return usage("set", `a timed set lasts more than 0 and at most ${formatDuration(MAX_TIMED_MS)}`);
      return { name: "set", id, parameter, value: timed[1] ?? "", durationMs };
    }
    case "cancel": {
      if (args.length === 0 || args.length > 2) return usage("cancel", "cancel needs an id and optionally a parameter name");
      const [id = "", parameter] = args;
      return parameter !== undefined ? { name: "cancel", id, parameter } : { name: "cancel", id };
    }
    case "config": {
      const push = CONFIG_SET.exec(body);
      if (!push) return args.length === 0 ? { name: "config" } : usage("config set", "config takes no argument but set");
      const [, options = "", yaml = ""] = push;
      const flags = options.trim().toLowerCase();
      if (flags !== "" && flags !== "inline-secrets") return usage("config set", `unknown option '${options.trim()}'`);
      if (yaml.trim() === "") return usage("config set", "config set needs the YAML file on the lines after it");
      return { name: "config set", text: yaml, acceptInlineSecrets: flags === "inline-secrets" };
    }
    case "history": {
      if (args.length === 0 || args.length > 2) return usage("history", "history needs an id and optionally a duration");
      const [id = "", durationText] = args;
      const durationMs = historySpan(durationText);
      return typeof durationMs === "string" ? usage("history", durationMs) : { name: "history", id, durationMs };
    }
    case "chart": {
      if (args.length < 2 || args.length > 3) return usage("chart", "chart needs an id, a value's name and optionally a duration");
      const [id = "", field = "", durationText] = args;
      const durationMs = historySpan(durationText);
      return typeof durationMs === "string" ? usage("chart", durationMs) : { name: "chart", id, field, durationMs };
    }
    case "watch": {
      const request = parseWatch(text.slice(first.length));
      return "problem" in request ? usage("watch", request.problem) : { name: "watch", request };
    }
    case "watches":
      return args.length === 0 ? { name: "watches" } : usage("watches", "watches takes no argument");
    case "unwatch": {
      const id = parseWatchId(args[0]);
      return id !== undefined && args.length === 1 ? { name: "unwatch", id } : usage("unwatch", "unwatch needs the number of a watch");
    }
    case "audit": {
      if (args.length > 1) return usage("audit", "audit takes at most one number");
      if (args[0] === undefined) return { name: "audit", entries: DEFAULT_AUDIT_ENTRIES };
      const entries = parseAuditEntries(args[0]);
      return entries === undefined ? usage("audit", `'${args[0]}' is not a number from 1 to ${MAX_AUDIT_ENTRIES}`) : { name: "audit", entries };
    }
    default: {
      const suggestion = closestCommand(word);
      return suggestion ? { name: "unknown", word: first, suggestion } : { name: "unknown", word: first };
    }
  }
}

/** The span a history or chart covers, or what is wrong with the text. */
function historySpan(text: string | undefined): number | string {
  if (text === undefined) return DEFAULT_HISTORY_MS;
  const durationMs = parseDuration(text);
  if (durationMs === undefined || durationMs <= 0) return `'${text}' is not a duration such as 30m, 6h or 2d`;
  return durationMs > MAX_HISTORY_MS ? `${text} is longer than a year` : durationMs;
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
export function closestCommand(word: string, names: readonly string[] = COMMAND_WORDS): CommandWord | undefined {
  const typed = word.toLowerCase();
  if (typed === "") return undefined;
  const prefixed = names.filter((name) => typed.length >= 2 && name.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0] as CommandWord;
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    // Short words tolerate one slip, longer ones two: "sat" → set, but "xyz" is nothing.
    const tolerance = name.length <= 4 ? 1 : 2;
    if (distance <= tolerance && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name as CommandWord | undefined;
}

/** The commands, each with its usage; one marked `listedFor` a role is left out for operators below it. */
export function renderHelp(role: Role): string {
  const listed = COMMANDS.filter((command) => !("listedFor" in command) || allows(role, command.listedFor));
  const width = Math.max(...listed.map((command) => command.usage.length));
  return ["Commands:", ...listed.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`)].join("\n");
}

/** What the sender is told when a line arrives late (stored offline): it is not run. */
export const DELAYED_TEXT = "This message was delayed in transit, so it was not run. Send it again if it still applies.";

/** A line the server stored while the gateway was offline (XEP-0203): when it was sent. */
export interface Delayed {
  sentAt: string;
}

export interface ChatCommandOptions {
  now?: () => Date;
  timeZone?: string;
  /** Where charts are uploaded; without it `chart` answers with the text history. */
  upload?: ImageUpload;
}

/** An answer: text, or a picture uploaded for the chat, whose URL the face sends for clients to show inline. */
export type ChatAnswer = string | { imageUrl: string };

/** Runs one chat line from an operator and answers with text; the session is the desk's (it holds the authorization). */
export class ChatCommands {
  constructor(private readonly options: ChatCommandOptions = {}) {}

  /** As `answer`, but a chart comes back as its picture's URL, for the face to send as a picture. */
  async reply(session: OperatorSession, body: string, delayed?: Delayed): Promise<ChatAnswer> {
    const command = parseCommand(body);
    if (command.name !== "chart" || delayed) return this.answer(session, body, delayed);
    try {
      return await chart(session, command, this.format(), this.options.upload);
    } catch (error) {
      return `Sorry, that failed: ${errorText(error)}`;
    }
  }

  private format(): TimeFormat {
    const now = this.options.now?.() ?? new Date();
    return { now, ...(this.options.timeZone ? { timeZone: this.options.timeZone } : {}) };
  }

  async answer(session: OperatorSession, body: string, delayed?: Delayed): Promise<string> {
    const format = this.format();
    const now = format.now;
    const command = parseCommand(body);
    // A command stored offline may be hours old; running it now would surprise whoever sent it. A late set still
    // goes to Control, which refuses it and writes the refusal to the audit trail.
    if (delayed) {
      if (command.name === "set") await refuseLateSet(session, command.id, command.parameter, command.value, delayed);
      return DELAYED_TEXT;
    }
    try {
      switch (command.name) {
        case "help":
          return renderHelp(session.role);
        case "usage":
          return command.text;
        case "unknown":
          return command.suggestion
            ? `Unknown command '${command.word}'. Did you mean '${command.suggestion}'?`
            : `Unknown command '${command.word}'. Send 'help' for the list.`;
        case "status":
          return [renderStatus(session.status(), format), ...renderActiveAlerts(session.activeAlerts(), format)].join("\n");
        case "watch":
        case "watches":
        case "unwatch":
          return await answerWatch(session, command, format);
        case "read":
          return await read(session, command.id, format);
        case "set":
          return await set(session, command, format);
        case "cancel":
          return await cancel(session, command.id, command.parameter, format);
        case "config": {
          const fetched = session.config.fetch();
          if (fetched.ok) return `The running config, ${fetched.file} (an inline password is not shown):\n${fetched.text}`;
          return fetched.kind === "forbidden" ? `Sorry, the config is for the admin role; ${roleText(session)}.` : `Sorry, ${fetched.text}.`;
        }
        case "config set": {
          const result = await session.config.push(command.text, { acceptInlineSecrets: command.acceptInlineSecrets }, "chat");
          if (!result.ok && result.kind === "forbidden") return `Sorry, pushing a config needs the admin role; ${roleText(session)}.`;
          return renderPush(result).join("\n");
        }
        case "audit": {
          const answer = await session.audit(command.entries);
          if (!answer.ok) return answer.kind === "forbidden" ? `Sorry, the audit trail needs the control role; ${roleText(session)}.` : `Sorry, ${answer.text}.`;
          return renderAudit(answer.records, answer.complete, format);
        }
        case "history": {
          const id = resolve(session, command.id);
          if (id === undefined) return unknownId(session, command.id);
          return renderHistory(await session.history(id, command.durationMs, now), command.durationMs, format);
        }
        case "chart": {
          const answer = await chart(session, command, format, this.options.upload);
          return typeof answer === "string" ? answer : answer.imageUrl;
        }
      }
    } catch (error) {
      return `Sorry, that failed: ${errorText(error)}`;
    }
  }
}

/** The chart's URL once uploaded; otherwise the text history of that value and one line saying why no chart. */
async function chart(session: OperatorSession, command: Extract<ParsedCommand, { name: "chart" }>, format: TimeFormat, upload: ImageUpload | undefined): Promise<ChatAnswer> {
  const id = resolve(session, command.id);
  if (id === undefined) return unknownId(session, command.id);
  const { durationMs } = command;
  const posted = await postChart(session, upload, { nodeId: id, field: command.field, durationMs, now: format.now, ...(format.timeZone ? { timeZone: format.timeZone } : {}) });
  if (posted.ok) return { imageUrl: posted.url };
  const summary = await session.history(id, durationMs, format.now);
  if ("missing" in posted) return `Sorry, ${posted.reason}. Values with a history: ${summary.series.map((series) => series.name).join(", ") || "none"}.`;
  const series = summary.series.filter((candidate) => candidate.name === command.field);
  return `${renderHistory({ ...summary, series }, durationMs, format)}\nNo chart: ${posted.reason}.`;
}

/** People type "on" and "off" to a switch: for a boolean parameter they mean true and false. */
function spoken(session: OperatorSession, id: string, parameter: string, value: string): string {
  const words: Record<string, string> = { on: "true", off: "false", yes: "true", no: "false" };
  const word = words[value.toLowerCase()];
  if (word === undefined) return value;
  const spec = session.parametersOf(id).find((known) => known.name === parameter);
  return spec?.type === "boolean" ? word : value;
}

async function read(session: OperatorSession, wanted: string | undefined, format: TimeFormat): Promise<string> {
  const id = wanted === undefined ? undefined : resolve(session, wanted);
  if (wanted !== undefined && id === undefined) return unknownId(session, wanted);
  const result = await session.read({ ...(id !== undefined ? { nodeIds: [id] } : {}), types: new Set() });
  return renderCurrent(id !== undefined ? [id] : session.nodeIds, result.groups, result.failures, format) || "No sensors or actuators are configured.";
}

async function set(session: OperatorSession, command: Extract<ParsedCommand, { name: "set" }>, format: TimeFormat): Promise<string> {
  const id = resolve(session, command.id);
  if (id === undefined) return unknownId(session, command.id);
  const { parameter, durationMs } = command;
  const value = spoken(session, id, parameter, command.value);
  if (durationMs !== undefined) {
    const timed = await session.timed.setFor(id, parameter, value, durationMs, "chat");
    if (!("action" in timed)) return refusalText(session, id, timed.result);
    const { action, replaced } = timed;
    const back = `back to ${action.revertValue} at ${clockTime(new Date(action.dueAt), format)}`;
    const replacing = replaced ? ` This replaces the timer that was due at ${clockTime(new Date(replaced.dueAt), format)}.` : "";
    return `Done: ${id} ${parameter} = ${action.setValue} for ${formatDuration(durationMs)}, then ${back}.${replacing}`;
  }
  const running = session.timed.find(id, parameter);
  const result = await session.control.set({ nodeIds: [id], values: [{ name: parameter, value }] }, "chat");
  if (!result.ok) return refusalText(session, id, result);
  const done = `Done: ${result.applied.map((applied) => `${applied.nodeId} ${applied.name} = ${String(applied.value)}`).join(", ")}.`;
  if (!running) return done;
  return `${done} This replaces the timer that would have switched it back to ${running.revertValue} at ${clockTime(new Date(running.dueAt), format)}.`;
}

async function cancel(session: OperatorSession, wanted: string, parameter: string | undefined, format: TimeFormat): Promise<string> {
  const id = resolve(session, wanted);
  if (id === undefined) return unknownId(session, wanted);
  const results = await session.timed.cancel(id, parameter, "chat");
  if (results.length === 0) return `No timed set runs on ${id}${parameter !== undefined ? ` ${parameter}` : ""}.`;
  return results
    .map(({ action, result }) => {
      const what = `${action.nodeId} ${action.parameter}`;
      if (result.ok) return `Cancelled: ${what} is back at ${action.revertValue} now.`;
      if (result.kind === "forbidden") return "Sorry, cancelling a timed set needs the control role; your account may only read.";
      return `Not switched back: ${result.text}. The timer on ${what} still runs until ${clockTime(new Date(action.dueAt), format)}.`;
    })
    .join("\n");
}

function refusalText(session: OperatorSession, id: string, result: Extract<ControlResult, { ok: false }>): string {
  switch (result.kind) {
    case "forbidden":
      return "Sorry, setting values needs the control role; your account may only read.";
    case "item-not-found": {
      const names = session.parametersOf(id).map((known) => known.name);
      return `Not applied: ${result.text}.${names.length > 0 ? ` Parameters of ${id}: ${names.join(", ")}.` : ""}`;
    }
    default:
      return `Not applied: ${result.text}.`;
  }
}

async function refuseLateSet(session: OperatorSession, wanted: string, parameter: string, value: string, delayed: Delayed): Promise<void> {
  const id = resolve(session, wanted) ?? wanted;
  await session.control.set({ nodeIds: [id], values: [{ name: parameter, value }], delayed }, "chat");
}

/** The configured id as typed, or matching regardless of case (phones capitalise the first letter). */
function resolve(session: OperatorSession, id: string): string | undefined {
  const ids = session.nodeIds;
  return ids.find((known) => known === id) ?? ids.find((known) => known.toLowerCase() === id.toLowerCase());
}

function roleText(session: OperatorSession): string {
  return `your account has the ${session.role} role`;
}

function unknownId(session: OperatorSession, id: string): string {
  return `Unknown id '${id}'. Known ids: ${session.nodeIds.join(", ")}.`;
}

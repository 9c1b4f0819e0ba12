// The XEP-0050 ad-hoc commands, one descriptor each: node, name, the role it needs, its first answer (`start`)
// and what it does with a submitted form (`advance`). Sessions, authorization and errors are adhoc.ts's, written
// once for all of them; the work is the operator session's (readout, control, status, history).
//
// `set` has two stages: choose the actuator (next), then its parameters with their current values, types and
// ranges, the form XEP-0325 getForm gives (complete). A value Control refuses as malformed re-shows that form
// with the error; anything else ends the command with an error note. The parameters form has one more field,
// `for`: a duration (as in the config, e.g. 10m) makes it a timed set, switched back when the time is up; it
// switches one parameter, the one whose value the form changes (clients echo every field).
//
// `history` also draws the value named in its `chart` field (the first one when empty), uploads it (upload.ts) and
// shows it in a chat message, since a result form cannot show a picture; the result carries its URL.
//
// `audit` asks how many entries (one form), then answers with the same lines as the chat command, in a note and
// in a result form, one value per entry.
//
// `watch` takes a sensor, a field, a condition and a value in one form (a problem re-shows it with the error),
// `watches` lists them as the chat does, `unwatch` offers the requester's watches to choose from.
//
// `config` shows the running config file (the password redacted) and `config-push` takes a whole new one, for
// admins only: a config with problems comes back in the form with one error note per problem, nothing written.
import { xml, type Element } from "./client.ts";
import { formElement, formParameters } from "./control-form.ts";
import type { Role } from "../authz.ts";
import type { OperatorSession } from "../operator/desk.ts";
import { formatFieldValue, type Field } from "../../lib/model.ts";
import { parseDuration, formatDuration } from "../../lib/duration.ts";
import { DEFAULT_HISTORY_MS, MAX_HISTORY_MS } from "../operator/history.ts";
import { MAX_TIMED_MS } from "../timed-actions.ts";
import { auditLine, renderAudit, renderCurrent, renderHistory, renderPush, renderStatus } from "../operator/render.ts";
import { DEFAULT_AUDIT_ENTRIES, MAX_AUDIT_ENTRIES, parseAuditEntries } from "../operator/audit.ts";
import { span, sparkline } from "../../lib/text.ts";
import type { WatchRequest } from "../operator/watches.ts";
import { MAX_WATCH_FOR_MS, answerWatch, parseWatchId, watchLine } from "../operator/watch-chat.ts";
import { postChart, type ImageUpload } from "../operator/chart-post.ts";

export const NS_COMMANDS = "http://jabber.org/protocol/commands";
export const NS_DATA = "jabber:x:data";

export type Action = "execute" | "next" | "prev" | "complete" | "cancel";
/** The actions that move a session along; cancel and execute are not steps of their own. */
export type Step = "prev" | "next" | "complete";

/** The `<actions>` of an executing reply: the steps the requester may take next and the default, `execute`. */
export interface OfferedActions {
  execute: Step;
  allowed: readonly Step[];
}

/** One execution of a command, owned by the full JID that started it. */
export interface CommandSession {
  id: string;
  requester: string;
  node: string;
  /** Where a multi-stage command is (`set`: choosing the actuator, then its parameters). */
  stage: "choose" | "parameters";
  /** The actuator chosen in `set`'s first stage. */
  actuator?: string;
  /** What the last executing reply offered; a step it did not offer is refused. */
  offered?: OfferedActions;
  expiresAt: number;
}

/** What a command's step works with: the requester's operator session and the answers it may give. */
export interface CommandContext {
  operator: OperatorSession;
  session: CommandSession;
  now: () => Date;
  /** The command goes on: status executing, offering `actions`, with the next form. */
  proceed: (actions: OfferedActions, ...children: Element[]) => Element;
  /** The command is done (status completed) and its session forgotten. */
  finish: (...children: Element[]) => Element;
  /** Uploads pictures and shows one to the requester in a chat message; absent when the gateway cannot upload. */
  picture?: { upload: ImageUpload; show: (url: string) => void };
}

export interface AdhocCommand {
  node: string;
  name: string;
  needs: Role;
  /** The first answer: a form to fill in, or the result of a command that needs nothing. */
  start: (context: CommandContext) => Element | Promise<Element>;
  /** The answer to a submitted form, for a step the last reply offered. */
  advance: (context: CommandContext, step: Step, values: Map<string, string[]>) => Element | Promise<Element>;
}

export function field(variable: string, type: string, label: string | undefined, values: readonly string[], ...children: Element[]): Element {
  return xml("field", { var: variable, type, ...(label ? { label } : {}) }, ...children, ...values.map((value) => xml("value", {}, value)));
}

function option(value: string, label = value): Element {
  return xml("option", { label }, xml("value", {}, value));
}

function form(type: "form" | "result", title: string, instructions: string | undefined, fields: Element[]): Element {
  return xml("x", { xmlns: NS_DATA, type }, xml("title", {}, title), ...(instructions ? [xml("instructions", {}, instructions)] : []), ...fields);
}

function note(type: "info" | "warn" | "error", text: string): Element {
  return xml("note", { type }, text);
}

/** Complete is the only step of a one-form command. */
const COMPLETE_ONLY: OfferedActions = { execute: "complete", allowed: ["complete"] };

function unitLabel(nodeId: string, item: Field): string {
  const unit = item.type === "numeric" || item.type === "int" ? item.unit : undefined;
  return `${nodeId} ${item.name}${unit ? ` (${unit})` : ""}`;
}

const read: AdhocCommand = {
  node: "read",
  name: "Read current values",
  needs: "read",
  start: ({ operator, proceed }) =>
    proceed(
      COMPLETE_ONLY,
      form("form", "Read current values", "Choose the sensors and actuators to read; none means all.", [
        field("nodes", "list-multi", "Nodes", [], ...operator.nodeIds.map((id) => option(id))),
      ]),
    ),
  advance: async ({ operator, now, finish }, _action, values) => {
    const chosen = (values.get("nodes") ?? []).filter((id) => id !== "");
    const unknown = chosen.filter((id) => !operator.nodeIds.includes(id));
    if (unknown.length > 0) return finish(note("error", `No node ${unknown.join(", ")}. Known: ${operator.nodeIds.join(", ")}.`));
    const result = await operator.read({ nodeIds: chosen, types: new Set() });
    const fields = result.groups.flatMap((group) =>
      group.fields.map((item) => field(`${group.nodeId}.${item.name}`, item.type === "boolean" ? "boolean" : "text-single", unitLabel(group.nodeId, item), [formatFieldValue(item)])),
    );
    const failures = renderCurrent(operator.nodeIds, [], result.failures, { now: now() });
    return finish(...(failures ? [note("warn", failures)] : []), form("result", "Current values", undefined, fields));
  },
};

const statusResult = ({ operator, now, finish }: CommandContext): Element => {
  const health = operator.status();
  const at = now();
  const failing = health.sensors.filter((sensor) => sensor.error !== undefined);
  return finish(
    note("info", renderStatus(health, { now: at })),
    form("result", "Agent status", undefined, [
      field("connection", "text-single", "Connection", [health.online ? "online" : "offline"]),
      field("uptime", "text-single", "Uptime", [span(at.getTime() - health.startedAt.getTime())]),
      field("sensorsOk", "text-single", "Sensors ok", [String(health.sensors.length - failing.length)]),
      field("sensorsFailing", "text-multi", "Sensors failing", failing.map((sensor) => `${sensor.id}: ${sensor.error ?? ""}`)),
      field("buffered", "text-single", "Unsent readings", [String(health.buffered)]),
      field("dropped", "text-single", "Dropped readings", [String(health.dropped)]),
      field("lastPublish", "text-single", "Last publish", [health.lastPublished?.toISOString() ?? "never"]),
    ]),
  );
};

const status: AdhocCommand = { node: "status", name: "Agent status", needs: "read", start: statusResult, advance: statusResult };

const historyForm = ({ operator, proceed }: CommandContext, problem?: string): Element =>
  proceed(
    COMPLETE_ONLY,
    ...(problem ? [note("error", problem)] : []),
    form("form", "History of a sensor", "Choose a sensor and how far back to look.", [
      field("node", "list-single", "Sensor", [], ...operator.nodeIds.map((id) => option(id))),
      field("duration", "text-single", "Duration (e.g. 30m, 6h, 2d)", [formatDuration(DEFAULT_HISTORY_MS)]),
      field(CHART_FIELD, "text-single", "Chart of (a value, e.g. temperature; empty: the first)", []),
    ]),
  );

/** The history form's field naming the value to chart. */
const CHART_FIELD = "chart";

/** Uploads the chart of one value and shows it in the chat: a result field with its URL, or why there is none. */
async function chartOf(context: CommandContext, chart: { nodeId: string; field: string; durationMs: number; now: Date }): Promise<{ fields: Element[]; line: string }> {
  const posted = await postChart(context.operator, context.picture?.upload, chart);
  if (!posted.ok) return { fields: [], line: `No chart: ${posted.reason}.` };
  context.picture?.show(posted.url);
  return { fields: [field(CHART_FIELD, "text-single", `Chart of ${chart.field}`, [posted.url])], line: `Chart of ${chart.field} (also sent to you in a chat message): ${posted.url}` };
}

const history: AdhocCommand = {
  node: "history",
  name: "History of a sensor",
  needs: "read",
  start: (context) => historyForm(context),
  advance: async (context, _action, values) => {
    const { operator, now, finish } = context;
    const [node = ""] = values.get("node") ?? [];
    const [durationText = formatDuration(DEFAULT_HISTORY_MS)] = values.get("duration") ?? [];
    if (!operator.nodeIds.includes(node)) return historyForm(context, `Choose a sensor (${operator.nodeIds.join(", ")}).`);
    const durationMs = parseDuration(durationText);
    if (durationMs === undefined || durationMs <= 0 || durationMs > MAX_HISTORY_MS) {
      return historyForm(context, `'${durationText}' is not a duration such as 30m, 6h or 2d (at most a year).`);
    }
    const at = now();
    const summary = await operator.history(node, durationMs, at);
    const fields = [
      field("from", "text-single", "From", [summary.from.toISOString()]),
      field("to", "text-single", "To", [summary.to.toISOString()]),
      field("period", "text-single", "Averaged per", [summary.period.toLowerCase()]),
    ];
    for (const series of summary.series) {
      const label = (what: string) => `${series.name} ${what}${series.unit ? ` (${series.unit})` : ""}`;
      fields.push(
        field(`${series.name}.min`, "text-single", label("min"), [series.min.toFixed(series.decimals)]),
        field(`${series.name}.max`, "text-single", label("max"), [series.max.toFixed(series.decimals)]),
        field(`${series.name}.avg`, "text-single", label("avg"), [series.avg.toFixed(series.decimals)]),
        ...(series.last ? [field(`${series.name}.last`, "text-single", label("last"), [formatFieldValue(series.last)])] : []),
        field(`${series.name}.sparkline`, "text-single", `${series.name} trend`, [sparkline(series.slots)]),
      );
    }
    const [wanted = ""] = values.get(CHART_FIELD) ?? [];
    const charted = wanted.trim() || summary.series[0]?.name;
    const chart = charted === undefined ? undefined : await chartOf(context, { nodeId: node, field: charted, durationMs, now: at });
    const text = [renderHistory(summary, durationMs, { now: at }), ...(chart ? [chart.line] : [])].join("\n");
    return finish(note("info", text), form("result", `History of ${node}`, undefined, [...fields, ...(chart?.fields ?? [])]));
  },
};

const chooseActuator = async ({ operator, session, proceed, finish }: CommandContext): Promise<Element> => {
  const available = await operator.control.getForm();
  if (!available.ok) return finish(note("error", available.text));
  if (available.nodeIds.length === 0) return finish(note("error", "No actuator is available."));
  session.stage = "choose";
  return proceed(
    { execute: "next", allowed: ["next"] },
    form("form", "Set an actuator", "Choose the actuator to set.", [
      field("node", "list-single", "Actuator", session.actuator ? [session.actuator] : [], ...available.nodeIds.map((id) => option(id))),
    ]),
  );
};

const parametersForm = async ({ operator, session, proceed, finish }: CommandContext, problem?: string): Promise<Element> => {
  const actuator = session.actuator ?? "";
  const current = await operator.control.getForm([actuator]);
  if (!current.ok) return finish(note("error", current.text));
  session.stage = "parameters";
  // The XEP-0325 form, titled for this actuator; its xdd session field is harmless here and ignored on submit.
  const form = formElement(current.parameters, `Set ${actuator}`);
  form.append(field(FOR_FIELD, "text-single", "For (a duration such as 10m, then back; empty: keep)", []));
  return proceed({ execute: "complete", allowed: ["prev", "complete"] }, ...(problem ? [note("error", problem)] : []), form);
};

/** The parameters form's field for a timed set; not a parameter name, as a name with a colon is not one. */
const FOR_FIELD = "xedge:for";

const setFor = async (context: CommandContext, values: ReadonlyMap<string, readonly string[]>, durationText: string): Promise<Element> => {
  const { operator, session, finish } = context;
  const actuator = session.actuator ?? "";
  const durationMs = parseDuration(durationText);
  if (durationMs === undefined || durationMs <= 0 || durationMs > MAX_TIMED_MS) {
    return parametersForm(context, `'${durationText}' is not a duration such as 30s, 10m or 2h (at most ${formatDuration(MAX_TIMED_MS)}).`);
  }
  const parameters = formParameters([...values].filter(([name]) => name !== FOR_FIELD));
  const current = await operator.control.getForm([actuator]);
  const before = new Map(current.ok ? current.parameters.map((parameter) => [parameter.spec.name, parameter.value]) : []);
  const changed = parameters.length === 1 ? parameters : parameters.filter((parameter) => before.get(parameter.name) !== parameter.value);
  const [only] = changed;
  if (!only || changed.length > 1) return parametersForm(context, "A timed set switches one parameter: change just one, or leave the duration empty.");
  const timed = await operator.timed.setFor(actuator, only.name, only.value, durationMs, "adhoc");
  if ("action" in timed) {
    const { action } = timed;
    const back = `back to ${action.revertValue} at ${new Date(action.dueAt).toISOString()}`;
    return finish(note("info", `Applied: ${actuator} ${action.parameter} = ${action.setValue} for ${formatDuration(durationMs)}, then ${back}.`));
  }
  if (timed.result.kind === "bad-request") return parametersForm(context, timed.result.text);
  return finish(note("error", `Not applied: ${timed.result.text}`));
};

const set: AdhocCommand = {
  node: "set",
  name: "Set an actuator",
  needs: "control",
  start: chooseActuator,
  advance: async (context, step, values) => {
    const { operator, session, finish } = context;
    if (session.stage === "choose") {
      const [node = ""] = values.get("node") ?? [];
      if (node === "") return chooseActuator(context);
      session.actuator = node;
      return parametersForm(context);
    }
    if (step === "prev") return chooseActuator(context);
    const [durationText = ""] = values.get(FOR_FIELD) ?? [];
    if (durationText.trim() !== "") return setFor(context, values, durationText.trim());
    const parameters = formParameters([...values].filter(([name]) => name !== FOR_FIELD));
    if (parameters.length === 0) return parametersForm(context, "Fill in at least one parameter.");
    const actuator = session.actuator ?? "";
    const running = parameters.flatMap((parameter) => operator.timed.find(actuator, parameter.name) ?? []);
    const result = await operator.control.set({ nodeIds: [actuator], values: parameters }, "adhoc");
    if (result.ok) {
      const applied = result.applied.map((item) => `${item.nodeId} ${item.name} = ${String(item.value)}`).join(", ");
      const replaced = running.map((action) => ` This replaces the timer that would have switched ${action.parameter} back to ${action.revertValue} at ${new Date(action.dueAt).toISOString()}.`);
      return finish(note("info", `Applied: ${applied}.${replaced.join("")}`));
    }
    if (result.kind === "bad-request") return parametersForm(context, result.text);
    return finish(note("error", `Not applied: ${result.text}`));
  },
};

const auditForm = ({ proceed }: CommandContext, problem?: string): Element =>
  proceed(
    COMPLETE_ONLY,
    ...(problem ? [note("error", problem)] : []),
    form("form", "Audit trail", "Who set what or pushed a config, and how it ended; the newest last.", [
      field("entries", "text-single", `Entries (1 to ${MAX_AUDIT_ENTRIES})`, [String(DEFAULT_AUDIT_ENTRIES)]),
    ]),
  );

const audit: AdhocCommand = {
  node: "audit",
  name: "Audit trail",
  needs: "control",
  start: (context) => auditForm(context),
  advance: async (context, _step, values) => {
    const { operator, now, finish } = context;
    const [text = String(DEFAULT_AUDIT_ENTRIES)] = values.get("entries") ?? [];
    const entries = parseAuditEntries(text);
    if (entries === undefined) return auditForm(context, `'${text}' is not a number from 1 to ${MAX_AUDIT_ENTRIES}.`);
    const answer = await operator.audit(entries);
    if (!answer.ok) return finish(note("error", answer.text));
    const format = { now: now() };
    return finish(
      note("info", renderAudit(answer.records, answer.complete, format)),
      form("result", "Audit trail", undefined, [field("entries", "text-multi", "Entries, newest last", answer.records.map((record) => auditLine(record, format)))]),
    );
  },
};

/** A config file as a text-multi field: one value per line. */
const configLines = (text: string): string[] => text.replace(/\n$/, "").split("\n");

const fetchConfig = ({ operator, finish }: CommandContext): Element => {
  const fetched = operator.config.fetch();
  if (!fetched.ok) return finish(note("error", fetched.text));
  return finish(
    note("info", `The running config, ${fetched.file}; an inline password is not shown.`),
    form("result", "Configuration", undefined, [field("config", "text-multi", "Configuration (YAML)", configLines(fetched.text))]),
  );
};

const configFetch: AdhocCommand = { node: "config", name: "Fetch the configuration", needs: "admin", start: fetchConfig, advance: fetchConfig };

const pushForm = ({ proceed, finish }: CommandContext, lines: readonly string[], problems: readonly string[] = []): Element =>
  lines.length === 0
    ? finish(note("error", "No config to start from."))
    : proceed(
        COMPLETE_ONLY,
        ...problems.map((problem) => note("error", problem)),
        form("form", "Push a configuration", "The whole config file. It is checked as a local file is, then written and applied; new connection settings that leave the gateway offline are rolled back.", [
          field("config", "text-multi", "Configuration (YAML)", lines),
          field("acceptInlineSecrets", "boolean", "Accept an inline xmpp.password (otherwise name a passwordFile on the gateway)", ["false"]),
        ]),
      );

const configPush: AdhocCommand = {
  node: "config-push",
  name: "Push a configuration",
  needs: "admin",
  start: (context) => {
    const fetched = context.operator.config.fetch();
    if (!fetched.ok) return context.finish(note("error", fetched.text));
    return pushForm(context, configLines(fetched.text));
  },
  advance: async (context, _step, values) => {
    const lines = values.get("config") ?? [];
    const [accept = "false"] = values.get("acceptInlineSecrets") ?? [];
    const result = await context.operator.config.push(`${lines.join("\n")}\n`, { acceptInlineSecrets: accept === "true" || accept === "1" }, "adhoc");
    const [headline = "", ...details] = renderPush(result);
    // Problems in the config come back with the form, so the admin can fix them where they typed.
    if (!result.ok && result.kind === "invalid") return pushForm(context, lines, details);
    return context.finish(note(result.ok ? "info" : "error", [headline, ...details].join("\n")));
  },
};

const CONDITIONS = ["above", "below", "failing"] as const;

const watchForm = ({ operator, proceed }: CommandContext, problem?: string): Element =>
  proceed(
    COMPLETE_ONLY,
    ...(problem ? [note("error", problem)] : []),
    form("form", "Watch a sensor", "You get a chat message when the condition starts to hold and when it stops.", [
      field("node", "list-single", "Sensor", [], ...operator.nodeIds.map((id) => option(id))),
      field("field", "text-single", "Field (e.g. temperature; empty for failing)", []),
      field("condition", "list-single", "Condition", ["above"], ...CONDITIONS.map((kind) => option(kind))),
      field("value", "text-single", "Value", []),
      field("for", "text-single", `Held for (a duration such as 5m; empty: at once; at most ${formatDuration(MAX_WATCH_FOR_MS)})`, []),
    ]),
  );

const watch: AdhocCommand = {
  node: "watch",
  name: "Watch a sensor",
  needs: "read",
  start: (context) => watchForm(context),
  advance: async (context, _step, values) => {
    const one = (name: string) => (values.get(name) ?? [])[0]?.trim() ?? "";
    const [sensorId, fieldName, kind, valueText, forText] = [one("node"), one("field"), one("condition"), one("value"), one("for")];
    const forMs = forText === "" ? 0 : parseDuration(forText);
    if (forMs === undefined || forMs > MAX_WATCH_FOR_MS) return watchForm(context, `'${forText}' is not a duration such as 30s, 5m or 2h.`);
    const threshold = Number(valueText);
    let request: WatchRequest;
    if (kind === "failing") request = { sensorId, condition: { kind: "failing" }, forMs };
    else if (kind !== "above" && kind !== "below") return watchForm(context, `Choose a condition (${CONDITIONS.join(", ")}).`);
    else if (valueText === "" || !Number.isFinite(threshold)) return watchForm(context, `'${valueText}' is not a number.`);
    else if (fieldName === "") return watchForm(context, "Name the field to watch.");
    else request = { sensorId, field: fieldName, condition: { kind, threshold }, forMs };
    const result = await context.operator.watches.add(request);
    if (!result.ok) return watchForm(context, `Not watching: ${result.text}.`);
    return context.finish(note("info", `Watching ${watchLine(result.watch)}. 'unwatch ${result.watch.id}' ends it.`));
  },
};

const listWatches = ({ operator, now, finish }: CommandContext): Promise<Element> =>
  answerWatch(operator, { name: "watches" }, { now: now() }).then((text) => finish(note("info", text)));

const watches: AdhocCommand = { node: "watches", name: "List watches", needs: "read", start: listWatches, advance: listWatches };

const unwatchForm = ({ operator, proceed, finish }: CommandContext, problem?: string): Element => {
  const mine = operator.watches.list();
  if (mine.length === 0) return finish(note("info", "No watches."));
  return proceed(
    COMPLETE_ONLY,
    ...(problem ? [note("error", problem)] : []),
    form("form", "Stop a watch", undefined, [field("watch", "list-single", "Watch", [], ...mine.map((item) => option(String(item.id), watchLine(item))))]),
  );
};

const unwatch: AdhocCommand = {
  node: "unwatch",
  name: "Stop a watch",
  needs: "read",
  start: (context) => unwatchForm(context),
  advance: async (context, _step, values) => {
    const id = parseWatchId((values.get("watch") ?? [])[0]);
    if (id === undefined) return unwatchForm(context, "Choose a watch.");
    const result = await context.operator.watches.remove(id);
    return result.ok ? context.finish(note("info", `Stopped watch ${watchLine(result.watch)}.`)) : unwatchForm(context, `Sorry, ${result.text}.`);
  },
};

/** Every command, in the order a client's menu lists them. */
export const ADHOC_COMMANDS: readonly AdhocCommand[] = [read, set, status, history, audit, watch, watches, unwatch, configFetch, configPush];

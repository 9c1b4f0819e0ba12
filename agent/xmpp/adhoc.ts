// XEP-0050 ad-hoc commands: read, set, status and history as data forms, for clients with a commands menu
// (Gajim, Psi, Profanity's /cmd). The work is Readout's, Control's and chat-commands' history and health;
// this face holds the sessions and renders forms.
//
// Decisions:
// - The command list is tailored to the requester (XEP-0050 §2.2 lets it): strangers see an empty list and
//   item-not-found for a command node's info; read operators do not see `set`. Executing what one may not
//   gets forbidden.
// - `set` has two stages: choose the actuator (next), then its parameters with their current values, types and
//   ranges, the form XEP-0325 getForm gives (complete). A value Control refuses as malformed re-shows that form
//   with the error; anything else ends the command with an error note.
// - Sessions belong to the full JID that started them and expire after `sessionTimeoutMs` of inactivity; an
//   expired one answers session-expired until it is swept, an unknown one bad-sessionid.
import { randomUUID } from "node:crypto";
import { xml, type Element } from "./client.ts";
import type { DiscoInfo } from "./caps.ts";
import type { DiscoItem, XmppConnection } from "./connection.ts";
import { formElement } from "./control.ts";
import type { Authz, Role } from "../authz.ts";
import type { Control } from "../control.ts";
import type { Readout } from "../readout.ts";
import { formatFieldValue, type Field } from "../../lib/model.ts";
import { parseDuration, formatDuration } from "../../lib/duration.ts";
import { DEFAULT_HISTORY_MS, MAX_HISTORY_MS, historySummary, renderCurrent, renderHistory, renderStatus, type AgentStatus } from "../chat-commands.ts";
import { span, sparkline } from "../../lib/text.ts";
import { errorText, type Logger } from "../log.ts";

export const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
/** Form fields that carry no control parameter. */
const NOT_PARAMETERS = new Set(["FORM_TYPE", "xdd session"]);

export const COMMAND_NODES = [
  { node: "read", name: "Read current values", needs: "read" },
  { node: "set", name: "Set an actuator", needs: "control" },
  { node: "status", name: "Agent status", needs: "read" },
  { node: "history", name: "History of a sensor", needs: "read" },
] as const satisfies readonly { node: string; name: string; needs: Role }[];
type CommandNode = (typeof COMMAND_NODES)[number]["node"];

export const SESSION_LIMITS = { total: 256, perRequester: 8 };

export interface AdhocDeps {
  readout: Pick<Readout, "nodeIds" | "read">;
  control: Pick<Control, "set" | "getForm">;
  status: () => AgentStatus;
  authz: Pick<Authz, "canRead" | "canControl">;
  log: Logger;
  sessionTimeoutMs?: number;
  now?: () => Date;
}

interface Session {
  id: string;
  requester: string;
  node: CommandNode;
  stage: "choose" | "parameters";
  /** The actuator chosen in `set`'s first stage. */
  actuator?: string;
  expiresAt: number;
}

type Action = "execute" | "next" | "prev" | "complete" | "cancel";
const ACTIONS = new Set<string>(["execute", "next", "prev", "complete", "cancel"]);

function commandError(type: string, condition: string, text?: string, specific?: string): Element {
  return xml(
    "error",
    { type },
    xml(condition, { xmlns: NS_STANZAS }),
    ...(specific ? [xml(specific, { xmlns: NS_COMMANDS })] : []),
    ...(text ? [xml("text", { xmlns: NS_STANZAS }, text)] : []),
  );
}

function field(variable: string, type: string, label: string | undefined, values: readonly string[], ...children: Element[]): Element {
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

/** The values of a submitted form, by field var. */
function submitted(command: Element): Map<string, string[]> {
  const values = new Map<string, string[]>();
  const x = command.getChildren("x", NS_DATA).find((candidate) => candidate.attrs.type === "submit");
  for (const item of x?.getChildren("field") ?? []) {
    values.set(String(item.attrs.var ?? ""), item.getChildren("value").map((value) => value.text()));
  }
  return values;
}

function unitLabel(nodeId: string, item: Field): string {
  const unit = item.type === "numeric" || item.type === "int" ? item.unit : undefined;
  return `${nodeId} ${item.name}${unit ? ` (${unit})` : ""}`;
}

export function registerAdhoc(connection: Pick<XmppConnection, "route" | "addDiscoNodes">, deps: AdhocDeps): void {
  const { readout, control, authz, log } = deps;
  const timeoutMs = deps.sessionTimeoutMs ?? 10 * 60_000;
  const now = () => deps.now?.() ?? new Date();
  const sessions = new Map<string, Session>();

  const visible = (from: string) => COMMAND_NODES.filter((command) => (command.needs === "control" ? authz.canControl(from) : authz.canRead(from)));

  connection.addDiscoNodes({
    items: (node, from): DiscoItem[] | undefined => {
      if (node !== NS_COMMANDS) return undefined;
      return visible(from).map((command) => ({ node: command.node, name: command.name }));
    },
    info: (node, from): DiscoInfo | undefined => {
      if (node === NS_COMMANDS) return { identities: [{ category: "automation", type: "command-list" }], features: [] };
      const command = visible(from).find((candidate) => candidate.node === node);
      if (!command) return undefined;
      return { identities: [{ category: "automation", type: "command-node", name: command.name }], features: [NS_COMMANDS, NS_DATA] };
    },
  });

  const reply = (session: Session, status: "executing" | "completed" | "canceled", ...children: Element[]) =>
    xml("command", { xmlns: NS_COMMANDS, node: session.node, sessionid: session.id, status }, ...children);

  const finish = (session: Session, ...children: Element[]) => {
    sessions.delete(session.id);
    return reply(session, "completed", ...children);
  };

  const actions = (execute: "next" | "complete", ...allowed: ("prev" | "next" | "complete")[]) =>
    xml("actions", { execute }, ...allowed.map((name) => xml(name)));

  const sweep = () => {
    // Expired sessions linger one more timeout so their owner hears session-expired rather than bad-sessionid.
    const cutoff = now().getTime() - timeoutMs;
    for (const [id, session] of sessions) if (session.expiresAt < cutoff) sessions.delete(id);
  };

  /** The first answer of a command: a form to fill in, or the result of one that needs nothing. */
  const start = async (session: Session): Promise<Element> => {
    switch (session.node) {
      case "read":
        return reply(
          session,
          "executing",
          actions("complete", "complete"),
          form("form", "Read current values", "Choose the sensors and actuators to read; none means all.", [
            field("nodes", "list-multi", "Nodes", [], ...readout.nodeIds.map((id) => option(id))),
          ]),
        );
      case "history":
        return historyForm(session);
      case "status":
        return status(session);
      case "set":
        return chooseActuator(session, session.requester);
    }
  };

  const historyForm = (session: Session, problem?: string) =>
    reply(
      session,
      "executing",
      actions("complete", "complete"),
      ...(problem ? [note("error", problem)] : []),
      form("form", "History of a sensor", "Choose a sensor and how far back to look.", [
        field("node", "list-single", "Sensor", [], ...readout.nodeIds.map((id) => option(id))),
        field("duration", "text-single", "Duration (e.g. 30m, 6h, 2d)", [formatDuration(DEFAULT_HISTORY_MS)]),
      ]),
    );

  const chooseActuator = async (session: Session, from: string): Promise<Element> => {
    const available = await control.getForm(from);
    if (!available.ok) return finish(session, note("error", available.text));
    if (available.nodeIds.length === 0) return finish(session, note("error", "No actuator is available."));
    session.stage = "choose";
    return reply(
      session,
      "executing",
      actions("next", "next"),
      form("form", "Set an actuator", "Choose the actuator to set.", [
        field("node", "list-single", "Actuator", session.actuator ? [session.actuator] : [], ...available.nodeIds.map((id) => option(id))),
      ]),
    );
  };

  const parametersForm = async (session: Session, from: string, problem?: string): Promise<Element> => {
    const actuator = session.actuator ?? "";
    const current = await control.getForm(from, [actuator]);
    if (!current.ok) return finish(session, note("error", current.text));
    session.stage = "parameters";
    // The XEP-0325 form, titled for this actuator; its xdd session field is harmless here and ignored on submit.
    const controlForm = formElement(current.parameters);
    const titled = xml("x", controlForm.attrs, xml("title", {}, `Set ${actuator}`), ...controlForm.getChildElements().filter((child) => child.name !== "title"));
    return reply(session, "executing", actions("complete", "prev", "complete"), ...(problem ? [note("error", problem)] : []), titled);
  };

  const status = (session: Session): Element => {
    const health = deps.status();
    const at = now();
    const failing = health.sensors.filter((sensor) => sensor.error !== undefined);
    return finish(
      session,
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

  const readResult = async (session: Session, values: Map<string, string[]>): Promise<Element> => {
    const chosen = (values.get("nodes") ?? []).filter((id) => id !== "");
    const unknown = chosen.filter((id) => !readout.nodeIds.includes(id));
    if (unknown.length > 0) return finish(session, note("error", `No node ${unknown.join(", ")}. Known: ${readout.nodeIds.join(", ")}.`));
    const result = await readout.read({ nodeIds: chosen, types: new Set() });
    const fields = result.groups.flatMap((group) =>
      group.fields.map((item) => field(`${group.nodeId}.${item.name}`, item.type === "boolean" ? "boolean" : "text-single", unitLabel(group.nodeId, item), [formatFieldValue(item)])),
    );
    const failures = renderCurrent(readout.nodeIds, [], result.failures, { now: now() });
    return finish(session, ...(failures ? [note("warn", failures)] : []), form("result", "Current values", undefined, fields));
  };

  const historyResult = async (session: Session, values: Map<string, string[]>): Promise<Element> => {
    const [node = ""] = values.get("node") ?? [];
    const [durationText = formatDuration(DEFAULT_HISTORY_MS)] = values.get("duration") ?? [];
    if (!readout.nodeIds.includes(node)) return historyForm(session, `Choose a sensor (${readout.nodeIds.join(", ")}).`);
    const durationMs = parseDuration(durationText);
    if (durationMs === undefined || durationMs <= 0 || durationMs > MAX_HISTORY_MS) {
      return historyForm(session, `'${durationText}' is not a duration such as 30m, 6h or 2d (at most a year).`);
    }
    const at = now();
    const summary = await historySummary(readout, node, durationMs, at);
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
    return finish(session, note("info", renderHistory(summary, durationMs, { now: at })), form("result", `History of ${node}`, undefined, fields));
  };

  const setStep = async (session: Session, action: Action, values: Map<string, string[]>, from: string): Promise<Element> => {
    if (session.stage === "choose") {
      const [node = ""] = values.get("node") ?? [];
      if (node === "") return chooseActuator(session, from);
      session.actuator = node;
      return parametersForm(session, from);
    }
    if (action === "prev") return chooseActuator(session, from);
    const parameters = [...values.entries()]
      .filter(([name, value]) => !NOT_PARAMETERS.has(name) && value.length > 0)
      .map(([name, [value = ""]]) => ({ name, value }));
    if (parameters.length === 0) return parametersForm(session, from, "Fill in at least one parameter.");
    const result = await control.set(from, { nodeIds: [session.actuator ?? ""], values: parameters }, "adhoc");
    if (result.ok) {
      const applied = result.applied.map((item) => `${item.nodeId} ${item.name} = ${String(item.value)}`).join(", ");
      return finish(session, note("info", `Applied: ${applied}.`));
    }
    if (result.kind === "bad-request") return parametersForm(session, from, result.text);
    return finish(session, note("error", `Not applied: ${result.text}`));
  };

  const advance = async (session: Session, action: Action, command: Element, from: string): Promise<Element> => {
    const values = submitted(command);
    switch (session.node) {
      case "read":
        return readResult(session, values);
      case "history":
        return historyResult(session, values);
      case "set":
        return setStep(session, action, values, from);
      case "status":
        return status(session);
    }
  };

  connection.route(
    {
      type: "set",
      ns: NS_COMMANDS,
      name: "command",
      handler: async ({ element, from }) => {
        const node = String(element.attrs.node ?? "");
        const action = String(element.attrs.action ?? "execute");
        const sessionId = element.attrs.sessionid as string | undefined;
        if (!authz.canRead(from)) return commandError("cancel", "forbidden", "not an operator of this gateway");
        const spec = COMMAND_NODES.find((command) => command.node === node);
        if (!spec) return commandError("cancel", "item-not-found", `no command ${node}`);
        if (spec.needs === "control" && !authz.canControl(from)) {
          return commandError("cancel", "forbidden", "this command needs the control role; this operator has read only");
        }
        if (!ACTIONS.has(action)) return commandError("modify", "bad-request", `unknown action ${action}`, "malformed-action");
        sweep();

        let session: Session;
        if (sessionId === undefined) {
          if (action !== "execute") return commandError("modify", "bad-request", `${action} needs a session; start with execute`, "bad-sessionid");
          const mine = [...sessions.values()].filter((candidate) => candidate.requester === from).length;
          if (sessions.size >= SESSION_LIMITS.total || mine >= SESSION_LIMITS.perRequester) {
            return commandError("wait", "resource-constraint", "too many open command sessions; finish or cancel one");
          }
          session = { id: randomUUID(), requester: from, node: spec.node, stage: "choose", expiresAt: now().getTime() + timeoutMs };
          sessions.set(session.id, session);
          try {
            return await start(session);
          } catch (error) {
            sessions.delete(session.id);
            throw error;
          }
        }
        const found = sessions.get(sessionId);
        if (!found || found.requester !== from || found.node !== node) {
          return commandError("modify", "bad-request", `no session ${sessionId} of ${node} for you`, "bad-sessionid");
        }
        session = found;
        if (session.expiresAt < now().getTime()) {
          sessions.delete(session.id);
          return commandError("cancel", "not-allowed", "the session expired; execute the command again", "session-expired");
        }
        if (action === "cancel") {
          sessions.delete(session.id);
          return reply(session, "canceled");
        }
        session.expiresAt = now().getTime() + timeoutMs;
        try {
          return await advance(session, action as Action, element, from);
        } catch (error) {
          log.error("ad-hoc command failed", { from, node, error: errorText(error) });
          return finish(session, note("error", `Failed: ${errorText(error)}`));
        }
      },
    },
    NS_COMMANDS,
  );
}

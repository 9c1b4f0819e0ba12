// XEP-0050 ad-hoc commands: read, set, status, history, the audit trail and the config as data forms, for clients
// with a commands menu (Gajim, Psi, Profanity's /cmd). Each command is a descriptor in adhoc-commands.ts; this
// face holds the sessions and asks the operator desk who may run what, once for every command.
//
// Decisions:
// - The command list is tailored to the requester (XEP-0050 §2.2 lets it): strangers see an empty list and
//   item-not-found for a command node's info; read operators see neither `set` nor `audit`, and only admins see
//   `config` and `config-push`. Executing what one may not gets forbidden.
// - Sessions belong to the full JID that started them and expire after `sessionTimeoutMs` of inactivity; an
//   expired one answers session-expired until it is swept, an unknown one bad-sessionid.
// - A session moves only by the steps its last reply offered in <actions> (XEP-0050: execute means the offered
//   default, cancel is always allowed); any other step is bad-action and the session stays as it was.
import { randomUUID } from "node:crypto";
import { xml, type Element } from "./client.ts";
import type { DiscoInfo } from "./caps.ts";
import type { DiscoItem } from "./connection.ts";
import type { Face, FaceConnection } from "./face.ts";
import { stanzaError, type ErrorType } from "./stanza-error.ts";
import {
  ADHOC_COMMANDS,
  NS_COMMANDS,
  NS_DATA,
  type Action,
  type AdhocCommand,
  type CommandContext,
  type CommandSession,
  type OfferedActions,
} from "./adhoc-commands.ts";
import { allows, type OperatorDesk } from "../operator/desk.ts";
import { errorText, type Logger } from "../log.ts";
import type { HttpUpload } from "./upload.ts";

export { NS_COMMANDS } from "./adhoc-commands.ts";


export const SESSION_LIMITS = { total: 256, perRequester: 8 };

export interface AdhocDeps {
  desk: Pick<OperatorDesk, "for">;
  log: Logger;
  /** Where the history command uploads its chart and how it shows it (upload.ts); without it no chart is drawn. */
  upload?: Pick<HttpUpload, "upload" | "show">;
  sessionTimeoutMs?: number;
  now?: () => Date;
}

const ACTIONS: readonly string[] = ["execute", "next", "prev", "complete", "cancel"] satisfies Action[];
const isAction = (action: string): action is Action => ACTIONS.includes(action);

function commandError(type: ErrorType, condition: string, text?: string, specific?: string): Element {
  return stanzaError(type, condition, text, specific ? xml(specific, { xmlns: NS_COMMANDS }) : undefined);
}

function actionsElement({ execute, allowed }: OfferedActions): Element {
  return xml("actions", { execute }, ...allowed.map((step) => xml(step)));
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

export function registerAdhoc(connection: Pick<FaceConnection, "route" | "addDiscoNodes">, deps: AdhocDeps): Face {
  const { desk, log, upload } = deps;
  const timeoutMs = deps.sessionTimeoutMs ?? 10 * 60_000;
  const now = () => deps.now?.() ?? new Date();
  const sessions = new Map<string, CommandSession>();

  const visible = (from: string): AdhocCommand[] => {
    const operator = desk.for(from);
    return operator.admitted ? ADHOC_COMMANDS.filter((command) => allows(operator.role, command.needs)) : [];
  };

  connection.addDiscoNodes({
    items: (node, from): DiscoItem[] | undefined => {
      if (node !== NS_COMMANDS) return undefined;
      return visible(from).map((command) => ({ node: command.node, name: command.name }));
    },
    info: (node, from): DiscoInfo | undefined => {
      // The list's own info names the commands feature too, for clients that check a node's features first.
      if (node === NS_COMMANDS) return { identities: [{ category: "automation", type: "command-list" }], features: [NS_COMMANDS] };
      const command = visible(from).find((candidate) => candidate.node === node);
      if (!command) return undefined;
      return { identities: [{ category: "automation", type: "command-node", name: command.name }], features: [NS_COMMANDS, NS_DATA] };
    },
  });

  const reply = (session: CommandSession, status: "executing" | "completed" | "canceled", ...children: Element[]) =>
    xml("command", { xmlns: NS_COMMANDS, node: session.node, sessionid: session.id, status }, ...children);

  const contextOf = (operator: CommandContext["operator"], session: CommandSession): CommandContext => ({
    operator,
    session,
    now,
    proceed: (offered, ...children) => {
      session.offered = offered;
      return reply(session, "executing", actionsElement(offered), ...children);
    },
    finish: (...children) => {
      sessions.delete(session.id);
      return reply(session, "completed", ...children);
    },
    // A result form cannot show a picture inline; a chat message with out-of-band data can.
    ...(upload ? { picture: { upload, show: (url: string) => upload.show(session.requester, url) } } : {}),
  });

  const sweep = () => {
    // Expired sessions linger one more timeout so their owner hears session-expired rather than bad-sessionid.
    const cutoff = now().getTime() - timeoutMs;
    for (const [id, session] of sessions) if (session.expiresAt < cutoff) sessions.delete(id);
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
        const operator = desk.for(from);
        if (!operator.admitted) return commandError("cancel", "forbidden", "not an operator of this gateway");
        const command = ADHOC_COMMANDS.find((candidate) => candidate.node === node);
        if (!command) return commandError("cancel", "item-not-found", `no command ${node}`);
        if (!allows(operator.role, command.needs)) {
          const has = operator.role === "read" ? "read only" : operator.role;
          return commandError("cancel", "forbidden", `this command needs the ${command.needs} role; this operator has ${has}`);
        }
        if (!isAction(action)) return commandError("modify", "bad-request", `unknown action ${action}`, "malformed-action");
        sweep();

        if (sessionId === undefined) {
          if (action !== "execute") return commandError("modify", "bad-request", `${action} needs a session; start with execute`, "bad-sessionid");
          const mine = [...sessions.values()].filter((candidate) => candidate.requester === from).length;
          if (sessions.size >= SESSION_LIMITS.total || mine >= SESSION_LIMITS.perRequester) {
            return commandError("wait", "resource-constraint", "too many open command sessions; finish or cancel one");
          }
          const session: CommandSession = { id: randomUUID(), requester: from, node: command.node, stage: "choose", expiresAt: now().getTime() + timeoutMs };
          sessions.set(session.id, session);
          try {
            return await command.start(contextOf(operator, session));
          } catch (error) {
            sessions.delete(session.id);
            throw error;
          }
        }
        const session = sessions.get(sessionId);
        if (!session || session.requester !== from || session.node !== node) {
          return commandError("modify", "bad-request", `no session ${sessionId} of ${node} for you`, "bad-sessionid");
        }
        if (session.expiresAt < now().getTime()) {
          sessions.delete(session.id);
          return commandError("cancel", "not-allowed", "the session expired; execute the command again", "session-expired");
        }
        if (action === "cancel") {
          sessions.delete(session.id);
          return reply(session, "canceled");
        }
        const step = action === "execute" ? session.offered?.execute : action;
        if (step === undefined || !session.offered?.allowed.includes(step)) {
          const offered = session.offered?.allowed.join(", ") ?? "nothing";
          return commandError("modify", "bad-request", `${action} is not offered at this stage (offered: ${offered}, cancel)`, "bad-action");
        }
        session.expiresAt = now().getTime() + timeoutMs;
        try {
          return await command.advance(contextOf(operator, session), step, submitted(element));
        } catch (error) {
          log.error("ad-hoc command failed", { from, node, error: errorText(error) });
          return contextOf(operator, session).finish(xml("note", { type: "error" }, `Failed: ${errorText(error)}`));
        }
      },
    },
    NS_COMMANDS,
  );
  return { stop: () => sessions.clear() };
}

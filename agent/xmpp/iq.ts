// Sending an iq and awaiting its reply, and answering the iqs others send. xmpp.js's IQ caller attaches its rejection handler only after send()
// resolves, so an error reply that arrives first is an unhandled rejection that ends the process; it also
// matches replies by id alone. This one settles through a promise whose handlers exist from the start, and
// accepts a reply only from the entity the request went to.
import StanzaError from "@xmpp/middleware/lib/StanzaError.js";
import { TimeoutError } from "@xmpp/events";
import type { Element } from "@xmpp/xml";
import { xml, type Client } from "@xmpp/client-core";
import type { IncomingContext, Middleware } from "@xmpp/middleware";
import { randomUUID } from "node:crypto";
import { errorCondition, NS_STANZAS, stanzaError } from "./stanza-error.ts";

interface Pending {
  /** Who may answer: the request's `to`; for requests to our own account, also our server or no `from`. */
  from: Set<string>;
  settle: (reply: Element) => void;
}

export type IqRequest = (iq: Element, timeoutMs: number) => Promise<Element>;

export function iqRequester(entity: Client, middleware: Middleware<Client>): IqRequest {
  const pending = new Map<string, Pending>();

  middleware.use((context, next) => {
    const { stanza } = context;
    const { id, type, from } = stanza.attrs as { id?: string; type?: string; from?: string };
    const waiting = id === undefined ? undefined : pending.get(id);
    if (stanza.name !== "iq" || (type !== "result" && type !== "error") || !waiting) return next();
    const bare = (from ?? "").split("/")[0] ?? "";
    if (!waiting.from.has(from ?? "") && !waiting.from.has(bare)) return next(); // a reply from someone else: not ours
    waiting.settle(stanza);
    return undefined;
  });

  return (iq, timeoutMs) => {
    const id = (iq.attrs.id as string | undefined) ?? randomUUID();
    iq.attrs.id = id;
    const to = iq.attrs.to as string | undefined;
    const own = entity.jid?.bare().toString() ?? "";
    const ownDomain = own.split("@")[1] ?? "";
    // The server answers for our own account (and for itself) with or without a `from`.
    const forOwnAccount = to === undefined || to === own || to === ownDomain;
    const from = new Set(forOwnAccount ? ["", own, ownDomain, ...(to ? [to] : [])] : [to]);
    return new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new TimeoutError(`no reply to iq ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        from,
        settle: (reply) => {
          clearTimeout(timer);
          pending.delete(id);
          const error = reply.getChild("error");
          if (reply.attrs.type === "error") {
            reject(error ? errorOfReply(error) : new StanzaError("undefined-condition", "iq error without an <error/> element"));
          } else {
            resolve(reply);
          }
        },
      });
      entity.send(iq).catch((error: unknown) => {
        clearTimeout(timer);
        pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  };
}


/** What answers a get or set: the result's payload, `true` for an empty result, or an `<error/>`. */
export type IqHandler = (context: IncomingContext<Client> & { element: Element }) => Promise<Element | true> | Element | true;

export interface IqResponder {
  get(ns: string, name: string, handler: IqHandler): void;
  set(ns: string, name: string, handler: IqHandler): void;
}

/**
 * Answers every iq get and set with exactly one reply (RFC 6120 §8.2.3), as @xmpp/iq's callee does, but never
 * copies the request's payload into an error. The callee's copy made a payload nested a few thousand levels
 * deep overflow the serializer's stack, and the reply was lost without a trace (found by test/resilience/fuzz.test.ts).
 */
export function iqResponder(entity: Client, middleware: Middleware<Client>): IqResponder {
  const routes: { type: "get" | "set"; ns: string; name: string; handler: IqHandler }[] = [];

  const answer = async (context: IncomingContext<Client>, type: string): Promise<Element> => {
    const { stanza } = context;
    const reply = (payload: Element | true) => {
      const failed = payload !== true && payload.is("error");
      const attrs = { to: stanza.attrs.from as string | undefined, from: stanza.attrs.to as string | undefined, id: stanza.attrs.id as string | undefined };
      return xml("iq", { ...attrs, type: failed ? "error" : "result" }, ...(payload === true ? [] : [payload]));
    };
    const children = stanza.getChildElements();
    const [element] = children;
    if ((type !== "get" && type !== "set") || children.length !== 1 || !element) return reply(stanzaError("modify", "bad-request"));
    const route = routes.find((candidate) => candidate.type === type && element.is(candidate.name, candidate.ns));
    if (!route) return reply(stanzaError("cancel", "service-unavailable"));
    try {
      const payload = await route.handler(Object.assign(context, { element }));
      writeTogetherThisTurn(entity);
      return reply(payload);
    } catch (failure) {
      entity.emit("error", failure);
      return reply(stanzaError("cancel", "internal-server-error"));
    }
  };

  middleware.use((context, next) => {
    const { stanza } = context;
    const type = String(stanza.attrs.type ?? "");
    if (stanza.name !== "iq" || type === "result" || type === "error") return next();
    return answer(context, type);
  });

  return {
    get: (ns, name, handler) => void routes.push({ type: "get", ns, name, handler }),
    set: (ns, name, handler) => void routes.push({ type: "set", ns, name, handler }),
  };
}

/** The part of a socket (net or TLS) that holds writes back and lets them go together. */
interface Corkable {
  cork(): void;
  uncork(): void;
  writableCorked: number;
}

/**
 * Holds the socket's writes until the event loop's next check phase: an iq result and what its handler scheduled
 * with setImmediate to follow it (a XEP-0323 readout's data and end) leave in one TLS record and TCP segment, so
 * the server reads and routes them together instead of waiting for a segment per stanza. xmpp.js wraps the TLS
 * socket (`.socket`); a plain TCP connection is the socket itself.
 */
function writeTogetherThisTurn(entity: Client): void {
  const wrapper = entity.socket as unknown as (Partial<Corkable> & { socket?: Partial<Corkable> | null }) | null;
  const socket = [wrapper?.socket, wrapper].find(corkable);
  if (!socket || socket.writableCorked > 0) return;
  socket.cork();
  setImmediate(() => socket.uncork());
}

function corkable(socket: Partial<Corkable> | null | undefined): socket is Corkable {
  return typeof socket?.cork === "function" && typeof socket.uncork === "function" && typeof socket.writableCorked === "number";
}

/** The RFC 6120 error of a reply: its condition, text, application-specific child and type. */
function errorOfReply(element: Element): StanzaError {
  const children = element.getChildElements();
  const condition = errorCondition(element);
  const text = element.getChildText("text", NS_STANZAS) ?? undefined;
  const application = children.find((child) => child.attrs.xmlns !== NS_STANZAS);
  return new StanzaError(condition, text, application, element.attrs.type as string | undefined);
}

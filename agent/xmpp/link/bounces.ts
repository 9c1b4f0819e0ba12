// Stanzas the agent sends unprompted (an alert, an event notification) can come back as errors: the recipient's
// account is gone, or its server cannot be reached. Each goes out with an id that names its kind, `<kind>-<uuid>`,
// and an error stanza that comes back with such an id is handed to the one listener of that kind, the face that
// sent it, and to no other face.
import { randomUUID } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { errorCondition } from "../stanza-error.ts";

/**
 * What the agent says unprompted: alert messages, notifications of nf event subscriptions, and notices to one
 * operator (a timed switch back done, the outcome of a pushed config).
 */
export type UnpromptedKind = "alert" | "event" | "notice";

export interface Bounce {
  /** Who could not be reached: the error's sender, which servers set to the original stanza's recipient. */
  jid: string;
  /** The defined condition (RFC 6120 §8.3.3), e.g. remote-server-not-found. */
  condition: string;
  /** Whether the condition says the recipient is not there at all, rather than not reachable for now. */
  permanent: boolean;
}

/**
 * The conditions that say a recipient is not there and will not be (RFC 6120 §8.3.3, all of type cancel): no such
 * JID (item-not-found); no such account, which is what a server answers a message to one (service-unavailable,
 * RFC 6121 §8.1); a domain that does not exist or cannot be resolved (remote-server-not-found); an address given
 * up (gone). Any other is taken as passing: recipient-unavailable is "temporarily unavailable" by definition, and
 * remote-server-timeout, resource-constraint and policy-violation (a rate limit) are of type wait or may clear.
 */
const PERMANENT_CONDITIONS: ReadonlySet<string> = new Set(["item-not-found", "service-unavailable", "remote-server-not-found", "gone"]);

export function isPermanentCondition(condition: string): boolean {
  return PERMANENT_CONDITIONS.has(condition);
}

export class Bounces {
  /** By kind; looked up by the prefix of an id that came back, which may be anything. */
  private readonly listeners = new Map<string, (bounce: Bounce) => void>();

  /** Gives the stanza an id of `kind`'s; returns it. */
  mark(kind: UnpromptedKind, stanza: Element): Element {
    stanza.attrs.id = `${kind}-${randomUUID()}`;
    return stanza;
  }

  /** The face that sends `kind` hears its bounces; one listener per kind. */
  on(kind: UnpromptedKind, listener: (bounce: Bounce) => void): void {
    if (this.listeners.has(kind)) throw new Error(`bounces of ${kind} already have a listener`);
    this.listeners.set(kind, listener);
  }

  /** Hands an error that answers a marked stanza to its kind's listener; false for any other stanza. */
  route(stanza: Element): boolean {
    // An iq's error answers the iq's request, which its caller awaits.
    if (stanza.is("iq") || stanza.attrs.type !== "error") return false;
    const id = String(stanza.attrs.id ?? "");
    const dash = id.indexOf("-");
    const listener = dash > 0 ? this.listeners.get(id.slice(0, dash)) : undefined;
    if (!listener) return false;
    const condition = errorCondition(stanza.getChild("error"));
    listener({ jid: String(stanza.attrs.from ?? ""), condition, permanent: isPermanentCondition(condition) });
    return true;
  }
}

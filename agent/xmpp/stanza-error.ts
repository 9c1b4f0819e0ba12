// The `<error/>` a face answers with (RFC 6120 §8.3.2): its type, one defined condition, an optional text for
// people, then an optional application-specific element (XEP-0050's bad-action, XEP-0325's paramError, …). The
// iq responder wraps it in the error reply; every face builds it here, so the order of its children is one. And the
// condition of one that comes back to us.
import type { Element } from "@xmpp/xml";
import { xml } from "@xmpp/client-core";

export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** The defined condition of an `<error/>` someone sent us: its one child in the stanzas namespace other than text. */
export function errorCondition(error: Element | undefined): string {
  return error?.getChildElements().find((child) => child.attrs.xmlns === NS_STANZAS && child.name !== "text")?.name ?? "undefined-condition";
}

export function stanzaError(type: ErrorType, condition: string, text?: string, application?: Element): Element {
  return xml(
    "error",
    { type },
    xml(condition, { xmlns: NS_STANZAS }),
    ...(text !== undefined ? [xml("text", { xmlns: NS_STANZAS }, text)] : []),
    ...(application ? [application] : []),
  );
}

// XEP-0325 (IoT Control) face: `<set>` in an iq or a message, and `<getForm>`, translated to agent/control.ts.
// Replies follow the current text (empty-bodied setResponse, RFC 6120 errors with paramError) and add
// responseCode='OK' to setResponse, which slixmpp 1.8 needs to report success (docs/protocols.md).
import { xml, type Element } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { stanzaError, type ErrorType } from "./stanza-error.ts";
import { formElement, NS_DYNAMIC, submittedParameters } from "./control-form.ts";
import type { ControlFailure, ControlRequest, ControlValue } from "../control.ts";
import type { OperatorDesk } from "../operator/desk.ts";
import { errorText, type Logger } from "../log.ts";

export const NS_CONTROL = "urn:xmpp:iot:control";
const NS_DATA = "jabber:x:data";
const NS_DELAY = "urn:xmpp:delay";
/**
 * Element names peers send for a XEP-0325 type: Smack 4.4.8 (SetBoolData) writes `<bool>`; its `<int>`, `<long>`
 * and `<double>` are the XEP's own names.
 */
const TYPE_SYNONYMS: ReadonlyMap<string, string> = new Map([["bool", "boolean"]]);

/** Stanza error type and condition for each failure (XEP-0325 §"Error handling"). */
const ERRORS: Record<ControlFailure, { type: ErrorType; condition: string }> = {
  forbidden: { type: "cancel", condition: "forbidden" },
  "item-not-found": { type: "cancel", condition: "item-not-found" },
  "bad-request": { type: "modify", condition: "bad-request" },
  "feature-not-implemented": { type: "cancel", condition: "feature-not-implemented" },
  // The actuator may come back (a reload, a replugged device): wait + conflict says retry later, where
  // service-unavailable would say this entity offers no control at all.
  unavailable: { type: "wait", condition: "conflict" },
  failed: { type: "cancel", condition: "internal-server-error" },
  // Only messages come delayed, and they are never answered; an iq would be told it was too old to apply.
  delayed: { type: "cancel", condition: "not-acceptable" },
};

export interface ControlFaceDeps {
  desk: Pick<OperatorDesk, "for">;
  log: Logger;
}

/** What the face needs of the connection: iq routes, and the stanzas that arrive (a `<set>` in a message). */
type ControlConnection = Pick<FaceConnection, "route"> & { on(event: "stanza", listener: (stanza: Element) => void): unknown };

export function registerControl(connection: ControlConnection, { desk, log }: ControlFaceDeps): Face {
  connection.route(
    {
      type: "set",
      ns: NS_CONTROL,
      name: "set",
      handler: async ({ element, from }) => {
        const request = parseSet(element);
        const result = await desk.for(from).control.set(request, "iq");
        if (result.ok) return xml("setResponse", { xmlns: NS_CONTROL, responseCode: "OK" });
        return errorElement(result.kind, result.text, result.parameter);
      },
    },
    NS_CONTROL,
  );
  // getForm's forms are XEP-0336 dynamic forms (an xdd session, notSame), announced as such in disco#info.
  connection.route({
    type: "get",
    ns: NS_CONTROL,
    name: "getForm",
    handler: async ({ element, from }) => {
      const result = await desk.for(from).control.getForm(nodeIdsOf(element));
      if (!result.ok) return errorElement(result.kind, result.text);
      return formElement(result.parameters);
    },
  }, NS_DYNAMIC);
  // A `<set>` in a message is applied the same way and never answered (XEP-0325). One the server stored while
  // we were offline carries a XEP-0203 delay: the core refuses and audits it rather than apply it hours late.
  connection.on("stanza", (stanza) => {
    if (!stanza.is("message") || stanza.attrs.type === "error") return;
    const set = stanza.getChild("set", NS_CONTROL);
    const from = stanza.attrs.from as string | undefined;
    if (!set || !from) return;
    const delay = stanza.getChild("delay", NS_DELAY);
    const request = delay ? { ...parseSet(set), delayed: { sentAt: String(delay.attrs.stamp ?? "unknown") } } : parseSet(set);
    desk.for(from).control.set(request, "message").catch((error: unknown) => log.error("control by message failed", { from, error: errorText(error) }));
  });
  return STATELESS;
}

/** The request in a `<set>`: its nodes, and typed parameters or a submitted form, in document order. */
export function parseSet(set: Element): ControlRequest {
  const values: ControlValue[] = [];
  for (const child of set.getChildElements()) {
    if (child.name === "node") continue;
    if (child.is("x", NS_DATA)) {
      values.push(...submittedParameters(child));
      continue;
    }
    // Unknown element names pass through as types, so control refuses them with a message naming them.
    const type = TYPE_SYNONYMS.get(child.name) ?? child.name;
    values.push({ name: String(child.attrs.name ?? ""), type, value: String(child.attrs.value ?? "") });
  }
  const nodeIds = nodeIdsOf(set);
  return nodeIds.length > 0 ? { nodeIds, values } : { values };
}

function nodeIdsOf(element: Element): string[] {
  return element.getChildren("node").map((node) => String(node.attrs.nodeId ?? ""));
}

function errorElement(kind: ControlFailure, text: string, parameter?: string): Element {
  const { type, condition } = ERRORS[kind];
  return stanzaError(type, condition, text, parameter !== undefined ? xml("paramError", { xmlns: NS_CONTROL, var: parameter }, text) : undefined);
}

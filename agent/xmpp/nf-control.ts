// Control in the successor dialect of XEP-0325, `urn:nf:iot:ctr:1.0` (and its twin `urn:ieee:iot:ctr:1.0`, the
// same syntax), translated to agent/control.ts like the XEP-0325 face: `<set>` with `<nd id/>` nodes and short
// typed parameters (`<b n v/>`, `<i n v/>`, …) or a submitted form, and `<getForm>`. Answers as the dialect's
// reference server does (docs/protocols.md): `<resp/>` on success, listing the nodes and parameters applied;
// errors of its types (modify for what the request got wrong) with a `<paramError n=…>` naming the parameter.
//
// Decisions:
// - The dialect has no `<set>` in a message (its client and server use iq only), so there is nothing to deliver
//   late: a message is not a command here.
// - Tokens (`st`, `dt`, `ut`) are for a provisioning server, which xedge does not use: operators are authorized
//   by the operators list alone, so tokens are ignored. So are `src` and `pt` on a node: xedge's node ids are
//   unique, with no data sources or partitions.
// - A `<set>` holding an element the dialect does not define, or a form that is not submitted, is answered
//   bad-request without a paramError, as the reference server does; but it goes to control marked malformed,
//   so a stranger or a read operator hears forbidden first and the attempt is audited, as with every face.
import { xml, type Element } from "./client.ts";
import { formElement, submittedParameters } from "./control-form.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { stanzaError, type ErrorType } from "./stanza-error.ts";
import type { AppliedValue, ControlFailure, ControlRequest, ControlValue } from "../control.ts";
import type { OperatorDesk } from "../operator/desk.ts";

export const NS_NF_CONTROL = "urn:nf:iot:ctr:1.0";
export const NS_IEEE_CONTROL = "urn:ieee:iot:ctr:1.0";
const NS_DATA = "jabber:x:data";

/** The dialect's parameter elements and the XEP-0325 type each is (an enumeration's value is a string to us). */
const PARAMETER_TYPES: ReadonlyMap<string, string> = new Map([
  ["b", "boolean"],
  ["cl", "color"],
  ["d", "date"],
  ["dt", "dateTime"],
  ["db", "double"],
  ["dr", "duration"],
  ["e", "string"],
  ["i", "int"],
  ["l", "long"],
  ["s", "string"],
  ["t", "time"],
]);

/**
 * Stanza error type and condition for each failure: the reference server's (type modify for a parameter or node
 * it cannot find, or a value it cannot take), and ours where it has none (an actuator that may come back, a
 * device that failed).
 */
const ERRORS: Record<ControlFailure, { type: ErrorType; condition: string }> = {
  forbidden: { type: "cancel", condition: "forbidden" },
  "item-not-found": { type: "modify", condition: "item-not-found" },
  "bad-request": { type: "modify", condition: "bad-request" },
  // A sensor has no control parameters: the reference server answers such a node as one it cannot find.
  "feature-not-implemented": { type: "modify", condition: "item-not-found" },
  unavailable: { type: "wait", condition: "conflict" },
  failed: { type: "cancel", condition: "internal-server-error" },
  // Only a message can arrive late, and the dialect has none; an iq would be told it was too old to apply.
  delayed: { type: "cancel", condition: "not-acceptable" },
};

export interface NfControlFaceDeps {
  desk: Pick<OperatorDesk, "for">;
}

export function registerNfControl(connection: Pick<FaceConnection, "route">, { desk }: NfControlFaceDeps): Face {
  for (const ns of [NS_NF_CONTROL, NS_IEEE_CONTROL]) {
    connection.route(
      {
        type: "set",
        ns,
        name: "set",
        handler: async ({ element, from }) => {
          const result = await desk.for(from).control.set(parseNfSet(element), ns === NS_NF_CONTROL ? "nf" : "ieee");
          if (result.ok) return responseElement(ns, result.applied);
          return errorElement(ns, result.kind, result.text, result.parameter);
        },
      },
      ns,
    );
    connection.route({
      type: "get",
      ns,
      name: "getForm",
      handler: async ({ element, from }) => {
        const nodeIds = nodeIdsOf(element);
        const result = await desk.for(from).control.getForm(nodeIds);
        if (!result.ok) return errorElement(ns, result.kind, result.text);
        return formElement(result.parameters, formTitle(nodeIds.length > 0 ? result.nodeIds : []));
      },
    });
  }
  return STATELESS;
}

/**
 * The request in a `<set>`: its nodes, and its parameters or submitted form in document order; marked malformed
 * (with the first reason) when it holds anything else.
 */
export function parseNfSet(set: Element): ControlRequest {
  const values: ControlValue[] = [];
  let malformed: string | undefined;
  for (const child of set.getChildElements()) {
    if (child.name === "nd") continue;
    if (child.is("x", NS_DATA) && child.attrs.type === "submit") {
      values.push(...submittedParameters(child));
      continue;
    }
    const type = PARAMETER_TYPES.get(child.name);
    if (type !== undefined) values.push({ name: String(child.attrs.n ?? ""), type, value: String(child.attrs.v ?? "") });
    else malformed ??= child.is("x", NS_DATA) ? `a form of type ${String(child.attrs.type ?? "(none)")} sets nothing; submit it (type submit)` : `<${child.name}> is not an element of a ${String(set.attrs.xmlns)} set`;
  }
  const nodeIds = nodeIdsOf(set);
  return { ...(nodeIds.length > 0 ? { nodeIds } : {}), values, ...(malformed !== undefined ? { malformed } : {}) };
}

function nodeIdsOf(element: Element): string[] {
  return element.getChildren("nd").map((node) => String(node.attrs.id ?? ""));
}

/** `<resp/>` listing each node and each parameter applied once, so a node-less set says which actuator it set. */
function responseElement(ns: string, applied: readonly AppliedValue[]): Element {
  const nodes = [...new Set(applied.map((value) => value.nodeId))].map((id) => xml("nd", { id }));
  const parameters = [...new Set(applied.map((value) => value.name))].map((n) => xml("p", { n }));
  return xml("resp", { xmlns: ns }, ...nodes, ...parameters);
}

/** The form's title as the reference server words it: the node, or how many; "Control" for every actuator. */
function formTitle(nodeIds: readonly string[]): string {
  if (nodeIds.length === 0) return "Control";
  return nodeIds.length === 1 ? String(nodeIds[0]) : `${nodeIds.length} nodes`;
}

function errorElement(ns: string, kind: ControlFailure, text: string, parameter?: string): Element {
  const { type, condition } = ERRORS[kind];
  return stanzaError(type, condition, text, parameter !== undefined ? xml("paramError", { xmlns: ns, n: parameter }, text) : undefined);
}

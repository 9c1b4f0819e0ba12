// Sensor data in the successor dialect of XEP-0323 (urn:nf:iot:sd:1.0 and urn:ieee:iot:sd:1.0, the same syntax):
// `<req>` and `<cancel>` iq gets and sets in, the answer in the namespace that asked. Like the XEP-0323 face it
// validates and translates; what to read is agent/readout's business, who may read the operator desk's.
//
// Answers (docs/protocols.md, Sensor data in the nf dialect): a readout of current values now comes back in the iq
// result itself as `<resp id>` (one round trip); history or a readout scheduled later is `<accepted id [queued]/>`
// and its data follows in `<resp id more='true'>` messages, the last one without `more`. A node's error is an
// `<err>` in its `<nd><ts>`, in the last `<resp>`.
import { xml, type Element } from "./client.ts";
import type { Face, FaceConnection } from "./face.ts";
import { stanzaError } from "./stanza-error.ts";
import { ReadoutSessions, type ReadoutSession } from "./readout-sessions.ts";
import { NF_SENSORDATA_NAMESPACES, nfErrorElement, nfNodeElement } from "./nf-fields.ts";
import { xmlString } from "./fields.ts";
import { packedNodes, SampleRenderings, type AnswerOptions } from "./sample-renderings.ts";
import { LIMITS } from "./sensordata.ts";
import { addBounded, BadRequestError, booleanAttribute, boundAttributes, checkedChildren, readoutTimes, requiredAttribute } from "./request-checks.ts";
import type { ReadoutRequest, ReadoutResult, ReadoutType } from "../readout.ts";
import { bareJid } from "../authz.ts";
import type { OperatorDesk, OperatorSession } from "../operator/desk.ts";
import { errorText, type Logger } from "../log.ts";

const NS_HINTS = "urn:xmpp:hints";

/** The dialect's one-letter field types, as the core names them; `all` and `h` (any history) included. */
export const TYPE_ATTRIBUTES: readonly [string, ReadoutType][] = [
  ["m", "momentary"],
  ["p", "peak"],
  ["s", "status"],
  ["c", "computed"],
  ["i", "identity"],
  ["h", "historical"],
  ["all", "all"],
];
/** Types the core answers from stored readings; a request without them is answered in the iq result. */
const STORED_TYPES: ReadonlySet<ReadoutType> = new Set(["historical", "all"]);

/**
 * The `<req>` attributes we read and bound. Any other is ignored, as the reference server does: `xml:lang`,
 * namespace declarations, and the provisioning tokens `st`, `dt`, `ut` (xedge's operators list decides, not a token).
 */
const BOUNDED_REQ_ATTRIBUTES = ["id", "from", "to", "when", ...TYPE_ATTRIBUTES.map(([name]) => name)];
/** The attributes a `<req>`'s children may carry. */
const CHILD_ATTRIBUTES: Readonly<Record<"nd" | "f", ReadonlySet<string>>> = { nd: new Set(["id", "src", "pt"]), f: new Set(["n"]) };

export interface ParsedNfRequest {
  id: string;
  request: ReadoutRequest;
  when?: Date;
}

/** The request id: what the client correlates answers by (the reference client sends a GUID). */
export function requestId(element: Element): string {
  const id = element.attrs.id as string | undefined;
  if (!id) throw new BadRequestError("id is required");
  if (id.length > LIMITS.valueLength) throw new BadRequestError(`id is longer than ${LIMITS.valueLength} characters`);
  return id;
}

/** Validates a `<req>` completely; throws BadRequestError (or ForeignNodeError) saying what is wrong. */
export function parseNfRequest(req: Element): ParsedNfRequest {
  boundAttributes(req, BOUNDED_REQ_ATTRIBUTES, LIMITS.valueLength);
  const id = requestId(req);
  const types = new Set<ReadoutType>();
  for (const [name, type] of TYPE_ATTRIBUTES) if (booleanAttribute(req, name)) types.add(type);
  const { from, to, when } = readoutTimes(req);

  const nodeIds: string[] = [];
  const fieldNames: string[] = [];
  const foreignNodes: string[] = [];
  for (const child of checkedChildren(req, CHILD_ATTRIBUTES, LIMITS.valueLength)) {
    if (child.name === "f") {
      addBounded(fieldNames, requiredAttribute(child, "n"), LIMITS.fields, "f");
      continue;
    }
    const nodeId = requiredAttribute(child, "id");
    addBounded(nodeIds, nodeId, LIMITS.nodes, "nd");
    // xedge is one data source without a name or partitions: a reference into another names no node here.
    if (child.attrs.src || child.attrs.pt) foreignNodes.push(nodeId);
  }
  if (foreignNodes.length > 0) throw new ForeignNodeError(foreignNodes);
  return { id, request: { nodeIds, fieldNames, types, from, to }, when };
}

/** A `<nd>` with a source or partition: no node of this gateway (item-not-found, not bad-request). */
export class ForeignNodeError extends Error {
  constructor(readonly nodeIds: string[]) {
    super(`no node ${nodeIds.join(", ")} in that source or partition; this gateway's nodes have neither`);
  }
}

/** Runs a parser of this dialect; what it rejects becomes the iq error: item-not-found for a foreign node, else bad-request. */
export function parsedOrError<T>(parse: () => T): { parsed: T } | { error: Element } {
  try {
    return { parsed: parse() };
  } catch (error) {
    if (error instanceof ForeignNodeError) return { error: stanzaError("cancel", "item-not-found", error.message) };
    if (error instanceof BadRequestError) return { error: stanzaError("modify", "bad-request", error.message) };
    throw error;
  }
}


/**
 * A result as `<resp>` elements: data packed at most `fieldsPerMessage` fields each, every node's error in the
 * last one, and `more='true'` on all but the last. An empty result is one `<resp id/>`.
 */
export function nfResponses(ns: string, id: string, result: ReadoutResult, { fieldsPerMessage = LIMITS.fieldsPerMessage, renderings }: AnswerOptions = {}): Element[] {
  const batches = packedNodes(result.groups, ns, fieldsPerMessage, renderings, (group, fields) =>
    nfNodeElement(group.nodeId, group.timestamp, fields, { historical: group.historical !== undefined, ...(group.clock ? { clock: group.clock } : {}) }),
  );
  // The errors ride on the last batch, a full one too: they are no fields.
  const errors = result.failures.map((failure) => nfErrorElement(failure.nodeId, failure.timestamp, failure.message));
  const last = batches.at(-1);
  if (last) last.push(...errors);
  else batches.push(errors);
  return batches.map((nodes, index) => xml("resp", { xmlns: ns, id, ...(index < batches.length - 1 ? { more: "true" } : {}) }, ...nodes));
}

export interface NfSensorDataDeps {
  desk: Pick<OperatorDesk, "for">;
  log: Logger;
}

/** Registers the nf sensor-data readout (both namespaces) on the connection; its stop() drops scheduled readouts. */
export function registerNfSensorData(connection: Pick<FaceConnection, "route" | "send">, { desk, log }: NfSensorDataDeps): Face {
  const sessions = new ReadoutSessions("id");
  const renderings = new SampleRenderings();

  /** Sends `<resp>` messages in order until the session is cancelled; notes ride on the last one as text. */
  const sendResponses = async (session: ReadoutSession, responses: readonly Element[], result: ReadoutResult) => {
    const notes = result.notes ?? [];
    for (const [index, resp] of responses.entries()) {
      if (session.cancelled) return;
      const message = xml("message", { to: session.requester }, resp);
      // The dialect has no element for a remark that is no error: the last message says it in a body, not to be stored.
      if (index === responses.length - 1 && notes.length > 0) {
        message.c("body").t(xmlString(notes.map((note) => `${note.nodeId}: ${note.message}`).join("\n"))).up();
        message.c("no-store", { xmlns: NS_HINTS });
      }
      await connection.send(message);
    }
  };

  const runLater = async (ns: string, operator: OperatorSession, session: ReadoutSession, request: ReadoutRequest, queued: boolean) => {
    const { requester, id } = session;
    try {
      if (queued) await connection.send(xml("message", { to: requester }, xml("started", { xmlns: ns, id })));
      const result = await operator.read(request);
      await sendResponses(session, nfResponses(ns, id, result, { renderings }), result);
      log.debug("nf readout answered", { requester, id, groups: result.groups.length, failures: result.failures.length });
    } catch (error) {
      log.error("nf readout failed", { requester, id, error: errorText(error) });
    } finally {
      sessions.end(session);
    }
  };

  for (const ns of NF_SENSORDATA_NAMESPACES) {
    const onReq = async ({ element, from }: { element: Element; from: string }): Promise<Element> => {
      const operator = desk.for(from);
      if (!operator.admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
      const outcome = parsedOrError(() => parseNfRequest(element));
      if ("error" in outcome) return outcome.error;
      const { id, request, when } = outcome.parsed;
      const admitted = sessions.admit(operator, from, id, request, when);
      if (!("session" in admitted)) return admitted;
      const { session, delayMs } = admitted;
      const queued = delayMs > 0;

      if (!queued && ![...request.types].some((type) => STORED_TYPES.has(type))) {
        // Current values now: the data is the iq result (the reference client takes a <resp> there). What does not
        // fit one <resp> follows in messages, a turn later so that the result goes out first.
        try {
          const result = await operator.read(request);
          const [first, ...rest] = nfResponses(ns, id, result, { renderings });
          if (rest.length === 0) sessions.end(session);
          else {
            const sendRest = () =>
              sendResponses(session, rest, result)
                .catch((error: unknown) => log.error("nf readout failed", { requester: from, id, error: errorText(error) }))
                .finally(() => sessions.end(session));
            const immediate = setImmediate(() => void sendRest());
            session.unschedule = () => clearImmediate(immediate);
          }
          log.debug("nf readout answered", { requester: from, id, groups: result.groups.length, failures: result.failures.length });
          return first ?? xml("resp", { xmlns: ns, id });
        } catch (error) {
          sessions.end(session);
          throw error;
        }
      }
      sessions.schedule(session, delayMs, () => void runLater(ns, operator, session, request, queued));
      return xml("accepted", { xmlns: ns, id, ...(queued ? { queued: "true" } : {}) });
    };

    /** Cancels the requester's readout `id`; one that already ended, or never was, is no error (as the reference answers). */
    const onCancel = ({ element, from }: { element: Element; from: string }): Element | true => {
      if (!desk.for(from).admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
      const outcome = parsedOrError(() => requestId(element));
      if ("error" in outcome) return outcome.error;
      sessions.cancel(from, outcome.parsed);
      return true;
    };

    // Both iq types, as the reference server registers them; the feature is announced once per namespace.
    connection.route({ type: "get", ns, name: "req", handler: onReq }, ns);
    connection.route({ type: "set", ns, name: "req", handler: onReq });
    connection.route({ type: "get", ns, name: "cancel", handler: onCancel });
    connection.route({ type: "set", ns, name: "cancel", handler: onCancel });
  }

  return { stop: () => sessions.stop() };
}

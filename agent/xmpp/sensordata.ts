// XEP-0323 readout face: `<req>` and `<cancel>` iq gets in, `<accepted>` in the iq result, the data in messages.
// It validates and translates; what to read is agent/readout's business, who may read the operator desk's.
//
// Message order (docs/protocols.md, Readout): the data's `<fields>` first, then one `<failure>` holding every
// node's error, and the readout's end marked once. Without failures the end is an empty `<fields done='true'/>`
// of its own (the only end slixmpp 1.8 and Smack recognise; Smack's readout often returns nothing when the end
// comes in the same message as data); with failures the end is a `<done/>` message after them. slixmpp drops its
// session at the first `<failure>`: any sensordata message after it for the same seqnr, a second `<failure>` or
// a `<fields>`, raises in its handler.
import { xml, type Element } from "./client.ts";
import type { Face, FaceConnection } from "./face.ts";
import { stanzaError } from "./stanza-error.ts";
import { READOUT_LIMITS, ReadoutSessions, type ReadoutSession } from "./readout-sessions.ts";
import { NS_SENSORDATA, nodeElement, xmlString } from "./fields.ts";
import { packedNodes, SampleRenderings, type AnswerOptions } from "./sample-renderings.ts";
import { addBounded, BadRequestError, booleanAttribute, boundAttributes, checkedChildren, readoutTimes, requiredAttribute } from "./request-checks.ts";
import { READOUT_TYPES, type ReadoutRequest, type ReadoutResult, type ReadoutType } from "../readout.ts";
import { bareJid } from "../authz.ts";
import type { OperatorDesk, OperatorSession } from "../operator/desk.ts";
import { errorText, type Logger } from "../log.ts";


/** Bounds on what one request may carry: enough for any real client, small enough to refuse abuse cheaply. */
export const LIMITS = {
  nodes: 100,
  fields: 100,
  valueLength: 256,
  ...READOUT_LIMITS,
  fieldsPerMessage: 50,
};

/**
 * The `<req>` attributes we read and bound. Any other (`xml:lang`, `xmlns:*` declarations, the XEP-0324 tokens,
 * a later version's additions) is ignored: XEP-0323 makes the whole request a hint, and clients add such attributes.
 */
const BOUNDED_REQ_ATTRIBUTES = ["seqnr", "from", "to", "when", ...READOUT_TYPES];
/** The attributes a `<req>`'s children may carry. */
const CHILD_ATTRIBUTES: Readonly<Record<"node" | "field", ReadonlySet<string>>> = { node: new Set(["nodeId", "sourceId", "cacheType"]), field: new Set(["name"]) };

export interface ParsedRequest {
  seqnr: string;
  request: ReadoutRequest;
  when?: Date;
}

/** Validates a `<req>` completely; throws BadRequestError saying what is wrong. */
export function parseRequest(req: Element): ParsedRequest {
  boundAttributes(req, BOUNDED_REQ_ATTRIBUTES, LIMITS.valueLength);
  const seqnr = req.attrs.seqnr as string | undefined;
  if (seqnr === undefined) throw new BadRequestError("seqnr is required");
  if (!isXsInt(seqnr)) throw new BadRequestError(`seqnr must be an xs:int, got ${JSON.stringify(seqnr)}`);
  const types = new Set<ReadoutType>();
  for (const type of READOUT_TYPES) if (booleanAttribute(req, type)) types.add(type);
  const { from, to, when } = readoutTimes(req);

  const nodeIds: string[] = [];
  const fieldNames: string[] = [];
  for (const child of checkedChildren(req, CHILD_ATTRIBUTES, LIMITS.valueLength)) {
    if (child.name === "node") addBounded(nodeIds, requiredAttribute(child, "nodeId"), LIMITS.nodes, "node");
    else addBounded(fieldNames, requiredAttribute(child, "name"), LIMITS.fields, "field");
  }
  return { seqnr, request: { nodeIds, fieldNames, types, from, to }, when };
}

function isXsInt(text: string): boolean {
  if (!/^[+-]?\d{1,10}$/.test(text)) return false;
  const value = Number(text);
  return value >= -(2 ** 31) && value < 2 ** 31;
}


const NS_HINTS = "urn:xmpp:hints";


/**
 * The messages that carry a result: data packed at most `fieldsPerMessage` fields each, then one failure, then the
 * end in a message of its own, which also holds the notes as text.
 */
export function resultMessages(to: string, seqnr: string, result: ReadoutResult, { fieldsPerMessage = LIMITS.fieldsPerMessage, renderings }: AnswerOptions = {}): Element[] {
  const batches = packedNodes(result.groups, NS_SENSORDATA, fieldsPerMessage, renderings, (group, fields) =>
    nodeElement({ sensorId: group.nodeId, timestamp: group.timestamp, clock: group.clock, fields }, { portableTypes: true, ...(group.historical ? { extraFlag: group.historical } : {}) }),
  );

  const message = (child: Element) => xml("message", { to }, child);
  const messages = batches.map((nodes) => message(xml("fields", { xmlns: NS_SENSORDATA, seqnr }, ...nodes)));
  if (result.failures.length === 0) {
    messages.push(message(xml("fields", { xmlns: NS_SENSORDATA, seqnr, done: "true" })));
  } else {
    // An error text may quote what a device sent, control characters included.
    const errors = result.failures.map((failure) => xml("error", { nodeId: failure.nodeId, timestamp: failure.timestamp.toISOString() }, xmlString(failure.message)));
    messages.push(message(xml("failure", { xmlns: NS_SENSORDATA, seqnr }, ...errors)));
    messages.push(message(xml("done", { xmlns: NS_SENSORDATA, seqnr })));
  }
  // XEP-0323 has no element for a remark that is no failure: the message that ends the readout says it in a body.
  // A body makes a message worth storing offline and archiving; a readout's answer is not (XEP-0334 hint).
  const notes = result.notes ?? [];
  const last = messages.at(-1);
  if (notes.length > 0 && last) {
    last.c("body").t(xmlString(notes.map((note) => `${note.nodeId}: ${note.message}`).join("\n"))).up();
    last.c("no-store", { xmlns: NS_HINTS });
  }
  return messages;
}

export interface SensorDataDeps {
  desk: Pick<OperatorDesk, "for">;
  log: Logger;
}

/** Registers the XEP-0323 readout on the connection; its stop() drops scheduled readouts. */
export function registerSensorData(connection: Pick<FaceConnection, "route" | "send">, { desk, log }: SensorDataDeps): Face {
  const sessions = new ReadoutSessions("seqnr");
  const renderings = new SampleRenderings();

  const run = async (operator: OperatorSession, session: ReadoutSession, request: ReadoutRequest, queued: boolean) => {
    const { requester, id: seqnr } = session;
    try {
      if (queued) await connection.send(xml("message", { to: requester }, xml("started", { xmlns: NS_SENSORDATA, seqnr })));
      const result = await operator.read(request);
      if (session.cancelled) return;
      // All written at once, not each after the last one's write: a momentary readout's data and end then leave
      // with its iq result in one segment (the responder holds the socket's writes for this turn).
      await Promise.all(resultMessages(requester, seqnr, result, { renderings }).map((message) => connection.send(message)));
      log.debug("readout answered", { requester, seqnr, groups: result.groups.length, failures: result.failures.length });
    } catch (error) {
      log.error("readout failed", { requester, seqnr, error: errorText(error) });
    } finally {
      sessions.end(session);
    }
  };

  connection.route(
    {
      type: "get",
      ns: NS_SENSORDATA,
      name: "req",
      handler: ({ element, from }) => {
        const operator = desk.for(from);
        if (!operator.admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
        let parsed: ParsedRequest;
        try {
          parsed = parseRequest(element);
        } catch (error) {
          if (error instanceof BadRequestError) return stanzaError("modify", "bad-request", error.message);
          throw error;
        }
        const { seqnr, request, when } = parsed;
        const admitted = sessions.admit(operator, from, seqnr, request, when);
        if (!("session" in admitted)) return admitted;
        const { session, delayMs } = admitted;
        const queued = delayMs > 0;
        sessions.schedule(session, delayMs, () => void run(operator, session, request, queued));
        return xml("accepted", { xmlns: NS_SENSORDATA, seqnr, ...(queued ? { queued: "true" } : {}) });
      },
    },
    NS_SENSORDATA,
  );

  connection.route({
    type: "get",
    ns: NS_SENSORDATA,
    name: "cancel",
    handler: ({ element, from }) => {
      if (!desk.for(from).admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
      const seqnr = element.attrs.seqnr as string | undefined;
      if (seqnr === undefined || !isXsInt(seqnr)) return stanzaError("modify", "bad-request", "seqnr must be an xs:int");
      if (!sessions.cancel(from, seqnr)) return stanzaError("cancel", "item-not-found", `no readout ${seqnr} in progress`);
      return xml("cancelled", { xmlns: NS_SENSORDATA, seqnr });
    },
  });

  return { stop: () => sessions.stop() };
}

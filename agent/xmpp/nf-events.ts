// Event subscriptions in the successor dialect (urn:nf:iot:events:1.0 and urn:ieee:iot:events:1.0): `<subscribe>`
// and `<unsubscribe>` iqs in, and each notification out as the readout messages of the matching sensor-data
// namespace (`<resp>` in urn:nf:iot:sd:1.0 for urn:nf:iot:events:1.0). When a subscription is due is
// agent/subscriptions' business, what to read agent/readout's, who may subscribe the operator desk's.
//
// Answers (docs/protocols.md, Event subscriptions in the nf dialect): `<accepted id>` in the sensor-data namespace,
// or in the events namespace when `req='true'` asked for a readout at once, as the reference server answers;
// an empty result to an unsubscribe, item-not-found when there was no such subscription. A subscriber's
// subscriptions end when that full JID goes unavailable, all of an account's when it stops sharing presence, and
// a subscriber's when a notification comes back with an error that says it is not there (link/bounces.ts).
import { xml, type Element } from "./client.ts";
import type { Face, FaceConnection } from "./face.ts";
import { stanzaError } from "./stanza-error.ts";
import { ForeignNodeError, TYPE_ATTRIBUTES, nfResponses, parsedOrError, requestId } from "./nf-sensordata.ts";
import { addBounded, BadRequestError, booleanAttribute, boundAttributes, checkedChildren, requiredAttribute } from "./request-checks.ts";
import { LIMITS } from "./sensordata.ts";
import { bareJid } from "../authz.ts";
import type { ReadoutType } from "../readout.ts";
import { SUBSCRIPTION_LIMITS, readoutOf, type EventSubscriptions, type FieldRule, type Subscription, type SubscriptionSpec } from "../subscriptions.ts";
import type { OperatorDesk } from "../operator/desk.ts";
import { errorText, type Logger } from "../log.ts";

export const NS_NF_EVENTS = "urn:nf:iot:events:1.0";
export const NS_IEEE_EVENTS = "urn:ieee:iot:events:1.0";
/** The two namespaces of the dialect's events, as for its sensor data. */
export const NF_EVENTS_NAMESPACES = [NS_NF_EVENTS, NS_IEEE_EVENTS] as const;

/** The sensor-data namespace that carries an events namespace's answers (urn:nf:iot:events:1.0 → urn:nf:iot:sd:1.0). */
export function readoutNamespace(eventsNamespace: string): string {
  return eventsNamespace.replace(":iot:events:", ":iot:sd:");
}

/** The `<subscribe>` attributes we read and bound; any other (the tokens st, dt, ut, xml:lang) is ignored. */
const BOUNDED_ATTRIBUTES = ["id", "minInt", "maxInt", "maxAge", "req", ...TYPE_ATTRIBUTES.map(([name]) => name)];
/** The attributes a `<subscribe>`'s children may carry. */
const CHILD_ATTRIBUTES: Readonly<Record<"nd" | "f", ReadonlySet<string>>> = { nd: new Set(["id", "src", "pt"]), f: new Set(["n", "v", "by", "up", "dn"]) };
const DAY_MS = 86_400_000;
const XS_DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const XS_DOUBLE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Milliseconds of an xs:duration such as PT30S, PT1.5S, P1DT2H or P0Y0M0DT0H5M0S; a year counts 365 days and a month
 * 30. Undefined for anything else, a negative duration included.
 */
export function parseXsDuration(text: string): number | undefined {
  const match = XS_DURATION.exec(text);
  if (!match || text === "P" || text.endsWith("T")) return undefined;
  const [years, months, days, hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  return Math.round((years * 365 + months * 30 + days) * DAY_MS + hours * 3_600_000 + minutes * 60_000 + seconds * 1000);
}

function optionalDuration(element: Element, name: string): number | undefined {
  const text = element.attrs[name] as string | undefined;
  if (text === undefined) return undefined;
  const ms = parseXsDuration(text);
  if (ms === undefined) throw new BadRequestError(`${name} must be an xs:duration such as PT30S, got ${JSON.stringify(text)}`);
  if (ms > SUBSCRIPTION_LIMITS.longestIntervalMs) throw new BadRequestError(`${name} is longer than 7 days`);
  return ms;
}

/** A non-negative xs:double: how far a field must move. */
function amount(f: Element, name: string): number | undefined {
  const text = f.attrs[name] as string | undefined;
  if (text === undefined) return undefined;
  const value = XS_DOUBLE.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0) || !Number.isFinite(value)) throw new BadRequestError(`${name} of <f> must be a number of at least 0, got ${JSON.stringify(text)}`);
  return value;
}

function fieldRule(f: Element): FieldRule {
  const field = requiredAttribute(f, "n");
  const v = f.attrs.v as string | undefined;
  // The subscriber's current value: a number compares by amounts, anything else (true, a text) as written.
  const reference = v === undefined ? undefined : XS_DOUBLE.test(v) ? Number(v) : v;
  const rule: FieldRule = { field };
  if (reference !== undefined) rule.reference = reference;
  const by = amount(f, "by");
  const up = amount(f, "up");
  const down = amount(f, "dn");
  if (by !== undefined) rule.by = by;
  if (up !== undefined) rule.up = up;
  if (down !== undefined) rule.down = down;
  return rule;
}

export interface ParsedSubscribe {
  spec: SubscriptionSpec;
  /** `req='true'`: the subscriber wants a readout at once, not only at the first event. */
  readNow: boolean;
}

/** Validates a `<subscribe>` completely; throws BadRequestError (or ForeignNodeError) saying what is wrong. */
export function parseSubscribe(subscribe: Element): ParsedSubscribe {
  boundAttributes(subscribe, BOUNDED_ATTRIBUTES, LIMITS.valueLength);
  const id = requestId(subscribe);
  const types = new Set<ReadoutType>();
  for (const [name, type] of TYPE_ATTRIBUTES) if (booleanAttribute(subscribe, name)) types.add(type);
  const readNow = booleanAttribute(subscribe, "req") ?? false;
  const minIntervalMs = optionalDuration(subscribe, "minInt");
  const maxIntervalMs = optionalDuration(subscribe, "maxInt");
  // Notifications carry current values: a bound on the age of history is checked and has nothing to bound.
  optionalDuration(subscribe, "maxAge");
  if (maxIntervalMs !== undefined && maxIntervalMs < SUBSCRIPTION_LIMITS.shortestMaxIntervalMs) throw new BadRequestError("maxInt is shorter than 1 second");

  const nodeIds: string[] = [];
  const rules = new Map<string, FieldRule>();
  const foreignNodes: string[] = [];
  for (const child of checkedChildren(subscribe, CHILD_ATTRIBUTES, LIMITS.valueLength)) {
    if (child.name === "f") {
      const rule = fieldRule(child);
      // A field named twice: the last rule counts, as the reference server keeps them by name.
      rules.set(rule.field, rule);
      if (rules.size > LIMITS.fields) throw new BadRequestError(`more than ${LIMITS.fields} <f> elements`);
      continue;
    }
    const nodeId = requiredAttribute(child, "id");
    addBounded(nodeIds, nodeId, LIMITS.nodes, "nd");
    if (child.attrs.src || child.attrs.pt) foreignNodes.push(nodeId);
  }
  if (foreignNodes.length > 0) throw new ForeignNodeError(foreignNodes);
  const spec: SubscriptionSpec = { id, nodeIds: [...new Set(nodeIds)], rules: [...rules.values()], types };
  if (minIntervalMs !== undefined) spec.minIntervalMs = minIntervalMs;
  if (maxIntervalMs !== undefined) spec.maxIntervalMs = maxIntervalMs;
  return { spec, readNow };
}

export interface NfEventsDeps {
  desk: Pick<OperatorDesk, "for">;
  /** Tagged with the sensor-data namespace the subscriber's notifications go in. */
  subscriptions: EventSubscriptions<string>;
  log: Logger;
}

/** What the face needs of the connection: routes, sending, and the presences and bounces that end subscriptions. */
type EventsConnection = Pick<FaceConnection, "route" | "sendUnprompted" | "onBounce"> & { on(event: "stanza", listener: (stanza: Element) => void): unknown };

/** Registers subscribe and unsubscribe (both namespaces) and sends the notifications; stop() drops pending reads. */
export function registerNfEvents(connection: EventsConnection, { desk, subscriptions, log }: NfEventsDeps): Face {
  /** Per subscription being sent: whether it came due again meanwhile (it is read once more, not queued). */
  const sending = new Map<string, { again: boolean }>();
  const immediates = new Set<NodeJS.Immediate>();
  let stopped = false;

  const deliver = async (subscription: Subscription<string>): Promise<void> => {
    const { subscriber, spec, tag: ns } = subscription;
    const key = `${subscriber} ${spec.id}`;
    const busy = sending.get(key);
    if (busy) {
      busy.again = true;
      return;
    }
    const state = { again: false };
    sending.set(key, state);
    try {
      do {
        state.again = false;
        const operator = desk.for(subscriber);
        if (!operator.admitted) {
          // No longer an operator (a reloaded list): the subscription ends with the rights it was taken with.
          subscriptions.remove(subscriber, spec.id);
          log.info("nf event subscription ended: no longer an operator", { subscriber, id: spec.id });
          return;
        }
        const result = await operator.read(readoutOf(spec));
        for (const resp of nfResponses(ns, spec.id, result)) {
          if (stopped || !subscriptions.has(subscriber, spec.id)) return;
          await connection.sendUnprompted("event", xml("message", { to: subscriber }, resp));
        }
      } while (state.again && !stopped);
    } catch (error) {
      log.error("nf event notification failed", { subscriber, id: spec.id, error: errorText(error) });
    } finally {
      sending.delete(key);
    }
  };
  subscriptions.onDue((subscription) => void deliver(subscription));

  /** A readout a turn later, so that the iq result goes out before its messages. */
  const deliverSoon = (subscription: Subscription<string>) => {
    const immediate = setImmediate(() => {
      immediates.delete(immediate);
      void deliver(subscription);
    });
    immediates.add(immediate);
  };

  for (const ns of NF_EVENTS_NAMESPACES) {
    const answerNs = readoutNamespace(ns);

    const onSubscribe = ({ element, from }: { element: Element; from: string }): Element => {
      const operator = desk.for(from);
      if (!operator.admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
      const outcome = parsedOrError(() => parseSubscribe(element));
      if ("error" in outcome) return outcome.error;
      const { spec, readNow } = outcome.parsed;
      const unknown = operator.unknownNodes(spec.nodeIds);
      if (unknown.length > 0) return stanzaError("cancel", "item-not-found", `no node ${unknown.join(", ")}`);
      const added = subscriptions.add(from, spec, answerNs);
      if (!added.ok) return added.kind === "limit" ? stanzaError("wait", "resource-constraint", added.text) : stanzaError("cancel", "item-not-found", added.text);
      log.debug("nf event subscription accepted", {
        subscriber: from,
        id: spec.id,
        nodes: spec.nodeIds.length > 0 ? spec.nodeIds.join(",") : "all",
        fields: spec.rules.map((rule) => rule.field).join(","),
        ...(added.replaced ? { replaced: true } : {}),
      });
      if (readNow) {
        deliverSoon({ subscriber: from, spec, tag: answerNs });
        // With a readout at once the reference answers in the events namespace, without one in the readout's.
        return xml("accepted", { xmlns: ns, id: spec.id });
      }
      return xml("accepted", { xmlns: answerNs, id: spec.id });
    };

    const onUnsubscribe = ({ element, from }: { element: Element; from: string }): Element | true => {
      if (!desk.for(from).admitted) return stanzaError("cancel", "forbidden", `${bareJid(from)} may not read this gateway`);
      const outcome = parsedOrError(() => requestId(element));
      if ("error" in outcome) return outcome.error;
      const id = outcome.parsed;
      if (!subscriptions.remove(from, id)) return stanzaError("modify", "item-not-found", `no event subscription ${id} of ${from}`);
      log.info("nf event subscription ended: unsubscribed", { subscriber: from, id });
      return true;
    };

    connection.route({ type: "get", ns, name: "subscribe", handler: onSubscribe }, ns);
    connection.route({ type: "set", ns, name: "subscribe", handler: onSubscribe });
    connection.route({ type: "get", ns, name: "unsubscribe", handler: onUnsubscribe });
    connection.route({ type: "set", ns, name: "unsubscribe", handler: onUnsubscribe });
  }

  // A resource that goes offline takes its subscriptions along (notifications to a full JID no longer there
  // would reach the account's other resources or its offline store); an account that stops sharing presence
  // with the gateway takes all of its own.
  connection.on("stanza", (stanza: Element) => {
    if (!stanza.is("presence")) return;
    const from = String(stanza.attrs.from ?? "");
    const type = stanza.attrs.type as string | undefined;
    let ended = 0;
    if (type === "unavailable" && from.includes("/")) ended = subscriptions.removeSubscriber(from);
    else if (type === "unsubscribe" || type === "unsubscribed") ended = subscriptions.removeAccount(from);
    if (ended > 0) log.info("nf event subscriptions ended: presence", { subscriber: from, presence: type ?? "", ended });
  });

  // A notification that comes back as an error: a subscriber that is not there (its account gone, its server
  // unknown or unresolvable) loses its subscriptions, logged once, since every later notification would bounce
  // too; the messages still in flight find them ended. One that may be there later (remote-server-timeout while
  // the servers cannot meet) keeps them, and is logged once while it does.
  const bouncing = new Set<string>();
  connection.onBounce("event", ({ jid, condition, permanent }) => {
    const subscribed = (subscriber: string) => subscriptions.list().some((subscription) => subscriber === subscription.subscriber || subscriber === bareJid(subscription.subscriber));
    for (const logged of bouncing) if (!subscribed(logged)) bouncing.delete(logged);
    if (permanent) {
      const ended = jid.includes("/") ? subscriptions.removeSubscriber(jid) : subscriptions.removeAccount(jid);
      if (ended > 0) log.warn("nf event subscriptions ended: not reachable", { subscriber: jid, condition, ended });
      bouncing.delete(jid);
    } else if (!bouncing.has(jid) && subscribed(jid)) {
      bouncing.add(jid);
      log.warn("nf event notification not delivered", { subscriber: jid, condition });
    }
  });

  return {
    stop: () => {
      stopped = true;
      for (const immediate of immediates) clearImmediate(immediate);
      immediates.clear();
    },
  };
}

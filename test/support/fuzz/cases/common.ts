// What every face's cases are made of: who sends, what a probe expects back, the fuzzed agent's nodes, and the
// helpers that build an iq and its expected answer.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";

export const NS = {
  sensordata: "urn:xmpp:iot:sensordata",
  nfSensordata: "urn:nf:iot:sd:1.0",
  ieeeSensordata: "urn:ieee:iot:sd:1.0",
  control: "urn:xmpp:iot:control",
  commands: "http://jabber.org/protocol/commands",
  data: "jabber:x:data",
  discoInfo: "http://jabber.org/protocol/disco#info",
  discoItems: "http://jabber.org/protocol/disco#items",
  version: "jabber:iq:version",
  ping: "urn:xmpp:ping",
  delay: "urn:xmpp:delay",
  nfControl: "urn:nf:iot:ctr:1.0",
  ieeeControl: "urn:ieee:iot:ctr:1.0",
} as const;

/** Who sends: nobody the agent knows, an operator with role read, an operator with role control. */
export type Sender = "stranger" | "reader" | "controller";
export const SENDERS: readonly Sender[] = ["stranger", "reader", "controller"];

/** An iq's answer: "result", or "error:" and its defined condition. */
export type Outcome = "result" | `error:${string}`;

export type Expectation =
  /**
   * Exactly one iq reply whose outcome is one of these. `types` replaces RFC 6120's error types for a condition
   * where the face's protocol documents another (the run checks RFC 6120's otherwise).
   */
  | { kind: "reply"; outcomes: readonly Outcome[]; types?: Readonly<Record<string, readonly string[]>> }
  /** No answer at all (an iq result or error, a message no face answers). */
  | { kind: "silence" }
  /** Chat: replies carrying this message's thread, between min and max. */
  | { kind: "chat"; min: number; max: number };

export interface Probe {
  stanza: Element;
  expect: Expectation;
  /** A stanza that depends on this one's reply (the ad-hoc session id, the readout to cancel). */
  then?: (reply: Element) => Probe | undefined;
  /** Sent by someone other than the case's sender: another operator reaching for this one's readout or session. */
  from?: Sender;
}

export interface FuzzCase {
  index: number;
  sender: Sender;
  face: string;
  mutation: string;
  /** Sent back to back; most cases have one, a flood has many. */
  probes: Probe[];
}

/** The sensors and actuators of the fuzzed agent (test/support/fuzz/run.ts configures it so). */
export const SENSOR = "boiler";
export const ACTUATOR = "pump";
export const NODES = [SENSOR, ACTUATOR];
export const PARAMETER = "state";

export interface Context {
  index: number;
  agent: string;
  /** Our own probe ids: `${prefix}.${n}`. */
  prefix: string;
  counter: number;
  /** Nesting of the deep-nesting mutations, up to this many levels. */
  maxDepth: number;
}

export function nextId(context: Context): string {
  context.counter += 1;
  return `${context.prefix}.${context.counter}`;
}

export function iq(context: Context, type: string | undefined, ...payload: Element[]): Element {
  return xml("iq", { to: context.agent, id: nextId(context), ...(type !== undefined ? { type } : {}) }, ...payload);
}

export const reply = (...outcomes: Outcome[]): Expectation => ({ kind: "reply", outcomes });
export const OK = reply("result");
/** A valid request that opens something bounded per requester (readouts, ad-hoc sessions). */
export const OK_OR_BUSY = reply("result", "error:resource-constraint");
export const BAD_REQUEST = reply("error:bad-request");
export const FORBIDDEN = reply("error:forbidden");
export const NOT_FOUND = reply("error:item-not-found");
/** RFC 6120 §8.4: a payload nobody here understands. */
export const UNKNOWN = reply("error:service-unavailable", "error:feature-not-implemented");

export interface Face {
  name: string;
  weight: number;
  /** The iq type of an iq face; iq-level mutations apply to those only. */
  iqType?: "get" | "set";
  build(r: Random, sender: Sender, context: Context): { mutation: string; probes: Probe[] };
}

/** `outcome` for senders who may use the face, forbidden for the others. */
export function gated(allowed: boolean, expect: Expectation): Expectation {
  return allowed ? expect : FORBIDDEN;
}

export const canRead = (sender: Sender) => sender !== "stranger";
export const canControl = (sender: Sender) => sender === "controller";

export function hourAgo(): string {
  return new Date(Date.now() - 3_600_000).toISOString();
}

/** Someone other than `sender` (an operator mostly, sometimes the stranger). */
export function another(r: Random, sender: Sender): Sender {
  return r.pick(SENDERS.filter((other) => other !== sender));
}

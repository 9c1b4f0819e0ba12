// The link to the server: a fresh client per attempt, exponential backoff with jitter between attempts,
// and dead-link detection by XEP-0199 ping (works whether or not the server offers stream management).
import { EventEmitter } from "node:events";
import type { Element } from "@xmpp/xml";
import { createClient, xml, type ClientOptions, type XmppClient } from "./client.ts";
import { SaltedPasswordCache } from "./scram.ts";
import { errorText, type Logger } from "../log.ts";
import { CAPS_NODE, capsVer, type DiscoInfo } from "./caps.ts";

const NS_PING = "urn:xmpp:ping";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

export interface ConnectionOptions extends ClientOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  /** Longest a single connect + TLS + login may take before the attempt counts as failed. */
  attemptTimeoutMs?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential from initialDelay, capped at maxDelay, with
 * "equal jitter" (half fixed, half random) so a fleet that lost the same server does not return in lockstep.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Turns the errors a person can act on into one line that says what to do. */
export function explainConnectError(error: unknown, options: Pick<ClientOptions, "service" | "domain">): string {
  const code = (error as { code?: unknown }).code;
  const condition = (error as { condition?: unknown }).condition;
  if (typeof code === "string") {
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
      return `TLS: the server's certificate for ${options.domain} is not trusted (${code}); if it is signed by your own CA, set xmpp.caFile to that CA's PEM file`;
    }
    if (code === "ECONNREFUSED") return `cannot reach ${options.service}: connection refused (is the server running?)`;
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the server for ${options.service} (${code})`;
    if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH") return `cannot reach ${options.service} (${code})`;
  }
  if (condition === "not-authorized") return "login refused (not-authorized): check xmpp.jid and the password";
  // xmpp.js times out the stream opening and each negotiation step with a TimeoutError that has no message.
  if ((error as { name?: unknown }).name === "TimeoutError") {
    return `the server at ${options.service} did not answer in time (busy, or the link loses packets)`;
  }
  return errorText(error);
}

export interface IqRoute {
  type: "get" | "set";
  ns: string;
  name: string;
  handler: (context: { element: Element; stanza: Element; from: string }) => Promise<Element | true> | Element | true;
}

/** What @xmpp/iq's callee hands a handler (its published types omit `element`). */
interface CalleeContext {
  element: Element;
  stanza: Element;
  from?: { toString(): string };
}

/** A disco#items entry; `jid` defaults to the agent's own full JID. */
export interface DiscoItem {
  jid?: string;
  node?: string;
  name?: string;
}

/**
 * The disco nodes a face publishes (XEP-0030 §3.2, §4.2): each answers for its own nodes and returns undefined
 * for nodes it does not know or hides from `from`, which then get item-not-found.
 */
export interface DiscoNodes {
  info?(node: string, from: string): DiscoInfo | undefined;
  /** Items of `node`; the node "" asks for the items of the agent itself. */
  items?(node: string, from: string): DiscoItem[] | undefined;
}

interface Events {
  online: [jid: string];
  offline: [reason: string];
  stanza: [stanza: Element];
}

export class XmppConnection extends EventEmitter<Events> {
  private current: XmppClient | undefined;
  private online = false;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly routes: IqRoute[] = [];
  private readonly features = new Set<string>([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING]);
  private readonly discoNodes: DiscoNodes[] = [];
  private presence: () => Element = () => xml("presence");
  /** Reconnects reuse the login's salted password instead of running PBKDF2 again. */
  private readonly saltedPasswords = new SaltedPasswordCache();

  constructor(
    private options: ConnectionOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  /** New settings (a reloaded config): the link is closed and made again with them at once. */
  reconfigure(options: ConnectionOptions): void {
    this.options = options;
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const client = this.current;
    if (client && this.online) void client.entity.send(xml("presence", { type: "unavailable" })).catch(() => undefined);
    this.drop("new connection settings");
    this.attempt = 0;
    void this.connectOnce();
  }

  /** The account's bare JID, lower-cased. */
  get bareJid(): string {
    return `${this.options.username}@${this.options.domain}`.toLowerCase();
  }

  get isOnline(): boolean {
    return this.online;
  }

  /** Registers an iq handler on every session; `feature` is announced in disco#info. */
  route(route: IqRoute, feature?: string): void {
    this.routes.push(route);
    if (feature) this.features.add(feature);
  }

  /** Publishes disco nodes (and items of the agent itself) answered by `nodes`, on every session. */
  addDiscoNodes(nodes: DiscoNodes): void {
    this.discoNodes.push(nodes);
  }

  /** What disco#info announces, in the order it is sent; the XEP-0115 caps hash is computed from exactly this. */
  discoInfo(): DiscoInfo {
    return { identities: [{ category: "client", type: "bot", name: "xedge" }], features: [...this.features].sort() };
  }

  /** The presence sent when online and on each `updatePresence()`. */
  setPresence(build: () => Element): void {
    this.presence = build;
  }

  updatePresence(): void {
    if (this.online) void this.send(this.presence());
  }

  /** Starts connecting in the background; never waits for the network. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connectOnce();
  }

  async send(stanza: Element): Promise<boolean> {
    const client = this.current;
    if (!client || !this.online) return false;
    try {
      await client.entity.send(stanza);
      return true;
    } catch {
      return false;
    }
  }

  /** Sends an iq and resolves with the reply; rejects with StanzaError, TimeoutError, or when offline. */
  async request(iq: Element, timeoutMs: number): Promise<Element> {
    const client = this.current;
    if (!client || !this.online) throw new Error("not connected");
    return client.request(iq, timeoutMs);
  }

  /** Goes offline politely: unavailable presence, closed stream. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const client = this.current;
    if (client && this.online) {
      try {
        await client.entity.send(xml("presence", { type: "unavailable" }));
        await withTimeout(client.entity.stop(), 3000);
      } catch (error) {
        this.log.debug("closing the stream failed; dropping the link", { error: errorText(error) });
      }
    }
    this.drop("stopped");
  }

  private async connectOnce(): Promise<void> {
    if (this.stopped) return;
    const client = createClient(this.options, this.saltedPasswords);
    this.current = client;
    this.install(client);
    const { entity } = client;
    let lastError: unknown;
    entity.on("error", (error: unknown) => {
      lastError = error;
    });
    try {
      await withTimeout(entity.start(), this.options.attemptTimeoutMs ?? 30_000);
    } catch (error) {
      if (this.current !== client || this.stopped) return;
      this.log.warn("connection failed", { error: explainConnectError(lastError ?? error, this.options) });
      this.drop("connect failed");
      this.scheduleRetry();
      return;
    }
    if (this.current !== client || this.stopped) return;
    this.attempt = 0;
    this.online = true;
    entity.on("disconnect", () => this.lost(client, "stream closed by the server or the network"));
    entity.on("stanza", (stanza: Element) => this.emit("stanza", stanza));
    await entity.send(this.presence()).catch(() => undefined);
    this.pingTimer = setInterval(() => void this.ping(client), this.options.pingIntervalMs);
    const boundJid = entity.jid?.toString() ?? "";
    this.log.info("online", { jid: boundJid, service: this.options.service });
    this.emit("online", boundJid);
  }

  private install(client: XmppClient): void {
    const { iqCallee } = client;
    iqCallee.get(NS_PING, "ping", () => true);
    iqCallee.get(NS_DISCO_INFO, "query", (context) => {
      const { element, from } = context as unknown as CalleeContext;
      const info = this.discoInfo();
      const node = element.attrs.node as string | undefined;
      // The agent itself and its caps node (XEP-0115 §6.2) share one answer; other nodes belong to the faces.
      if (node === undefined || node === `${CAPS_NODE}#${capsVer(info)}`) return discoInfoElement(info, node);
      const nodeInfo = this.discoNodes.map((nodes) => nodes.info?.(node, from?.toString() ?? "")).find((found) => found !== undefined);
      return nodeInfo ? discoInfoElement(nodeInfo, node) : itemNotFound();
    });
    iqCallee.get(NS_DISCO_ITEMS, "query", (context) => {
      const { element, from, stanza } = context as unknown as CalleeContext;
      const node = element.attrs.node as string | undefined;
      const answers = this.discoNodes.map((nodes) => nodes.items?.(node ?? "", from?.toString() ?? ""));
      // The agent's own items are everyone's together; a node's items come from the face that has the node.
      const items = node === undefined ? answers.flatMap((found) => found ?? []) : answers.find((found) => found !== undefined);
      if (!items) return itemNotFound();
      const self = String(stanza.attrs.to ?? client.entity.jid?.toString() ?? "");
      return xml(
        "query",
        { xmlns: NS_DISCO_ITEMS, ...(node !== undefined ? { node } : {}) },
        ...items.map((item) => xml("item", { jid: item.jid ?? self, ...(item.node !== undefined ? { node: item.node } : {}), ...(item.name !== undefined ? { name: item.name } : {}) })),
      );
    });
    for (const route of this.routes) {
      const register = route.type === "get" ? iqCallee.get.bind(iqCallee) : iqCallee.set.bind(iqCallee);
      register(route.ns, route.name, (context) => {
        const { element, stanza, from } = context as unknown as CalleeContext;
        return route.handler({ element, stanza, from: from?.toString() ?? "" });
      });
    }
  }

  private async ping(client: XmppClient): Promise<void> {
    if (this.current !== client || !this.online) return;
    try {
      await client.request(
        xml("iq", { type: "get", to: this.options.domain }, xml("ping", { xmlns: NS_PING })),
        this.options.pingTimeoutMs,
      );
    } catch (error) {
      // An error reply is still an answer: the link is alive. Only silence means a dead link.
      if ((error as { name?: string }).name === "TimeoutError") {
        this.lost(client, `no answer to a ping within ${this.options.pingTimeoutMs} ms`);
      }
    }
  }

  private lost(client: XmppClient, reason: string): void {
    if (this.current !== client || !this.online || this.stopped) return;
    this.log.warn("link lost", { reason });
    this.drop(reason);
    this.scheduleRetry();
  }

  /** Forgets the current client: its socket is destroyed and nothing it emits reaches us any more. */
  private drop(reason: string): void {
    clearInterval(this.pingTimer);
    const client = this.current;
    this.current = undefined;
    const wasOnline = this.online;
    this.online = false;
    if (client) {
      const { entity } = client;
      entity.removeAllListeners();
      entity.on("error", () => undefined);
      // A net.Socket before STARTTLS, xmpp.js's TLS wrapper (holding the TLSSocket) after it.
      const socket = entity.socket as unknown as { socket?: { destroy(): void } | null; destroy?: () => void } | null;
      if (socket?.socket) socket.socket.destroy();
      else socket?.destroy?.();
    }
    if (wasOnline) this.emit("offline", reason);
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.options.reconnect.initialDelayMs, this.options.reconnect.maxDelayMs);
    this.attempt += 1;
    this.log.info("reconnecting", { inMs: delay, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connectOnce(), delay);
  }
}

function discoInfoElement(info: DiscoInfo, node: string | undefined): Element {
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO, ...(node !== undefined ? { node } : {}) },
    ...info.identities.map((identity) => xml("identity", { ...identity })),
    ...info.features.map((feature) => xml("feature", { var: feature })),
  );
}

/** XEP-0030: a node that does not exist (or is not shown to the requester). */
function itemNotFound(): Element {
  return xml("error", { type: "cancel" }, xml("item-not-found", { xmlns: NS_STANZAS }));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

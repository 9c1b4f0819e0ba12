// The link to the server, composed in one place from single-purpose modules (as xmpp.js composes its packages):
// link/reconnect.ts makes a fresh client per attempt and backs off between attempts, link/keepalive.ts pings
// to find a dead link and answers pings, link/iq-routes.ts installs the faces' iq handlers on every session,
// link/disco.ts answers service discovery, link/own-presence.ts sends the agent's presence, link/bounces.ts hands
// an error that comes back for an unprompted stanza to the face that sent it. The faces see only this class.
import { EventEmitter } from "node:events";
import type { Element } from "@xmpp/xml";
import type { ClientOptions, XmppClient } from "./client.ts";
import type { Logger } from "../log.ts";
import type { DiscoInfo } from "./caps.ts";
import { Reconnect, type ReconnectOptions } from "./link/reconnect.ts";
import { answerPings, Keepalive, NS_PING, type KeepaliveOptions } from "./link/keepalive.ts";
import { IqRoutes, type IqRoute } from "./link/iq-routes.ts";
import { Disco, type DiscoNodes } from "./link/disco.ts";
import { OwnPresence } from "./link/own-presence.ts";
import { Bounces, type Bounce, type UnpromptedKind } from "./link/bounces.ts";

export { backoffDelay, explainConnectError } from "./link/reconnect.ts";
export type { IqRoute } from "./link/iq-routes.ts";
export type { DiscoItem, DiscoNodes } from "./link/disco.ts";
export type { Bounce, UnpromptedKind } from "./link/bounces.ts";

export interface ConnectionOptions extends ClientOptions, KeepaliveOptions, ReconnectOptions {}

interface Events {
  online: [jid: string];
  offline: [reason: string];
  stanza: [stanza: Element];
}

export class XmppConnection extends EventEmitter<Events> {
  private readonly routes = new IqRoutes();
  private readonly disco = new Disco([NS_PING]);
  private readonly presence = new OwnPresence(this);
  private readonly bounces = new Bounces();
  private readonly link: Reconnect;
  private readonly keepalive: Keepalive<XmppClient>;

  constructor(
    private options: ConnectionOptions,
    private readonly log: Logger,
  ) {
    super();
    const current = () => this.options;
    this.link = new Reconnect(current, log, {
      prepare: (client) => {
        answerPings(client.iqCallee);
        this.disco.install(client.iqCallee, () => client.entity.jid?.toString() ?? "");
        this.routes.install(client.iqCallee);
      },
      up: (client) => this.up(client),
      leave: (client) => this.presence.withdraw(client),
      dropped: (reason, wasOnline) => {
        this.keepalive.stop();
        if (wasOnline) this.emit("offline", reason);
      },
    });
    this.keepalive = new Keepalive(current, this.link);
  }

  /** New settings (a reloaded config): the link is closed and made again with them at once. */
  reconfigure(options: ConnectionOptions): void {
    this.options = options;
    this.link.restart("new connection settings");
  }

  /** The account's bare JID, lower-cased. */
  get bareJid(): string {
    return `${this.options.username}@${this.options.domain}`.toLowerCase();
  }

  /** Why the last attempt to connect failed, in words a person can act on; undefined before any failure. */
  get lastConnectError(): string | undefined {
    return this.link.lastFailure;
  }

  get isOnline(): boolean {
    return this.link.live() !== undefined;
  }

  /** Registers an iq handler on every session; `feature` is announced in disco#info. */
  route(route: IqRoute, feature?: string): void {
    this.routes.add(route);
    if (feature) this.disco.announce(feature);
  }

  /** Publishes disco nodes (and items of the agent itself) answered by `nodes`, on every session. */
  addDiscoNodes(nodes: DiscoNodes): void {
    this.disco.addNodes(nodes);
  }

  /** What disco#info announces, in the order it is sent; the XEP-0115 caps hash is computed from exactly this. */
  discoInfo(): DiscoInfo {
    return this.disco.info();
  }

  /** The presence sent when online and on each `updatePresence()`. */
  setPresence(build: () => Element): void {
    this.presence.set(build);
  }

  updatePresence(): void {
    this.presence.update();
  }

  /** Starts connecting in the background; never waits for the network. */
  start(): void {
    this.link.start();
  }

  async send(stanza: Element): Promise<boolean> {
    const client = this.link.live();
    if (!client) return false;
    try {
      await client.entity.send(stanza);
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a stanza the agent says unprompted, marked as `kind`'s: an error that comes back for it goes to onBounce. */
  sendUnprompted(kind: UnpromptedKind, stanza: Element): Promise<boolean> {
    return this.send(this.bounces.mark(kind, stanza));
  }

  /** The face that sends `kind` hears each of its stanzas that comes back as an error, instead of a "stanza" event. */
  onBounce(kind: UnpromptedKind, listener: (bounce: Bounce) => void): void {
    this.bounces.on(kind, listener);
  }

  /** Sends an iq and resolves with the reply; rejects with StanzaError, TimeoutError, or when offline. */
  async request(iq: Element, timeoutMs: number): Promise<Element> {
    const client = this.link.live();
    if (!client) throw new Error("not connected");
    return client.request(iq, timeoutMs);
  }

  /** Goes offline politely: unavailable presence, closed stream. */
  async stop(): Promise<void> {
    this.keepalive.stop();
    await this.link.stop();
  }

  /** A session is up: stanzas flow to the faces, the presence goes out, pings start, then "online" is told. */
  private async up(client: XmppClient): Promise<void> {
    client.entity.on("stanza", (stanza: Element) => {
      if (!this.bounces.route(stanza)) this.emit("stanza", stanza);
    });
    await this.presence.announce(client);
    this.keepalive.start(client);
    const boundJid = client.entity.jid?.toString() ?? "";
    this.log.info("online", { jid: boundJid, service: this.options.service });
    this.emit("online", boundJid);
  }
}

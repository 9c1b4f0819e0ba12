// What the console knows of the operator's gateways, kept from the faces the agent already has: the roster for
// the list, presence for online and health, disco#info to tell an xedge agent from a person, XEP-0323 readouts
// for current values and history, pubsub notifications for live values, XEP-0325 for control, alert messages.
import { IqError, xml, type Element, type Link } from "./link.ts";
import { alertsOf, controlType, failuresOf, NS_SENSORDATA, readingsOf, type Field, type NodeReading } from "./sensordata.ts";

const NS_ROSTER = "jabber:iq:roster";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
const NS_CONTROL = "urn:xmpp:iot:control";
const READOUT_TIMEOUT_MS = 20_000;
const ALERTS_KEPT = 10;

export interface FieldState extends Field {
  time: number;
  /** The pubsub item id (the reading's sequence number) of the last live value; undefined before the first. */
  itemId: string | undefined;
}

export interface GatewayState {
  /** Bare JID, as in the roster. */
  jid: string;
  /** The agent's full JID while it is online. */
  fullJid: string | undefined;
  /** undefined until disco#info said; false for a contact that is no xedge agent. */
  isAgent: boolean | undefined;
  /** Presence `show` ("" for plain available) and `status`: the agent's health line. */
  show: string;
  health: string;
  alerts: string[];
  /** The newest alert messages the agent sent (fired ⚠ and cleared ✓), newest first. */
  alertMessages: string[];
  /** node id → field name → state. */
  nodes: Map<string, Map<string, FieldState>>;
  /** node id → why its last read failed. */
  failures: Map<string, string>;
  /** Why the last control request was refused or failed, per `node/parameter`. */
  controlErrors: Map<string, string>;
  /** The pubsub nodes its live readings come from, as the agent named them (or the default prefix). */
  liveNodes: LiveNode[];
}

/** A pubsub node and the service (a component, or a bare JID for PEP) that holds it. */
export interface LiveNode {
  service: string;
  node: string;
}

interface Readout {
  from: string;
  readings: NodeReading[];
  failures: Map<string, string>;
  done(): void;
}

function newGateway(jid: string): GatewayState {
  return { jid, fullJid: undefined, isAgent: undefined, show: "", health: "", alerts: [], alertMessages: [], nodes: new Map(), failures: new Map(), controlErrors: new Map(), liveNodes: [] };
}

function bare(jid: string): string {
  return jid.split("/")[0] ?? jid;
}

export class ConsoleSession {
  readonly gateways = new Map<string, GatewayState>();
  private readonly readouts = new Map<string, Readout>();
  private readonly liveListeners = new Set<(gateway: GatewayState, reading: NodeReading) => void>();
  private nextSeqnr = 1;
  private pubsubService: Promise<string | undefined> | undefined;

  constructor(
    private readonly link: Link,
    /** Called after any change of a gateway's state (undefined: the list itself changed). */
    private readonly changed: (gateway?: GatewayState) => void,
  ) {
    link.onStanza((stanza) => this.onStanza(stanza));
    link.onOnline(() => void this.afterLogin());
  }

  /** Called with every live reading (pubsub) after the state took it. */
  onLive(listener: (gateway: GatewayState, reading: NodeReading) => void): () => void {
    this.liveListeners.add(listener);
    return () => this.liveListeners.delete(listener);
  }

  /** After every login (the first and each reconnect): roster, presence, and the agents' state read afresh. */
  private async afterLogin(): Promise<void> {
    this.pubsubService = undefined;
    for (const gateway of this.gateways.values()) gateway.fullJid = undefined;
    const roster = await this.link.request("get", undefined, xml("query", { xmlns: NS_ROSTER }));
    for (const item of roster.getChild("query", NS_ROSTER)?.getChildren("item") ?? []) {
      const jid = item.attrs["jid"] as string | undefined;
      if (jid !== undefined && !this.gateways.has(jid)) this.gateways.set(jid, newGateway(jid));
    }
    this.changed();
    // Presence after the roster: the server then sends the contacts' presence, which starts each agent's reads.
    await this.link.send(xml("presence"));
  }

  /** Asks `jid` for its presence (an operator's subscription is granted by the agent) and lists it. */
  async addGateway(jid: string): Promise<void> {
    const bareJid = bare(jid.trim()).toLowerCase();
    if (!/^[^@/\s]+@[^@/\s]+$/.test(bareJid)) throw new Error(`not a JID: ${jid}`);
    if (!this.gateways.has(bareJid)) this.gateways.set(bareJid, newGateway(bareJid));
    this.changed();
    await this.link.send(xml("presence", { to: bareJid, type: "subscribe" }));
  }

  /**
   * Takes `jid` off the list: the operator's subscriptions to its pubsub nodes end, and the roster item goes,
   * which also ends the presence subscription both ways (RFC 6121 §2.5).
   */
  async removeGateway(jid: string): Promise<void> {
    const gateway = this.gateways.get(jid);
    if (gateway === undefined) return;
    await Promise.all(
      gateway.liveNodes.map(({ service, node }) =>
        this.link
          .request("set", service, xml("pubsub", { xmlns: NS_PUBSUB }, xml("unsubscribe", { node, jid: this.link.bareJid })))
          .catch((error: unknown) => console.warn(`console: could not unsubscribe from ${node}:`, error)),
      ),
    );
    await this.link.request("set", undefined, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid, subscription: "remove" })));
    // Off the page once the server has taken it off the roster.
    this.gateways.delete(jid);
    this.changed();
  }

  private onStanza(stanza: Element): void {
    if (stanza.name === "presence") this.onPresence(stanza);
    else if (stanza.name === "message") this.onMessage(stanza);
  }

  private onPresence(presence: Element): void {
    const from = presence.attrs["from"] as string | undefined;
    if (from === undefined) return;
    const gateway = this.gateways.get(bare(from));
    if (gateway === undefined) return;
    const type = presence.attrs["type"] as string | undefined;
    if (type === "unavailable") {
      if (gateway.fullJid === from) gateway.fullJid = undefined;
      this.changed(gateway);
      return;
    }
    if (type !== undefined) return; // subscribe, subscribed, error: nothing to show
    const arrived = gateway.fullJid !== from;
    gateway.fullJid = from;
    gateway.show = presence.getChildText("show") ?? "";
    gateway.health = presence.getChildText("status") ?? "";
    gateway.alerts = alertsOf(gateway.health);
    this.changed(gateway);
    if (arrived) void this.getAcquainted(gateway, from);
  }

  /** A gateway came online: is it an agent; then its current values, and live readings from its nodes. */
  private async getAcquainted(gateway: GatewayState, fullJid: string): Promise<void> {
    try {
      const info = await this.link.request("get", fullJid, xml("query", { xmlns: NS_DISCO_INFO }));
      const features = info.getChild("query", NS_DISCO_INFO)?.getChildren("feature").map((feature) => feature.attrs["var"] as string) ?? [];
      gateway.isAgent = features.includes(NS_SENSORDATA);
      this.changed(gateway);
      if (!gateway.isAgent) return;
      await this.readCurrent(gateway);
      await this.subscribeLive(gateway, fullJid);
    } catch (error) {
      console.warn(`console: ${gateway.jid}:`, error);
    }
  }

  /** Reads every node's current values (or `nodeId`'s) into the state. */
  async readCurrent(gateway: GatewayState, nodeId?: string): Promise<void> {
    const readout = await this.readout(gateway, { momentary: "true" }, nodeId === undefined ? [] : [xml("node", { nodeId })]);
    for (const reading of readout.readings) this.take(gateway, reading, undefined);
    if (nodeId === undefined) gateway.failures = readout.failures;
    else if (readout.failures.has(nodeId)) gateway.failures.set(nodeId, readout.failures.get(nodeId) ?? "");
    else gateway.failures.delete(nodeId);
    this.changed(gateway);
  }

  /**
   * The stored values of one numeric field since `since`, oldest first: each reading (times in s), or with
   * `period` (e.g. `historicalMinute`) the agent's average per period. `failure` is why the agent could not
   * answer (e.g. more readings in the range than it sends raw).
   */
  async history(gateway: GatewayState, nodeId: string, field: string, since: Date, period?: string): Promise<{ times: number[]; values: number[]; failure?: string }> {
    const readout = await this.readout(gateway, { [period ?? "historical"]: "true", from: since.toISOString() }, [xml("node", { nodeId }), xml("field", { name: field })]);
    const points = readout.readings
      .flatMap((reading) => reading.fields.filter((candidate) => candidate.name === field && typeof candidate.value === "number").map((candidate) => [reading.time / 1000, candidate.value as number] as const))
      .sort((a, b) => a[0] - b[0]);
    const failure = readout.failures.get(nodeId);
    return { times: points.map(([time]) => time), values: points.map(([, value]) => value), ...(failure === undefined ? {} : { failure }) };
  }

  /**
   * XEP-0325 set of one parameter, typed as the field the readout showed (`controlType`); afterwards the node is
   * read again so the list shows what the device holds. The value goes as typed: whether it fits (a number, in
   * range) is the agent's to say, and its refusal is kept in `controlErrors` for the page to show.
   */
  async set(gateway: GatewayState, nodeId: string, field: Pick<FieldState, "name" | "type">, value: string): Promise<void> {
    const key = `${nodeId}/${field.name}`;
    const to = gateway.fullJid;
    if (to === undefined) throw new Error(`${gateway.jid} is offline`);
    try {
      await this.link.request("set", to, xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId }), xml(controlType(field), { name: field.name, value })));
      gateway.controlErrors.delete(key);
    } catch (error) {
      gateway.controlErrors.set(key, error instanceof IqError && error.condition === "forbidden" ? `refused: ${error.message}` : `failed: ${error instanceof Error ? error.message : String(error)}`);
      this.changed(gateway);
      return;
    }
    await this.readCurrent(gateway, nodeId);
  }

  private async readout(gateway: GatewayState, types: Record<string, string>, children: Element[]): Promise<Readout> {
    const to = gateway.fullJid;
    if (to === undefined) throw new Error(`${gateway.jid} is offline`);
    const seqnr = String(this.nextSeqnr++);
    let finish = (): void => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const readout: Readout = { from: to, readings: [], failures: new Map(), done: () => finish() };
    this.readouts.set(seqnr, readout);
    const timer = setTimeout(finish, READOUT_TIMEOUT_MS);
    try {
      await this.link.request("get", to, xml("req", { xmlns: NS_SENSORDATA, seqnr, ...types }, ...children));
      await finished;
    } finally {
      clearTimeout(timer);
      this.readouts.delete(seqnr);
    }
    return readout;
  }

  private onMessage(message: Element): void {
    const from = (message.attrs["from"] as string | undefined) ?? "";
    for (const child of message.children) {
      if (typeof child === "string") continue;
      if (child.attrs["xmlns"] === NS_SENSORDATA) this.onReadoutPart(from, child);
      else if (child.name === "event" && child.attrs["xmlns"] === NS_PUBSUB_EVENT) this.onPubsubEvent(from, child);
    }
    const body = message.getChildText("body");
    const gateway = this.gateways.get(bare(from));
    // Alert messages (docs/protocols.md): a fired one starts with ⚠, a cleared one with ✓.
    if (body !== null && gateway !== undefined && /^[⚠✓]/.test(body)) {
      gateway.alertMessages = [body, ...gateway.alertMessages].slice(0, ALERTS_KEPT);
      this.changed(gateway);
    }
  }

  private onReadoutPart(from: string, part: Element): void {
    const readout = this.readouts.get(String(part.attrs["seqnr"]));
    if (readout === undefined || readout.from !== from) return;
    if (part.name === "fields") {
      readout.readings.push(...readingsOf(part));
      if (part.attrs["done"] === "true") readout.done();
    } else if (part.name === "failure") {
      for (const [nodeId, text] of failuresOf(part)) readout.failures.set(nodeId, text);
      if (part.attrs["done"] === "true") readout.done();
    } else if (part.name === "done") {
      readout.done();
    }
  }

  private take(gateway: GatewayState, reading: NodeReading, itemId: string | undefined): void {
    let fields = gateway.nodes.get(reading.nodeId);
    if (fields === undefined) gateway.nodes.set(reading.nodeId, (fields = new Map<string, FieldState>()));
    for (const field of reading.fields) {
      const known = fields.get(field.name);
      // A readout answer older than the live value already shown does not move it back.
      if (known !== undefined && known.time > reading.time) continue;
      fields.set(field.name, { ...field, time: reading.time, itemId: itemId ?? known?.itemId });
    }
  }

  // ---------------------------------------------------------------- live readings (XEP-0060)

  /** The pubsub service of the operator's server: an item of the domain with the identity pubsub/service. */
  private findPubsubService(): Promise<string | undefined> {
    this.pubsubService ??= (async () => {
      const items = await this.link.request("get", this.link.domain, xml("query", { xmlns: NS_DISCO_ITEMS }));
      for (const item of items.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? []) {
        const jid = item.attrs["jid"] as string | undefined;
        if (jid === undefined) continue;
        const info = await this.link.request("get", jid, xml("query", { xmlns: NS_DISCO_INFO })).catch(() => undefined);
        const identities = info?.getChild("query", NS_DISCO_INFO)?.getChildren("identity") ?? [];
        if (identities.some((identity) => identity.attrs["category"] === "pubsub" && identity.attrs["type"] === "service")) return jid;
      }
      return undefined;
    })();
    return this.pubsubService;
  }

  /**
   * The nodes the gateway publishes to: the agent names them in its disco#items (each sensor's node and the
   * service holding it). An agent that does not gets the default, `xedge/<localpart>/<sensor>` on the pubsub
   * service of the operator's server.
   */
  private async liveNodesOf(gateway: GatewayState, fullJid: string): Promise<LiveNode[]> {
    const items = await this.link.request("get", fullJid, xml("query", { xmlns: NS_DISCO_ITEMS })).catch(() => undefined);
    const named = (items?.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? []).flatMap((item) => {
      const service = item.attrs["jid"] as string | undefined;
      const node = item.attrs["node"] as string | undefined;
      // The agent's own nodes (ad-hoc commands) carry its full JID; a sensor's node is on another entity.
      return service === undefined || node === undefined || service === fullJid ? [] : [{ service, node }];
    });
    if (named.length > 0) return named;
    const service = await this.findPubsubService();
    if (service === undefined) return [];
    const sensors = [...gateway.nodes].filter(([, fields]) => ![...fields.values()].some((field) => field.writable)).map(([nodeId]) => nodeId);
    return sensors.map((nodeId) => ({ service, node: `xedge/${gateway.jid.split("@")[0] ?? ""}/${nodeId}` }));
  }

  /**
   * Subscribes the operator's bare JID to the gateway's sensor nodes: the service then sends every new reading
   * to each of the operator's online sessions. A subscription of the bare JID is one per operator however often
   * the console logs in.
   */
  private async subscribeLive(gateway: GatewayState, fullJid: string): Promise<void> {
    gateway.liveNodes = await this.liveNodesOf(gateway, fullJid);
    await Promise.all(
      gateway.liveNodes.map(({ service, node }) =>
        this.link
          .request("set", service, xml("pubsub", { xmlns: NS_PUBSUB }, xml("subscribe", { node, jid: this.link.bareJid })))
          .catch((error: unknown) => console.warn(`console: no live values of ${gateway.jid} from ${node}:`, error)),
      ),
    );
  }

  private onPubsubEvent(from: string, event: Element): void {
    for (const items of event.getChildren("items")) {
      const node = String(items.attrs["node"]);
      const gateway = [...this.gateways.values()].find((candidate) => candidate.liveNodes.some((live) => live.service === from && live.node === node));
      if (gateway === undefined) continue;
      for (const item of items.getChildren("item")) {
        const fields = item.getChild("fields", NS_SENSORDATA);
        if (fields === undefined) continue;
        for (const reading of readingsOf(fields)) {
          this.take(gateway, reading, item.attrs["id"] as string | undefined);
          for (const listener of this.liveListeners) listener(gateway, reading);
        }
      }
      this.changed(gateway);
    }
  }
}

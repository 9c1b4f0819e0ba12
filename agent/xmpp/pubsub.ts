// XEP-0060 face of the publisher: one node per sensor (<nodePrefix>/<sensorId>), item id = sequence number.
// The first publish to a node in a session carries publish-options where the service supports them; a missing
// node is created and configured, a node whose configuration differs is reconfigured. Works on a pubsub
// component and on PEP. An account that may publish to a node but not create or configure it (a node made by
// someone else) publishes without publish-options and says once what the node keeps that differs from what
// it wanted. Errors are classified by their pubsub#errors condition (XEP-0060 §7.1.3): a reading the service
// refuses for good is "rejected" (the publisher sets it aside), the rest is retried in order.
import { xml, type Element } from "./client.ts";
import type { XmppConnection } from "./connection.ts";
import { readingPayload } from "./fields.ts";
import { PublishError, type PublishSink } from "../publisher.ts";
import type { Reading } from "../../lib/model.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_DATA = "jabber:x:data";
const FEATURE_PUBLISH_OPTIONS = `${NS_PUBSUB}#publish-options`;

export interface PubsubOptions {
  /** The pubsub component's JID; undefined publishes to the account's own PEP service. */
  service?: string;
  nodePrefix: string;
  maxItems: number;
  accessModel?: string;
  /** The gateway's bare JID: the PEP service, and for error messages that say what to grant. */
  gatewayJid: string;
  requestTimeoutMs?: number;
  /** Something the operator should know that is not an error (e.g. a server limit applied instead of config). */
  notice?: (message: string) => void;
}

/** Conditions with which services refuse a node configuration they do not allow (e.g. max_items too high). */
const CONFIG_REFUSALS = new Set(["not-acceptable", "resource-constraint", "policy-violation", "bad-request"]);

/** Conditions with which a service refuses to let this account create or configure a node at all. */
const OWNER_ONLY = new Set(["forbidden", "not-allowed", "feature-not-implemented"]);

/** pubsub#errors conditions that refuse one item for what it holds: sending it again gets the same answer. */
const ITEM_REFUSALS = new Set(["invalid-payload", "payload-too-big"]);

/**
 * pubsub#errors conditions that refuse every publish to the node, whatever the item, until someone changes the
 * node or the account's affiliation: setting readings aside would empty the outbox into the store for nothing.
 */
const NODE_REFUSALS = new Set(["closed-node", "presence-subscription-required", "not-in-roster-group", "item-forbidden", "item-required", "payload-required", "unsupported"]);

/** One pubsub item: its id and payload. */
interface Item {
  id: string;
  payload: Element;
}

function readingItem(reading: Reading): Item {
  return { id: String(reading.seq), payload: readingPayload(reading) };
}

/** A node the probe published to (PubsubSink.probe), and why its item could not be retracted, if it could not. */
export interface NodeProbe {
  node: string;
  itemId: string;
  retractError?: string;
}

/** The probe's payload: in a namespace of its own, so that no consumer of readings takes it for one. */
export const NS_CHECK = "urn:xedge:check";

export function nodeName(prefix: string, sensorId: string): string {
  return `${prefix}/${sensorId}`;
}

function dataForm(formType: string, values: Record<string, string>): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, formType)),
    ...Object.entries(values).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))),
  );
}

/** What a stanza error carries (agent/xmpp/iq.ts makes it a StanzaError). */
interface StanzaErrorShape {
  condition?: unknown;
  type?: unknown;
  text?: unknown;
  application?: Element;
}

function condition(error: unknown): string | undefined {
  const c = (error as StanzaErrorShape).condition;
  return typeof c === "string" ? c : undefined;
}

/** The pubsub-specific condition of an error (e.g. precondition-not-met), when there is one. */
function pubsubCondition(error: unknown): string | undefined {
  const application = (error as StanzaErrorShape).application;
  return application?.attrs.xmlns === `${NS_PUBSUB}#errors` ? application.name : undefined;
}

/** The error's condition, its pubsub#errors condition and its text, for a log line. */
function errorDetail(error: unknown): string {
  const c = condition(error);
  if (!c) return error instanceof Error ? error.message : String(error);
  const application = pubsubCondition(error);
  const text = (error as StanzaErrorShape).text;
  return `${c}${application ? `, ${application}` : ""}${typeof text === "string" && text ? `: ${text}` : ""}`;
}

/**
 * How a refused publish is handled (PublishError's severity). An error of type "wait" (RFC 6120: retry after
 * waiting) is transient whatever its condition; a pubsub#errors condition that refuses the item itself
 * (invalid-payload, payload-too-big) rejects that reading; one that refuses the node to this account, or
 * forbidden, is fatal; anything else (timeouts, a lost link, internal-server-error) is transient.
 */
export function publishSeverity(error: unknown): PublishError["severity"] {
  if (error instanceof PublishError) return error.severity;
  if ((error as StanzaErrorShape).type === "wait") return "transient";
  const application = pubsubCondition(error);
  if (application !== undefined && ITEM_REFUSALS.has(application)) return "rejected";
  if (application !== undefined && NODE_REFUSALS.has(application)) return "fatal";
  return condition(error) === "forbidden" ? "fatal" : "transient";
}

/** The values of a data form's fields by name. */
function formValues(form: Element | undefined): Map<string, string> {
  const values = new Map<string, string>();
  for (const field of form?.getChildren("field") ?? []) {
    const value = field.getChildren("value").map((v) => v.text()).join(",");
    if (typeof field.attrs.var === "string" && field.getChild("value")) values.set(field.attrs.var, value);
  }
  return values;
}

export class PubsubSink implements PublishSink {
  /** Nodes whose first publish of this session succeeded (or is under way): later ones publish plainly. */
  private readonly nodes = new Map<string, Promise<void>>();
  private features: Promise<Set<string>> | undefined;
  private publishOptionsRefused = false;
  /** Set once the service refused pubsub.maxItems: nodes then ask for the service's own maximum. */
  private maxItemsRefused = false;
  /** Nodes whose publish without publish-options was reported: once per node, not once per session. */
  private readonly reportedPublisherOnly = new Set<string>();

  constructor(
    private readonly connection: Pick<XmppConnection, "request">,
    private options: PubsubOptions,
  ) {}

  /** New node settings (a reloaded config): each node is set up again at its next first publish. */
  reconfigure(options: PubsubOptions): void {
    this.options = options;
    this.maxItemsRefused = false;
    // What the nodes are asked for may have changed: say again what a node keeps that differs.
    this.reportedPublisherOnly.clear();
    this.reset();
  }

  reset(): void {
    this.nodes.clear();
    this.features = undefined;
    this.publishOptionsRefused = false;
  }

  async publish(reading: Reading): Promise<void> {
    const node = nodeName(this.options.nodePrefix, reading.sensorId);
    const ready = this.nodes.get(node);
    if (!ready) {
      const first = this.firstPublish(node, readingItem(reading));
      this.nodes.set(node, first);
      first.catch(() => this.nodes.delete(node));
      return first;
    }
    try {
      await ready;
    } catch (error) {
      // The node's first reading was refused for itself, not for the node: this one makes the first attempt now.
      if (publishSeverity(error) === "rejected") return this.publish(reading);
      throw error;
    }
    try {
      await this.request(this.publishIq(node, readingItem(reading)));
    } catch (error) {
      if (condition(error) === "item-not-found") this.nodes.delete(node); // deleted behind our back: recreate
      throw this.explain(error, node, "publish to");
    }
  }

  /**
   * What `xedge check` asks of a sensor's node: may this account publish there the way the agent will? XEP-0060
   * gives a publisher no way to ask: Prosody 0.12 answers no retrieve-affiliations request and lets publishers
   * read a configuration only owners may change, so neither the affiliation nor the configuration tells. The
   * sure answer is the service's own: the probe takes the first publish's whole road (publish-options, creating
   * or reconfiguring the node, publishing plainly to someone else's node, and the same explanations when
   * refused) with one marked item, then retracts it. The item is no reading: its id starts with "xedge-check-"
   * and its payload is in NS_CHECK. Subscribers are told of it, and on a node already holding max_items it
   * pushes out the oldest item, as the agent's next reading would.
   */
  async probe(sensorId: string): Promise<NodeProbe> {
    const node = nodeName(this.options.nodePrefix, sensorId);
    const at = new Date();
    const itemId = `xedge-check-${at.getTime()}`;
    await this.firstPublish(node, { id: itemId, payload: xml("check", { xmlns: NS_CHECK, at: at.toISOString() }) });
    try {
      await this.request(this.pubsubIq("set", NS_PUBSUB, xml("retract", { node }, xml("item", { id: itemId }))));
      return { node, itemId };
    } catch (error) {
      return { node, itemId, retractError: errorDetail(error) };
    }
  }

  /**
   * The highest reading number among the items a sensor's node holds (XEP-0060 §5.5: a disco#items on the node
   * lists item ids without payloads); 0 for a node that does not exist or holds none. After a damaged store was
   * recovered, it is what proves where a sequence may go on without reusing an item id.
   */
  async highestItemId(sensorId: string): Promise<number> {
    const node = nodeName(this.options.nodePrefix, sensorId);
    let reply: Element;
    try {
      reply = await this.request(xml("iq", { type: "get", to: this.options.service ?? this.options.gatewayJid }, xml("query", { xmlns: NS_DISCO_ITEMS, node })));
    } catch (error) {
      if (condition(error) === "item-not-found") return 0;
      throw new Error(`cannot list the items of node ${node}: ${errorDetail(error)}`);
    }
    let highest = 0;
    for (const item of reply.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? []) {
      const id = String(item.attrs.name ?? "");
      if (/^\d+$/.test(id)) highest = Math.max(highest, Number(id));
    }
    return highest;
  }

  private get nodeConfig(): Record<string, string> {
    const config: Record<string, string> = {
      "pubsub#persist_items": "true",
      "pubsub#max_items": this.maxItemsRefused ? "max" : String(this.options.maxItems),
    };
    if (this.options.accessModel) config["pubsub#access_model"] = this.options.accessModel;
    return config;
  }

  /**
   * With publish-options one iq both publishes and checks (or, on auto-create, sets) the node configuration.
   * Without them, or when the service refuses ours (ejabberd 23.01 answers resource-constraint "Unknown field
   * 'pubsub#max_items'"), the node is created or reconfigured first, then published to plainly. When this
   * account may not create or configure the node (a publisher of someone else's node), it publishes plainly all
   * the same: the node keeps its owner's configuration, and the operator is told once what differs.
   */
  private async firstPublish(node: string, item: Item): Promise<void> {
    if ((await this.serviceFeatures()).has(FEATURE_PUBLISH_OPTIONS) && !this.publishOptionsRefused) {
      try {
        await this.request(this.publishIq(node, item, true));
        return;
      } catch (error) {
        if (condition(error) === "forbidden" || publishSeverity(error) === "rejected") throw this.explain(error, node, "publish to");
        // item-not-found: create it; precondition-not-met: reconfigure it; anything else: our options are the problem.
        if (condition(error) !== "item-not-found" && pubsubCondition(error) !== "precondition-not-met") this.publishOptionsRefused = true;
      }
    }
    let ownerRefusal: unknown;
    try {
      await this.createOrConfigure(node);
    } catch (error) {
      if (!OWNER_ONLY.has(condition(error) ?? "")) throw this.explain(error, node, "create or configure");
      ownerRefusal = error;
    }
    try {
      await this.request(this.publishIq(node, item));
    } catch (error) {
      // The node does not exist and this account may not make it: what to grant is the creation, not the publish.
      if (ownerRefusal !== undefined && condition(error) === "item-not-found") throw this.explain(ownerRefusal, node, "create");
      throw this.explain(error, node, "publish to");
    }
    if (ownerRefusal !== undefined) await this.reportPublisherOnly(node, ownerRefusal);
  }

  /**
   * Says once per node that it is published to without publish-options and what of the wanted configuration it
   * does not have, as far as the node's disco#info meta-data tells (XEP-0060 §5.4; Prosody 0.12 and ejabberd
   * 23.01 disclose the access and publish models there, not persistence nor max_items).
   */
  private async reportPublisherOnly(node: string, refusal: unknown): Promise<void> {
    if (this.reportedPublisherOnly.has(node)) return;
    this.reportedPublisherOnly.add(node);
    const metadata = await this.request(
      xml("iq", { type: "get", to: this.options.service ?? this.options.gatewayJid }, xml("query", { xmlns: NS_DISCO_INFO, node })),
    ).then(
      (reply) => formValues(reply.getChild("query", NS_DISCO_INFO)?.getChildren("x", NS_DATA).find((form) => formValues(form).get("FORM_TYPE") === `${NS_PUBSUB}#meta-data`)),
      () => new Map<string, string>(),
    );
    const differs: string[] = [];
    const undisclosed: string[] = [];
    for (const [name, wanted] of Object.entries(this.nodeConfig)) {
      const actual = metadata.get(name);
      const setting = name.replace(/^pubsub#/, "");
      if (actual === undefined) undisclosed.push(`${setting} (wanted ${wanted})`);
      else if (actual !== wanted) differs.push(`${setting} ${actual} (wanted ${wanted})`);
    }
    const where = this.options.service ?? `the PEP service of ${this.options.gatewayJid}`;
    this.options.notice?.(
      `${where} does not let ${this.options.gatewayJid} create or configure node ${node} (${errorDetail(refusal)}): publishing to it without publish-options, so it keeps its owner's configuration; ` +
        `differs from the pubsub settings: ${differs.length > 0 ? differs.join(", ") : "nothing the service discloses"}` +
        `${undisclosed.length > 0 ? `; not disclosed by the service: ${undisclosed.join(", ")}` : ""}`,
    );
  }

  private publishIq(node: string, item: Item, withOptions = false): Element {
    const iq = this.pubsubIq("set", NS_PUBSUB, xml("publish", { node }, xml("item", { id: item.id }, item.payload)));
    if (withOptions) {
      iq.getChild("pubsub")?.append(xml("publish-options", {}, dataForm(`${NS_PUBSUB}#publish-options`, this.nodeConfig)));
    }
    return iq;
  }

  private pubsubIq(type: "get" | "set", ns: string, child: Element): Element {
    const attrs: Record<string, string> = { type };
    if (this.options.service) attrs.to = this.options.service;
    return xml("iq", attrs, xml("pubsub", { xmlns: ns }, child));
  }

  private request(iq: Element): Promise<Element> {
    return this.connection.request(iq, this.options.requestTimeoutMs ?? 30_000);
  }

  /** The service's disco#info features, asked once per session. */
  private serviceFeatures(): Promise<Set<string>> {
    this.features ??= this.request(
      xml("iq", { type: "get", to: this.options.service ?? this.options.gatewayJid }, xml("query", { xmlns: NS_DISCO_INFO })),
    ).then(
      (reply) => new Set(reply.getChild("query", NS_DISCO_INFO)?.getChildren("feature").map((f) => String(f.attrs.var)) ?? []),
      () => new Set<string>(),
    );
    return this.features;
  }

  /**
   * Runs a node creation or configuration; if the service refuses it (typically a max_items above its limit:
   * Prosody's pubsub_max_items and pep_max_items default to 256), tries once more with max_items "max", the
   * service's own maximum (XEP-0060), and says so.
   */
  private async withServiceLimits(node: string, operation: () => Promise<void>): Promise<void> {
    try {
      await operation();
    } catch (error) {
      const c = error instanceof PublishError ? undefined : condition(error);
      if (this.maxItemsRefused || c === undefined || !CONFIG_REFUSALS.has(c)) throw error;
      this.maxItemsRefused = true;
      this.options.notice?.(
        `${this.options.service ?? `the PEP service of ${this.options.gatewayJid}`} refused pubsub.maxItems ${this.options.maxItems} for node ${node} (${c}); nodes keep the service's maximum instead (Prosody: raise pubsub_max_items or pep_max_items; ejabberd: max_items_node)`,
      );
      await operation();
    }
  }

  /** Creates the node with its configuration; if it exists already, applies the configuration instead. */
  private createOrConfigure(node: string): Promise<void> {
    return this.withServiceLimits(node, () => this.createOrConfigureOnce(node));
  }

  private async createOrConfigureOnce(node: string): Promise<void> {
    const iq = this.pubsubIq("set", NS_PUBSUB, xml("create", { node }));
    iq.getChild("pubsub")?.append(xml("configure", {}, dataForm(`${NS_PUBSUB}#node_config`, this.nodeConfig)));
    try {
      await this.request(iq);
    } catch (error) {
      if (condition(error) !== "conflict") throw error;
      await this.configureOnce(node);
    }
  }

  private configure(node: string): Promise<void> {
    return this.withServiceLimits(node, () => this.configureOnce(node));
  }

  private async configureOnce(node: string): Promise<void> {
    await this.request(this.pubsubIq("set", NS_PUBSUB_OWNER, xml("configure", { node }, dataForm(`${NS_PUBSUB}#node_config`, this.nodeConfig))));
  }

  private explain(error: unknown, node: string, action: string): PublishError {
    if (error instanceof PublishError) return error;
    const where = this.options.service ?? `the PEP service of ${this.options.gatewayJid}`;
    const c = condition(error);
    const severity = publishSeverity(error);
    if (severity === "rejected") {
      return new PublishError(`${where} refuses this reading for node ${node} for good (${errorDetail(error)})`, "rejected");
    }
    // Worth retrying as it is (RFC 6120's "wait"), even with a condition that would otherwise need the operator.
    if ((error as StanzaErrorShape).type === "wait") {
      return new PublishError(`${action} ${node} on ${where} failed (${errorDetail(error)})`, "transient");
    }
    if (c === "forbidden" && pubsubCondition(error) === undefined) {
      return new PublishError(
        `${where} refused to let ${this.options.gatewayJid} ${action} node ${node} (forbidden): on Prosody add "${this.options.gatewayJid}" to admins in the pubsub Component block (or use PEP by leaving pubsub.service out); on ejabberd allow it in mod_pubsub's access_createnode and make it the node's publisher`,
        "fatal",
      );
    }
    if (c === "not-acceptable" || c === "resource-constraint" || c === "policy-violation") {
      return new PublishError(
        `${where} refused the configuration of node ${node} (${c}), even asking for its own maximum of items: check pubsub.accessModel and the service's pubsub settings`,
        "fatal",
      );
    }
    if (severity === "fatal") {
      return new PublishError(
        `${where} refused to let ${this.options.gatewayJid} ${action} node ${node} (${errorDetail(error)}): the node's owner must change its configuration or this account's affiliation`,
        "fatal",
      );
    }
    return new PublishError(`${action} ${node} on ${where} failed (${errorDetail(error)})`, "transient");
  }
}

// XEP-0060 face of the publisher: one node per sensor (<nodePrefix>/<sensorId>), item id = sequence number.
// Nodes are created and configured on first use in each session; works on a pubsub component and on PEP.
import { xml, type Element } from "./client.ts";
import type { XmppConnection } from "./connection.ts";
import { readingPayload } from "./fields.ts";
import { PublishError, type PublishSink } from "../publisher.ts";
import type { Reading } from "../model.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_DATA = "jabber:x:data";

export interface PubsubOptions {
  /** The pubsub component's JID; undefined publishes to the account's own PEP service. */
  service?: string;
  nodePrefix: string;
  maxItems: number;
  accessModel?: string;
  /** The gateway's bare JID, for error messages that say what to grant. */
  gatewayJid: string;
  requestTimeoutMs?: number;
}

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

function condition(error: unknown): string | undefined {
  const c = (error as { condition?: unknown }).condition;
  return typeof c === "string" ? c : undefined;
}

export class PubsubSink implements PublishSink {
  private readonly nodes = new Map<string, Promise<void>>();

  constructor(
    private readonly connection: XmppConnection,
    private readonly options: PubsubOptions,
  ) {}

  reset(): void {
    this.nodes.clear();
  }

  async publish(reading: Reading): Promise<void> {
    const node = nodeName(this.options.nodePrefix, reading.sensorId);
    await this.ensureNode(node);
    try {
      await this.connection.request(
        this.iq("set", xml("publish", { node }, xml("item", { id: String(reading.seq) }, readingPayload(reading)))),
        this.options.requestTimeoutMs ?? 30_000,
      );
    } catch (error) {
      if (condition(error) === "item-not-found") this.nodes.delete(node);
      throw this.explain(error, node, "publish to");
    }
  }

  private iq(type: "get" | "set", child: Element): Element {
    const attrs: Record<string, string> = { type };
    if (this.options.service) attrs.to = this.options.service;
    return xml("iq", attrs, xml("pubsub", { xmlns: NS_PUBSUB }, child));
  }

  /** Creates the node with its configuration the first time this session publishes to it. */
  private ensureNode(node: string): Promise<void> {
    let ready = this.nodes.get(node);
    if (!ready) {
      ready = this.createNode(node);
      this.nodes.set(node, ready);
      ready.catch(() => this.nodes.delete(node));
    }
    return ready;
  }

  private async createNode(node: string): Promise<void> {
    const config: Record<string, string> = {
      "pubsub#persist_items": "1",
      "pubsub#max_items": String(this.options.maxItems),
    };
    if (this.options.accessModel) config["pubsub#access_model"] = this.options.accessModel;
    const iq = this.iq("set", xml("create", { node }));
    iq.getChild("pubsub", NS_PUBSUB)?.append(xml("configure", {}, dataForm(`${NS_PUBSUB}#node_config`, config)));
    try {
      await this.connection.request(iq, this.options.requestTimeoutMs ?? 30_000);
    } catch (error) {
      if (condition(error) === "conflict") return; // it exists already
      throw this.explain(error, node, "create");
    }
  }

  private explain(error: unknown, node: string, action: string): PublishError {
    const where = this.options.service ?? `the PEP service of ${this.options.gatewayJid}`;
    const c = condition(error);
    if (c === "forbidden") {
      return new PublishError(
        `${where} refused to let ${this.options.gatewayJid} ${action} node ${node} (forbidden): on Prosody add "${this.options.gatewayJid}" to admins in the pubsub Component block (or use PEP by leaving pubsub.service out); on ejabberd allow it in mod_pubsub's access_createnode and make it the node's publisher`,
        "fatal",
      );
    }
    if (c === "not-acceptable" || c === "resource-constraint" || c === "policy-violation") {
      return new PublishError(
        `${where} refused the configuration of node ${node} (${c}): pubsub.maxItems ${this.options.maxItems} may exceed the server's limit (Prosody: pubsub_max_items; ejabberd: max_items_node)`,
        "fatal",
      );
    }
    const text = (error as { text?: unknown }).text;
    const detail = c ? `${c}${typeof text === "string" && text ? `: ${text}` : ""}` : error instanceof Error ? error.message : String(error);
    return new PublishError(`${action} ${node} on ${where} failed (${detail})`, "transient");
  }
}


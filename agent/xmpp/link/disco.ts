// Service discovery (XEP-0030) of the agent: disco#info of the agent and of its XEP-0115 caps node, from the
// features the faces announce, and the disco nodes and items the faces publish. Answered on every session.
import { xml, type Element } from "../client.ts";
import type { IqResponder } from "../iq.ts";
import { stanzaError } from "../stanza-error.ts";
import { CAPS_NODE, NS_CAPS, capsVer, type DiscoInfo } from "../caps.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

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

export class Disco {
  private readonly features: Set<string>;
  private readonly nodes: DiscoNodes[] = [];

  /**
   * `features` are those of the link itself (e.g. answering pings). Disco's own two are always announced, and
   * caps too: the agent's presence carries XEP-0115 caps and this class answers their node, and XEP-0115 asks
   * an entity that sends caps to say so.
   */
  constructor(features: readonly string[]) {
    this.features = new Set([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_CAPS, ...features]);
  }

  announce(feature: string): void {
    this.features.add(feature);
  }

  addNodes(nodes: DiscoNodes): void {
    this.nodes.push(nodes);
  }

  /** What disco#info announces, in the order it is sent; the XEP-0115 caps hash is computed from exactly this. */
  info(): DiscoInfo {
    return { identities: [{ category: "client", type: "bot", name: "xedge" }], features: [...this.features].sort() };
  }

  /** Answers disco#info and disco#items on one client's session; `ownJid` names the agent in its own items. */
  install(responder: IqResponder, ownJid: () => string): void {
    responder.get(NS_DISCO_INFO, "query", ({ element, from }) => {
      const info = this.info();
      const node = element.attrs.node as string | undefined;
      // The agent itself and its caps node (XEP-0115 §6.2) share one answer; other nodes belong to the faces.
      if (node === undefined || node === `${CAPS_NODE}#${capsVer(info)}`) return discoInfoElement(info, node);
      const nodeInfo = this.nodes.map((nodes) => nodes.info?.(node, from?.toString() ?? "")).find((found) => found !== undefined);
      return nodeInfo ? discoInfoElement(nodeInfo, node) : itemNotFound();
    });
    responder.get(NS_DISCO_ITEMS, "query", ({ element, from, stanza }) => {
      const node = element.attrs.node as string | undefined;
      const answers = this.nodes.map((nodes) => nodes.items?.(node ?? "", from?.toString() ?? ""));
      // The agent's own items are everyone's together; a node's items come from the face that has the node.
      const items = node === undefined ? answers.flatMap((found) => found ?? []) : answers.find((found) => found !== undefined);
      if (!items) return itemNotFound();
      const self = String(stanza.attrs.to ?? ownJid());
      return xml(
        "query",
        { xmlns: NS_DISCO_ITEMS, ...(node !== undefined ? { node } : {}) },
        ...items.map((item) => xml("item", { jid: item.jid ?? self, ...(item.node !== undefined ? { node: item.node } : {}), ...(item.name !== undefined ? { name: item.name } : {}) })),
      );
    });
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
  return stanzaError("cancel", "item-not-found");
}

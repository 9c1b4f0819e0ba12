// What the bare @xmpp/client baselines (bare-publisher.ts, bare-pipeline.ts) say to pubsub: nodes created and
// configured as xedge configures its own, and one publish per reading with xedge's own payload.
import { xml, type client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { readingPayload } from "../agent/xmpp/fields.ts";
import type { Reading } from "../lib/model.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

type BareClient = ReturnType<typeof client>;

/** What a bare baseline's job file says of its account and its nodes. */
export interface BarePubsubJob {
  service: string;
  domain: string;
  username: string;
  password: string;
  pubsubService: string;
  nodePrefix: string;
  maxItems: number;
}

function pubsubIq(service: string, child: Element): Element {
  return xml("iq", { type: "set", to: service }, xml("pubsub", { xmlns: NS_PUBSUB }, child));
}

function nodeConfig(maxItems: number): Element {
  const field = (name: string, value: string) => xml("field", { var: name }, xml("value", {}, value));
  return xml(
    "configure",
    {},
    xml(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#node_config`)),
      field("pubsub#persist_items", "true"),
      field("pubsub#max_items", String(maxItems)),
    ),
  );
}

/** Creates each node with persist_items and max_items, one after the other. */
export async function createNodes(xmpp: BareClient, service: string, nodes: string[], maxItems: number): Promise<void> {
  for (const node of nodes) {
    const iq = pubsubIq(service, xml("create", { node }));
    iq.getChild("pubsub")?.append(nodeConfig(maxItems));
    await xmpp.iqCaller.request(iq);
  }
}

/** Publishes one reading as an item whose id is its sequence number; resolves with the server's result. */
export function publish(xmpp: BareClient, service: string, node: string, reading: Reading): Promise<Element> {
  const item = xml("item", { id: String(reading.seq) }, readingPayload(reading));
  return xmpp.iqCaller.request(pubsubIq(service, xml("publish", { node }, item)));
}

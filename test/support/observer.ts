// An operator's client for tests: reads pubsub items and collects notifications, through the real server.
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import type { XmppTestServer } from "./servers.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_EVENT = "http://jabber.org/protocol/pubsub#event";

export interface Item {
  id: string;
  payload: Element | undefined;
}

export class Observer {
  readonly notifications: Item[] = [];
  readonly presences: Element[] = [];

  private constructor(
    private readonly client: ReturnType<typeof createClient>,
    readonly jid: string,
  ) {
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("presence")) this.presences.push(stanza);
      const items = stanza.is("message") ? stanza.getChild("event", NS_EVENT)?.getChild("items") : undefined;
      for (const item of items?.getChildren("item") ?? []) {
        this.notifications.push({ id: String(item.attrs.id), payload: item.getChildElements()[0] });
      }
    });
  }

  static async connect(server: XmppTestServer, user: string, password: string): Promise<Observer> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password, resource: "observer", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    await client.entity.send(xml("presence"));
    return new Observer(client, `${user}@${server.domain}`);
  }

  private request(to: string | undefined, type: "get" | "set", child: Element): Promise<Element> {
    return this.client.request(xml("iq", { type, ...(to ? { to } : {}) }, xml("pubsub", { xmlns: NS_PUBSUB }, child)), 10_000);
  }

  /** Calls `listener` with every message stanza; returns a function that stops listening. */
  onMessage(listener: (message: Element) => void): () => void {
    const handler = (stanza: Element) => {
      if (stanza.is("message")) listener(stanza);
    };
    this.client.entity.on("stanza", handler);
    return () => this.client.entity.removeListener("stanza", handler);
  }

  async send(stanza: Element): Promise<void> {
    await this.client.entity.send(stanza);
  }

  /** Sends any iq and resolves with the reply (rejects with the StanzaError of an error reply). */
  iq(type: "get" | "set", to: string, child: Element): Promise<Element> {
    return this.client.request(xml("iq", { type, to }, child), 10_000);
  }

  /** All items of a node, in the order the service returns them. */
  async items(service: string | undefined, node: string): Promise<Item[]> {
    const reply = await this.request(service, "get", xml("items", { node }));
    const items = reply.getChild("pubsub", NS_PUBSUB)?.getChild("items")?.getChildren("item") ?? [];
    return items.map((item) => ({ id: String(item.attrs.id), payload: item.getChildElements()[0] }));
  }

  async subscribe(service: string | undefined, node: string): Promise<void> {
    await this.request(service, "set", xml("subscribe", { node, jid: this.jid }));
  }

  /** Polls until `predicate` holds, or throws after timeoutMs. */
  async until<T>(probe: () => Promise<T> | T, predicate: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        last = await probe();
        if (predicate(last)) return last;
      } catch (error) {
        lastError = error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 300)}; last error: ${String(lastError)}`);
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

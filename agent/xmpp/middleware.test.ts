import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@xmpp/client-core";
import { jid } from "@xmpp/jid";
import IncomingContext from "@xmpp/middleware/lib/IncomingContext.js";
import OutgoingContext from "@xmpp/middleware/lib/OutgoingContext.js";
import type { Element } from "@xmpp/xml";
import { xml } from "./client.ts";
import { stanzaMiddleware } from "./middleware.ts";

/** An entity that is never connected, bound as gw1@localhost/edge; what it sends is collected. */
function entity() {
  const client = new Client({ service: "xmpp://127.0.0.1:1", domain: "localhost" });
  client.jid = jid("gw1@localhost/edge");
  const sent: Element[] = [];
  const errors: unknown[] = [];
  client.on("error", (error: unknown) => errors.push(error));
  client.send = (stanza: Element) => {
    sent.push(stanza);
    client.emit("send", stanza);
    return Promise.resolve();
  };
  return { client, sent, errors };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** The fields @xmpp/middleware's contexts carry, as plain values. */
function fields(context: { name: string; id: string; type: string; from: unknown; to: unknown; local: string; domain: string; resource: string }) {
  const { name, id, type, local, domain, resource } = context;
  return { name, id, type, from: String(context.from), to: String(context.to), local, domain, resource };
}

const STANZAS = [
  xml("iq", { type: "get", id: "a", from: "Ops@LocalHost/Desk", to: "gw1@localhost/edge" }),
  xml("iq", { type: "result", id: "b" }),
  xml("message", { from: "pubsub.localhost" }),
  xml("presence", { to: "ops@localhost" }),
];

describe("stanza middleware", () => {
  it("gives each handler the context @xmpp/middleware gives, in and out", async () => {
    const { client } = entity();
    const middleware = stanzaMiddleware({ entity: client });
    const seen: ReturnType<typeof fields>[] = [];
    middleware.use((context, next) => {
      seen.push(fields(context));
      return next();
    });
    const filtered: ReturnType<typeof fields>[] = [];
    middleware.filter((context, next) => {
      filtered.push(fields(context));
      return next();
    });
    for (const stanza of STANZAS) client.emit("element", stanza);
    for (const stanza of STANZAS) await client.send(stanza);
    await settle();
    assert.deepEqual(seen, STANZAS.map((stanza) => fields(new IncomingContext(client, stanza))));
    assert.deepEqual(filtered, STANZAS.map((stanza) => fields(new OutgoingContext(client, stanza))));
  });

  it("sends what a handler returns and emits what one throws, each handler in turn", async () => {
    const { client, sent, errors } = entity();
    const middleware = stanzaMiddleware({ entity: client });
    const order: string[] = [];
    middleware.use((context, next) => {
      order.push(`first ${context.id}`);
      return next();
    });
    middleware.use((context) => {
      order.push(`second ${context.id}`);
      if (context.id === "bad") throw new Error("handler failed");
      return xml("iq", { type: "result", id: context.id });
    });
    client.emit("element", xml("iq", { type: "get", id: "good" }));
    client.emit("element", xml("iq", { type: "get", id: "bad" }));
    await settle();
    assert.deepEqual(order, ["first good", "second good", "first bad", "second bad"]);
    assert.deepEqual(sent.map(String), ['<iq type="result" id="good"/>']);
    assert.deepEqual(errors.map((error) => (error as Error).message), ["handler failed"]);
  });

  it("listens to what is sent only once an outgoing filter is added", () => {
    const { client } = entity();
    const middleware = stanzaMiddleware({ entity: client });
    assert.equal(client.listenerCount("send"), 0);
    middleware.filter((_context, next) => next());
    middleware.filter((_context, next) => next());
    assert.equal(client.listenerCount("send"), 1);
  });
});

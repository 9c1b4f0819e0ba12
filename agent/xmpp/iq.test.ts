import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@xmpp/client-core";
import { Parser, type Element } from "@xmpp/xml";
import { xml } from "./client.ts";
import { iqResponder } from "./iq.ts";
import { stanzaMiddleware } from "./middleware.ts";

const AGENT = "gw1@localhost/edge";

/** A responder on an entity that is never connected: stanzas go in as parsed, replies come out serialized. */
function responder() {
  const entity = new Client({ service: "xmpp://127.0.0.1:1", domain: "localhost" });
  const sent: string[] = [];
  const errors: unknown[] = [];
  entity.on("error", (error: unknown) => errors.push(error));
  entity.send = (stanza: Element) => {
    sent.push(stanza.toString());
    return Promise.resolve();
  };
  const middleware = stanzaMiddleware({ entity });
  const iq = iqResponder(entity, middleware);
  /** Delivers `text` as the server would and resolves with what went back. */
  const deliver = async (text: string): Promise<string[]> => {
    const parser = new Parser();
    const parsed = new Promise<Element>((resolve) => parser.on("element", resolve));
    parser.write(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>${text}`);
    entity.emit("element", await parsed);
    await new Promise((resolve) => setImmediate(resolve));
    return sent.splice(0);
  };
  return { iq, deliver, errors, entity, sent };
}

const nested = (depth: number) => `${"<a>".repeat(depth)}${"</a>".repeat(depth)}`;

describe("iq responder", () => {
  it("answers an unknown payload nested 20,000 levels deep with one service-unavailable that does not copy it", async () => {
    const { deliver } = responder();
    const replies = await deliver(`<iq type='get' id='deep' from='x@localhost/r' to='${AGENT}'><foo xmlns='urn:fuzz'>${nested(20_000)}</foo></iq>`);
    assert.deepEqual(replies, [
      `<iq to="x@localhost/r" from="${AGENT}" id="deep" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    ]);
  });

  it("routes by type, name and namespace; a handler's error goes out without the request's payload", async () => {
    const { iq, deliver } = responder();
    iq.get("urn:test", "q", ({ element }) =>
      element.attrs.ok === "yes" ? xml("q", { xmlns: "urn:test" }, xml("fine")) : xml("error", { type: "cancel" }, xml("forbidden", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })),
    );
    iq.set("urn:test", "s", () => true);
    assert.deepEqual(await deliver(`<iq type='get' id='1' from='x@localhost/r'><q xmlns='urn:test' ok='yes'/></iq>`), [
      `<iq to="x@localhost/r" id="1" type="result"><q xmlns="urn:test"><fine/></q></iq>`,
    ]);
    assert.deepEqual(await deliver(`<iq type='get' id='2' from='x@localhost/r'><q xmlns='urn:test'>${nested(5_000)}</q></iq>`), [
      `<iq to="x@localhost/r" id="2" type="error"><error type="cancel"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    ]);
    assert.deepEqual(await deliver(`<iq type='set' id='3' from='x@localhost/r'><s xmlns='urn:test'/></iq>`), [`<iq to="x@localhost/r" id="3" type="result"/>`]);
    // The same element under the other type is not routed.
    assert.match(String(await deliver(`<iq type='get' id='4' from='x@localhost/r'><s xmlns='urn:test'/></iq>`)), /<service-unavailable /);
  });

  it("refuses a wrong type or a payload count other than one with bad-request, answers nothing to results and errors", async () => {
    const { iq, deliver } = responder();
    iq.get("urn:test", "q", () => true);
    for (const stanza of [
      `<iq type='fetch' id='t' from='x@localhost/r'><q xmlns='urn:test'/></iq>`,
      `<iq type='get' id='t' from='x@localhost/r'/>`,
      `<iq type='get' id='t' from='x@localhost/r'><q xmlns='urn:test'/><q xmlns='urn:test'/></iq>`,
    ]) {
      assert.deepEqual(await deliver(stanza), [
        `<iq to="x@localhost/r" id="t" type="error"><error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
      ]);
    }
    assert.deepEqual(await deliver(`<iq type='result' id='r' from='x@localhost/r'><q xmlns='urn:test'/></iq>`), []);
    assert.deepEqual(await deliver(`<iq type='error' id='e' from='x@localhost/r'><q xmlns='urn:test'/></iq>`), []);
  });

  it("answers a handler that throws with internal-server-error", async () => {
    const { iq, deliver, errors } = responder();
    iq.get("urn:test", "q", () => {
      throw new Error("boom");
    });
    assert.match(String(await deliver(`<iq type='get' id='x' from='x@localhost/r'><q xmlns='urn:test'/></iq>`)), /type="error"><error type="cancel"><internal-server-error /);
    assert.deepEqual(errors.map(String), ["Error: boom"], "the failure reaches the entity's error listeners");
  });

  it("holds the socket's writes for the turn: a result and the message its handler sends next leave together", async () => {
    const { iq, entity, sent } = responder();
    const events: string[] = [];
    let corked = 0;
    const socket = {
      cork: () => void (corked++, events.push("cork")),
      uncork: () => void (corked--, events.push("uncork")),
      get writableCorked() {
        return corked;
      },
    };
    // xmpp.js wraps a TLS socket; the responder corks the socket inside.
    Object.defineProperty(entity, "socket", { value: { socket } });
    const send = entity.send.bind(entity);
    entity.send = (stanza: Element) => {
      events.push(`${stanza.name}${corked > 0 ? " (corked)" : ""}`);
      return send(stanza);
    };
    iq.get("urn:test", "q", ({ from }) => {
      setImmediate(() => void entity.send(xml("message", { to: from })));
      return true;
    });
    const parser = new Parser();
    parser.on("element", (element: Element) => entity.emit("element", element));
    parser.write(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq type='get' id='c' from='x@localhost/r'><q xmlns='urn:test'/></iq>`);
    for (let turn = 0; turn < 10 && !events.includes("uncork"); turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ["cork", "iq (corked)", "message (corked)", "uncork"]);
    assert.equal(sent.length, 2);
  });
});

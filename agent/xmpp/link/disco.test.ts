// Disco answers on a responder that is never connected: requests go in as parsed, replies come out serialized.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Client } from "@xmpp/client-core";
import middlewareFactory from "@xmpp/middleware";
import { Parser, type Element } from "@xmpp/xml";
import { iqResponder } from "../iq.ts";
import { CAPS_NODE, capsVer } from "../caps.ts";
import { Disco } from "./disco.ts";

const AGENT = "gw1@localhost/edge";
const OPERATOR = "ops@localhost/phone";

function answering(disco: Disco) {
  const entity = new Client({ service: "xmpp://127.0.0.1:1", domain: "localhost" });
  const sent: string[] = [];
  entity.send = (stanza: Element) => {
    sent.push(stanza.toString());
    return Promise.resolve();
  };
  disco.install(iqResponder(entity, middlewareFactory({ entity })), () => AGENT);
  /** Asks `query` (a disco#info or disco#items payload) as the operator and resolves with the one reply. */
  return async (query: string, to?: string): Promise<string> => {
    const parser = new Parser();
    const parsed = new Promise<Element>((resolve) => parser.on("element", resolve));
    const toAttribute = to === undefined ? "" : ` to='${to}'`;
    parser.write(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq type='get' id='q' from='${OPERATOR}'${toAttribute}>${query}</iq>`);
    entity.emit("element", await parsed);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sent.length, 1);
    return sent.splice(0)[0] ?? "";
  };
}

const INFO = "http://jabber.org/protocol/disco#info";
const ITEMS = "http://jabber.org/protocol/disco#items";
const CAPS = "http://jabber.org/protocol/caps";
const NOT_FOUND = `<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`;

describe("Disco", () => {
  it("announces the link's features, disco's own, caps and the faces', sorted, for the agent and for its caps node alike", async () => {
    const disco = new Disco(["urn:xmpp:ping"]);
    disco.announce("urn:xmpp:iot:sensordata");
    disco.announce("urn:xmpp:ping");
    const info = disco.info();
    assert.deepEqual(info.features, [CAPS, INFO, ITEMS, "urn:xmpp:iot:sensordata", "urn:xmpp:ping"]);
    const ask = answering(disco);
    const features = `<identity category="client" type="bot" name="xedge"/>${info.features.map((feature) => `<feature var="${feature}"/>`).join("")}`;
    assert.equal(await ask(`<query xmlns='${INFO}'/>`), `<iq to="${OPERATOR}" id="q" type="result"><query xmlns="${INFO}">${features}</query></iq>`);
    const capsNode = `${CAPS_NODE}#${capsVer(info)}`;
    assert.equal(
      await ask(`<query xmlns='${INFO}' node='${capsNode}'/>`),
      `<iq to="${OPERATOR}" id="q" type="result"><query xmlns="${INFO}" node="${capsNode}">${features}</query></iq>`,
    );
    assert.equal(await ask(`<query xmlns='${INFO}' node='${CAPS_NODE}#stale'/>`), `<iq to="${OPERATOR}" id="q" type="error">${NOT_FOUND}</iq>`);
  });

  it("answers a node's info from the face that has it, for the asker it shows it to, and item-not-found otherwise", async () => {
    const disco = new Disco([]);
    disco.addNodes({ items: () => [] });
    disco.addNodes({ info: (node, from) => (node === "sensors" && from === OPERATOR ? { identities: [{ category: "automation", type: "node-list" }], features: [] } : undefined) });
    const ask = answering(disco);
    assert.equal(
      await ask(`<query xmlns='${INFO}' node='sensors'/>`),
      `<iq to="${OPERATOR}" id="q" type="result"><query xmlns="${INFO}" node="sensors"><identity category="automation" type="node-list"/></query></iq>`,
    );
    assert.equal(await ask(`<query xmlns='${INFO}' node='actuators'/>`), `<iq to="${OPERATOR}" id="q" type="error">${NOT_FOUND}</iq>`);
  });

  it("lists every face's items as the agent's own, naming the agent by the address asked (else its own JID)", async () => {
    const disco = new Disco([]);
    disco.addNodes({ items: (node) => (node === "" ? [{ node: "sensors", name: "Sensors" }] : undefined) });
    disco.addNodes({ items: (node) => (node === "" ? [{ jid: "pubsub.localhost", node: "gw1/temp" }] : undefined) });
    const ask = answering(disco);
    const items = `<item jid="${AGENT}" node="sensors" name="Sensors"/><item jid="pubsub.localhost" node="gw1/temp"/>`;
    assert.equal(await ask(`<query xmlns='${ITEMS}'/>`, AGENT), `<iq to="${OPERATOR}" from="${AGENT}" id="q" type="result"><query xmlns="${ITEMS}">${items}</query></iq>`);
    assert.equal(
      await ask(`<query xmlns='${ITEMS}'/>`, "gw1@localhost/other"),
      `<iq to="${OPERATOR}" from="gw1@localhost/other" id="q" type="result"><query xmlns="${ITEMS}"><item jid="gw1@localhost/other" node="sensors" name="Sensors"/><item jid="pubsub.localhost" node="gw1/temp"/></query></iq>`,
    );
    assert.equal(await ask(`<query xmlns='${ITEMS}'/>`), `<iq to="${OPERATOR}" id="q" type="result"><query xmlns="${ITEMS}">${items}</query></iq>`);
  });

  it("lists a node's items from the first face that knows the node; a node none knows is item-not-found", async () => {
    const disco = new Disco([]);
    disco.addNodes({ items: (node) => (node === "sensors" ? [{ node: "temp" }] : undefined) });
    disco.addNodes({ items: (node) => (node === "sensors" ? [{ node: "never asked" }] : undefined) });
    const ask = answering(disco);
    assert.equal(
      await ask(`<query xmlns='${ITEMS}' node='sensors'/>`),
      `<iq to="${OPERATOR}" id="q" type="result"><query xmlns="${ITEMS}" node="sensors"><item jid="${AGENT}" node="temp"/></query></iq>`,
    );
    assert.equal(await ask(`<query xmlns='${ITEMS}' node='actuators'/>`), `<iq to="${OPERATOR}" id="q" type="error">${NOT_FOUND}</iq>`);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DiscoNodes } from "./connection.ts";
import { registerSensorNodes } from "./sensor-nodes.ts";

function itemsFor(service: string | undefined): DiscoNodes {
  let nodes: DiscoNodes | undefined;
  registerSensorNodes(
    { addDiscoNodes: (registered) => (nodes = registered) },
    {
      isOperator: (from) => from.startsWith("ops@example.net/"),
      publishing: () => ({ ...(service === undefined ? {} : { service }), nodePrefix: "plant/north", gatewayJid: "gw1@example.net", sensorIds: ["boiler", "tank"] }),
    },
  );
  assert.ok(nodes);
  return nodes;
}

describe("sensor nodes in disco#items", () => {
  it("tells an operator each sensor's node under the configured prefix, on the pubsub component", () => {
    assert.deepEqual(itemsFor("pubsub.example.net").items?.("", "ops@example.net/console"), [
      { jid: "pubsub.example.net", node: "plant/north/boiler", name: "boiler" },
      { jid: "pubsub.example.net", node: "plant/north/tank", name: "tank" },
    ]);
  });

  it("names the gateway's bare JID as the service when it publishes to PEP", () => {
    assert.deepEqual(itemsFor(undefined).items?.("", "ops@example.net/console")?.map((item) => item.jid), ["gw1@example.net", "gw1@example.net"]);
  });

  it("tells strangers nothing, and answers for no other disco node", () => {
    const nodes = itemsFor("pubsub.example.net");
    assert.equal(nodes.items?.("", "stranger@example.net/x"), undefined);
    assert.equal(nodes.items?.("http://jabber.org/protocol/commands", "ops@example.net/console"), undefined);
  });
});

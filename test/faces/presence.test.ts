// Presence subscriptions through the real server: operators may subscribe (and then see the gateway online),
// anyone else is refused.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { xml } from "../../agent/xmpp/client.ts";

/** Like any client: servers deliver subscription answers to resources that fetched their roster. */
async function fetchRoster(client: Observer, self: string): Promise<void> {
  await client.iq("get", self, xml("query", { xmlns: "jabber:iq:roster" }));
}

for (const kind of serverKinds) {
  describe(`presence subscriptions on ${kind}`, () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    before(async () => {
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", ops: "ops-secret", stranger: "stranger-secret" },
        pubsubAdmins: ["gw1@localhost"],
      });
      const { file } = writeAgentConfig(server);
      writeFileSync(file, readFileSync(file, "utf8").replace("sensors:\n", "operators:\n  - { jid: ops@localhost, role: read }\nsensors:\n"));
      agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
    });
    after(async () => {
      await agent?.stop();
      await server?.stop();
    });

    it("accepts an operator's subscription, who then sees the gateway available", async () => {
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        await fetchRoster(ops, "ops@localhost");
        await ops.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
        await ops.until(() => ops.presences, (p) => p.some((s) => s.attrs.type === "subscribed" && s.attrs.from === "gw1@localhost"), 10_000, "subscribed");
        await ops.until(() => ops.presences, (p) => p.some((s) => s.attrs.type === undefined && s.attrs.from === "gw1@localhost/edge"), 10_000, "the gateway's presence");
      } finally {
        await ops.close();
      }
    });

    it("refuses anyone else's subscription", async () => {
      const stranger = await Observer.connect(server, "stranger", "stranger-secret");
      try {
        await fetchRoster(stranger, "stranger@localhost");
        await stranger.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
        await stranger.until(() => stranger.presences, (p) => p.some((s) => s.attrs.type === "unsubscribed" && s.attrs.from === "gw1@localhost"), 10_000, "unsubscribed");
        assert.ok(!stranger.presences.some((s) => s.attrs.from === "gw1@localhost/edge" && s.attrs.type === undefined), "no presence leaks to a stranger");
        await agent.waitForLog((line) => line.message === "presence subscription refused: not an operator" && line.from === "stranger@localhost", 5000);
      } finally {
        await stranger.close();
      }
    });
  });
}

// How the agent gets its pubsub nodes on real servers: created on first use, reconfigured when their
// configuration differs, on a component or on PEP, and a clear error when it is not allowed to.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, runCli, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_OWNER = "http://jabber.org/protocol/pubsub#owner";

function formValue(form: Element | undefined, name: string): string | undefined {
  return form?.getChildren("field").find((field) => field.attrs.var === name)?.getChildText("value") ?? undefined;
}

for (const kind of serverKinds) {
  describe(`pubsub nodes on ${kind}`, () => {
    let server: XmppTestServer;
    before(async () => {
      server = await startServer(kind, { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    });
    after(async () => {
      await server?.stop();
    });

    it("reconfigures a node that exists with another configuration before publishing to it", async () => {
      const owner = await Observer.connect(server, "gw1", "gw1-secret");
      const node = "xedge/gw1/boiler";
      try {
        const create = xml("pubsub", { xmlns: NS_PUBSUB }, xml("create", { node }), xml("configure", {}, xml("x", { xmlns: "jabber:x:data", type: "submit" },
          xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#node_config`)),
          xml("field", { var: "pubsub#max_items" }, xml("value", {}, "5")))));
        await owner.iq("set", server.pubsubService, create);
        const { file } = writeAgentConfig(server);
        const agent = AgentProcess.start(file);
        try {
          await owner.until(() => owner.items(server.pubsubService, node), (items) => items.length >= 8, 20_000, "more items than the old max_items");
        } finally {
          assert.equal(await agent.stop(), 0);
        }
        const config = await owner.iq("get", server.pubsubService, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node })));
        const form = config.getChild("pubsub", NS_OWNER)?.getChild("configure")?.getChild("x", "jabber:x:data");
        assert.equal(formValue(form, "pubsub#max_items"), "1000");
      } finally {
        await owner.close();
      }
    });

    it("keeps the service's maximum of items, and says so, when pubsub.maxItems is above it", async (t) => {
      const capped = await startServer(kind, { accounts: { gw1: "gw1-secret" }, pubsubAdmins: ["gw1@localhost"], maxItemsPerNode: 256 });
      t.after(() => capped.stop());
      const { file } = writeAgentConfig(capped);
      const agent = AgentProcess.start(file);
      const owner = await Observer.connect(capped, "gw1", "gw1-secret");
      try {
        const notice = await agent.waitForLog((line) => line.level === "warn" && /refused pubsub\.maxItems 1000/.test(line.message), 20_000);
        assert.match(notice.message, /nodes keep the service's maximum instead/);
        await owner.until(() => owner.items(capped.pubsubService, "xedge/gw1/boiler"), (items) => items.length >= 3, 20_000, "items");
        const config = await owner.iq("get", capped.pubsubService, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node: "xedge/gw1/boiler" })));
        const form = config.getChild("pubsub", NS_OWNER)?.getChild("configure")?.getChild("x", "jabber:x:data");
        assert.match(String(formValue(form, "pubsub#max_items")), /^(256|max)$/);
      } finally {
        await owner.close();
        assert.equal(await agent.stop(), 0);
      }
    });

    it("publishes to the account's own PEP service when no pubsub service is configured", async () => {
      const { file } = writeAgentConfig(server, {
        pubsubService: null,
        xmppExtra: "",
      });
      // PEP nodes default to the presence access model; an open node lets the operator read it here.
      const { readFileSync, writeFileSync } = await import("node:fs");
      writeFileSync(file, readFileSync(file, "utf8").replace("pubsub:\n", "pubsub:\n  accessModel: open\n  maxItems: 200\n"));
      const agent = AgentProcess.start(file);
      const ops = await Observer.connect(server, "ops", "ops-secret");
      try {
        const items = await ops.until(() => ops.items("gw1@localhost", "xedge/gw1/boiler"), (found) => found.length >= 3, 20_000, "PEP items");
        const ids = items.map((item) => Number(item.id)).sort((a, b) => a - b);
        assert.deepEqual(ids.slice(0, 3), [1, 2, 3]);
        assert.equal(items[0]?.payload?.getChild("node")?.attrs.nodeId, "boiler");
      } finally {
        await ops.close();
        assert.equal(await agent.stop(), 0);
      }
    });
  });
}

describe("pubsub nodes on prosody without permission", () => {
  it("says what to grant when the component refuses to create the node, and keeps the readings", async () => {
    const server = await startServer("prosody", { accounts: { gw1: "gw1-secret" }, pubsubAdmins: [] });
    try {
      const { file } = writeAgentConfig(server);
      const agent = AgentProcess.start(file);
      try {
        const failed = await agent.waitForLog((line) => line.message === "publish failed" && line.level === "error", 20_000);
        assert.match(
          String(failed.error),
          /^pubsub\.localhost refused to let gw1@localhost (create|publish to) node xedge\/gw1\/boiler \(forbidden\): on Prosody add "gw1@localhost" to admins in the pubsub Component block/,
        );
      } finally {
        assert.equal(await agent.stop(), 0);
      }
      const status = await runCli(["status", "--json", "--config", file]);
      const { unsent, sensors } = JSON.parse(status.stdout) as { unsent: number; sensors: { lastSeq: number }[] };
      assert.ok(unsent > 0 && unsent === sensors[0]?.lastSeq, `every reading is still in the outbox (${unsent})`);
    } finally {
      await server.stop();
    }
  });
});

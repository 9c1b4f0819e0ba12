// XEP-0050 ad-hoc commands through the real servers, over the simulated gateway (examples/sim-sensors.yaml,
// actuator `pump`): the command list per role, each command run to completion with data forms, cancel,
// unknown sessions, and refusals.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, waitForFirstReadings, type SimGateway } from "../support/gateway-fixture.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

class Client {
  private constructor(private readonly client: ReturnType<typeof createClient>) {}

  static async connect(server: XmppTestServer, user: string): Promise<Client> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "desk", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new Client(client);
  }

  iq(type: "get" | "set", child: Element): Promise<Element> {
    return this.client.request(xml("iq", { type, to: AGENT_JID }, child), 10_000);
  }

  /** Runs a command step; resolves with the <command/> of the reply. */
  async command(node: string, attrs: Record<string, string> = {}, ...children: Element[]): Promise<Element> {
    const reply = await this.iq("set", xml("command", { xmlns: NS_COMMANDS, node, ...attrs }, ...children));
    const command = reply.getChild("command", NS_COMMANDS);
    assert.ok(command, reply.toString());
    return command;
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

function submit(values: Record<string, string[]>): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    ...Object.entries(values).map(([name, list]) => xml("field", { var: name }, ...list.map((value) => xml("value", {}, value)))),
  );
}

function fields(command: Element): Map<string, Element> {
  return new Map((command.getChild("x", NS_DATA)?.getChildren("field") ?? []).map((field) => [String(field.attrs.var), field]));
}

const value = (command: Element, name: string) => fields(command).get(name)?.getChildText("value") ?? undefined;

/** The error of a refused iq: condition and the XEP-0050 specific condition. */
async function refusal(reply: Promise<unknown>): Promise<{ condition: string; specific?: string }> {
  try {
    await reply;
  } catch (error) {
    const { condition, application } = error as { condition: string; application?: Element };
    return { condition, ...(application?.getNS() === NS_COMMANDS ? { specific: application.name } : {}) };
  }
  assert.fail("expected an iq error");
}

for (const kind of serverKinds) {
  describe(`ad-hoc commands on ${kind}`, () => {
    let gateway: SimGateway;
    let ops: Client;
    let viewer: Client;
    let stranger: Client;

    before(async () => {
      gateway = await startSimGateway(kind);
      const { server } = gateway;
      [ops, viewer, stranger] = await Promise.all([Client.connect(server, "ops"), Client.connect(server, "viewer"), Client.connect(server, "mallory")]);
      await waitForFirstReadings(gateway);
    });
    after(async () => {
      await Promise.all([ops?.close(), viewer?.close(), stranger?.close()]);
      if (gateway) assert.equal(await gateway.stop(), 0);
    });

    it("lists the commands each requester may run, each a command node; the list's info names the commands feature", async () => {
      const list = async (client: Client) => {
        const reply = await client.iq("get", xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS }));
        return (reply.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? []).map((item) => [String(item.attrs.jid), String(item.attrs.node)]);
      };
      assert.deepEqual(await list(ops), ["read", "set", "status", "history", "audit", "watch", "watches", "unwatch"].map((node) => [AGENT_JID, node]));
      assert.deepEqual(await list(viewer), ["read", "status", "history", "watch", "watches", "unwatch"].map((node) => [AGENT_JID, node]));
      assert.deepEqual(await list(stranger), []);

      const info = await ops.iq("get", xml("query", { xmlns: NS_DISCO_INFO }));
      assert.ok(info.getChild("query")?.getChildren("feature").some((feature) => feature.attrs.var === NS_COMMANDS));
      const commandList = (await viewer.iq("get", xml("query", { xmlns: NS_DISCO_INFO, node: NS_COMMANDS }))).getChild("query", NS_DISCO_INFO);
      assert.deepEqual([commandList?.attrs.node, commandList?.getChild("identity")?.attrs.category, commandList?.getChild("identity")?.attrs.type], [NS_COMMANDS, "automation", "command-list"]);
      assert.ok(commandList?.getChildren("feature").some((feature) => feature.attrs.var === NS_COMMANDS), commandList?.toString());
      const node = (await ops.iq("get", xml("query", { xmlns: NS_DISCO_INFO, node: "read" }))).getChild("query", NS_DISCO_INFO);
      assert.deepEqual([node?.attrs.node, node?.getChild("identity")?.attrs.category, node?.getChild("identity")?.attrs.type], ["read", "automation", "command-node"]);
      assert.ok(node?.getChildren("feature").some((feature) => feature.attrs.var === NS_COMMANDS));
      assert.deepEqual(await refusal(stranger.iq("get", xml("query", { xmlns: NS_DISCO_INFO, node: "read" }))), { condition: "item-not-found" });
    });

    it("read: a form to choose nodes, then one result field per value labelled with its unit", async () => {
      const first = await viewer.command("read", { action: "execute" });
      assert.equal(first.attrs.status, "executing");
      assert.ok(first.attrs.sessionid);
      assert.equal(first.getChild("actions")?.attrs.execute, "complete");
      const nodes = fields(first).get("nodes");
      assert.equal(nodes?.attrs.type, "list-multi");
      assert.ok(nodes?.getChildren("option").some((option) => option.getChildText("value") === "pump"));

      const done = await viewer.command("read", { action: "complete", sessionid: String(first.attrs.sessionid) }, submit({ nodes: ["boiler", "pump"] }));
      assert.equal(done.attrs.status, "completed");
      assert.equal(done.getChild("x", NS_DATA)?.attrs.type, "result");
      const result = fields(done);
      assert.deepEqual([...result.keys()], ["boiler.temperature", "boiler.humidity", "boiler.pressure", "pump.state"]);
      assert.equal(result.get("boiler.temperature")?.attrs.label, "boiler temperature (°C)");
      assert.match(value(done, "boiler.temperature") ?? "", /^-?\d+\.\d+$/);
      assert.equal(value(done, "pump.state"), "false");
    });

    it("status completes at once with a result form", async () => {
      const done = await viewer.command("status");
      assert.equal(done.attrs.status, "completed");
      assert.equal(value(done, "connection"), "online");
      assert.match(value(done, "buffered") ?? "", /^\d+$/);
      assert.equal(value(done, "dropped"), "0");
      assert.match(done.getChildText("note") ?? "", /^connection: online/);
    });

    it("history: node and duration in, min/max/avg/last and a sparkline out", async () => {
      const first = await viewer.command("history");
      assert.equal(value(first, "duration"), "1h");
      const done = await viewer.command("history", { action: "complete", sessionid: String(first.attrs.sessionid) }, submit({ node: ["boiler"], duration: ["5m"] }));
      assert.equal(done.attrs.status, "completed");
      assert.equal(fields(done).get("temperature.min")?.attrs.label, "temperature min (°C)");
      for (const name of ["temperature.min", "temperature.max", "temperature.avg", "temperature.last"]) assert.match(value(done, name) ?? "", /^-?\d+\.\d+$/, name);
      assert.match(value(done, "temperature.sparkline") ?? "", /^[ ▁▂▃▄▅▆▇█]+$/);
      assert.match(done.getChildText("note") ?? "", /^boiler, last 5m/);

      const again = await viewer.command("history");
      const invalid = await viewer.command("history", { action: "complete", sessionid: String(again.attrs.sessionid) }, submit({ node: ["boiler"], duration: ["soon"] }));
      assert.equal(invalid.attrs.status, "executing", "a bad duration shows the form again");
      assert.equal(invalid.getChild("note")?.attrs.type, "error");
      await viewer.command("history", { action: "cancel", sessionid: String(again.attrs.sessionid) });
    });

    it("set: choose the actuator, then its typed form with the current value; applies and reads back", async () => {
      const first = await ops.command("set");
      const sessionid = String(first.attrs.sessionid);
      assert.equal(first.getChild("actions")?.attrs.execute, "next");
      assert.deepEqual(fields(first).get("node")?.getChildren("option").map((option) => option.getChildText("value")), ["pump"]);

      const second = await ops.command("set", { action: "next", sessionid }, submit({ node: ["pump"] }));
      assert.equal(second.attrs.status, "executing");
      assert.ok(second.getChild("actions")?.getChild("prev"));
      assert.equal(second.getChild("x", "jabber:x:data")?.getChildText("title"), "Set pump");
      const state = fields(second).get("state");
      assert.deepEqual([state?.attrs.type, state?.getChildText("value")], ["boolean", "false"]);

      const bad = await ops.command("set", { action: "complete", sessionid }, submit({ state: ["maybe"] }));
      assert.deepEqual([bad.attrs.status, bad.getChild("note")?.attrs.type], ["executing", "error"]);
      assert.match(bad.getChildText("note") ?? "", /expected true, false, 1 or 0/);

      const done = await ops.command("set", { action: "complete", sessionid }, submit({ "xdd session": ["x"], state: ["1"] }));
      assert.equal(done.attrs.status, "completed");
      assert.equal(done.getChildText("note"), "Applied: pump state = true.");
      const read = await ops.command("read", { action: "execute" });
      const readBack = await ops.command("read", { action: "complete", sessionid: String(read.attrs.sessionid) }, submit({ nodes: ["pump"] }));
      assert.equal(value(readBack, "pump.state"), "true");

      const reset = await ops.command("set");
      await ops.command("set", { action: "next", sessionid: String(reset.attrs.sessionid) }, submit({ node: ["pump"] }));
      const off = await ops.command("set", { action: "complete", sessionid: String(reset.attrs.sessionid) }, submit({ state: ["false"] }));
      assert.equal(off.getChildText("note"), "Applied: pump state = false.");
    });

    it("cancel ends a session; an unknown or ended session is bad-sessionid", async () => {
      const first = await ops.command("read");
      const sessionid = String(first.attrs.sessionid);
      const cancelled = await ops.command("read", { action: "cancel", sessionid });
      assert.deepEqual([cancelled.attrs.status, cancelled.attrs.sessionid], ["canceled", sessionid]);
      assert.deepEqual(await refusal(ops.command("read", { action: "complete", sessionid }, submit({ nodes: [] }))), { condition: "bad-request", specific: "bad-sessionid" });
      assert.deepEqual(await refusal(ops.command("read", { action: "complete", sessionid: "no-such-session" })), { condition: "bad-request", specific: "bad-sessionid" });
      // A session belongs to whoever started it.
      const mine = await ops.command("read");
      assert.deepEqual(await refusal(viewer.command("read", { action: "complete", sessionid: String(mine.attrs.sessionid) })), { condition: "bad-request", specific: "bad-sessionid" });
      assert.deepEqual(await refusal(ops.command("read", { action: "dance" })), { condition: "bad-request", specific: "malformed-action" });
      assert.deepEqual(await refusal(ops.command("reboot")), { condition: "item-not-found" });
    });

    it("a step the last <actions> did not offer is bad-request + bad-action, and the session goes on", async () => {
      const chooser = await ops.command("set");
      const sessionid = String(chooser.attrs.sessionid);
      assert.deepEqual(await refusal(ops.command("set", { action: "complete", sessionid }, submit({ node: ["pump"] }))), { condition: "bad-request", specific: "bad-action" });
      assert.deepEqual(await refusal(ops.command("set", { action: "prev", sessionid })), { condition: "bad-request", specific: "bad-action" });
      const parameters = await ops.command("set", { action: "next", sessionid }, submit({ node: ["pump"] }));
      assert.equal(fields(parameters).get("state")?.getChildText("value"), "false", "the refused complete applied nothing");
      assert.deepEqual(await refusal(ops.command("set", { action: "next", sessionid }, submit({ state: ["1"] }))), { condition: "bad-request", specific: "bad-action" });
      assert.equal((await ops.command("set", { action: "cancel", sessionid })).attrs.status, "canceled");

      const read = await viewer.command("read");
      assert.deepEqual(await refusal(viewer.command("read", { action: "next", sessionid: String(read.attrs.sessionid) })), { condition: "bad-request", specific: "bad-action" });
      const done = await viewer.command("read", { action: "execute", sessionid: String(read.attrs.sessionid) }, submit({ nodes: ["pump"] }));
      assert.deepEqual([done.attrs.status, value(done, "pump.state")], ["completed", "false"], "execute is the offered default, complete");
    });

    it("refuses strangers every command and read operators `set`", async () => {
      assert.deepEqual(await refusal(stranger.command("read")), { condition: "forbidden" });
      assert.deepEqual(await refusal(stranger.command("status")), { condition: "forbidden" });
      assert.deepEqual(await refusal(viewer.command("set")), { condition: "forbidden" });
    });
  });
}

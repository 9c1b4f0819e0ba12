// Chat commands through the real servers, over the simulated gateway (examples/sim-sensors.yaml, actuator
// `pump`): each command, replies to the full JID with the request's type and thread, typo suggestions, the
// control role, one refusal per stranger, and the messages that are never answered.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, waitForFirstReadings, type SimGateway } from "../support/gateway-fixture.ts";
import { Arrivals } from "../support/arrivals.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { auditRows, until } from "../support/audit.ts";

/** A person's chat client: sends lines to the agent and collects the agent's answers. */
class ChatClient {
  readonly replies: Element[] = [];
  private readonly arrivals = new Arrivals();

  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      if (!stanza.is("message") || stanza.attrs.type === "error" || stanza.getChildText("body") === null) return;
      if (String(stanza.attrs.from) !== AGENT_JID) return;
      this.replies.push(stanza);
      this.arrivals.notify();
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<ChatClient> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "phone", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new ChatClient(client);
  }

  async send(body: string | undefined, attrs: Record<string, string> = { type: "chat" }, ...extra: Element[]): Promise<void> {
    await this.client.entity.send(xml("message", { to: AGENT_JID, ...attrs }, ...(body !== undefined ? [xml("body", {}, body)] : []), ...extra));
  }

  /** Sends a line and resolves with the next answer. */
  async ask(body: string, attrs: Record<string, string> = { type: "chat" }, ...extra: Element[]): Promise<Element> {
    const seen = this.replies.length;
    await this.send(body, attrs, ...extra);
    return this.nextAfter(seen);
  }

  nextAfter(seen: number, timeoutMs = 10_000): Promise<Element> {
    return this.arrivals.until(() => this.replies[seen], timeoutMs, () => `no answer within ${timeoutMs} ms`);
  }

  /** Runs an ad-hoc command step (XEP-0050) from the same account; resolves with the <command/> of the reply. */
  async command(node: string, attrs: Record<string, string> = {}, ...children: Element[]): Promise<Element> {
    const reply = await this.client.request(xml("iq", { type: "set", to: AGENT_JID }, xml("command", { xmlns: NS_COMMANDS, node, ...attrs }, ...children)), 10_000);
    const command = reply.getChild("command", NS_COMMANDS);
    assert.ok(command, reply.toString());
    return command;
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const text = (reply: Element) => reply.getChildText("body") ?? "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of serverKinds) {
  describe(`chat commands on ${kind}`, () => {
    let gateway: SimGateway;
    let ops: ChatClient;
    let viewer: ChatClient;
    let stranger: ChatClient;

    before(async () => {
      gateway = await startSimGateway(kind);
      const { server } = gateway;
      [ops, viewer, stranger] = await Promise.all([ChatClient.connect(server, "ops"), ChatClient.connect(server, "viewer"), ChatClient.connect(server, "mallory")]);
      await waitForFirstReadings(gateway);
    });
    after(async () => {
      await Promise.all([ops?.close(), viewer?.close(), stranger?.close()]);
      if (gateway) assert.equal(await gateway.stop(), 0);
    });

    it("help lists the commands, answered as chat to the sender's full JID", async () => {
      const reply = await ops.ask("help");
      assert.equal(reply.attrs.type, "chat");
      assert.equal(reply.attrs.to, "ops@localhost/phone");
      for (const usage of ["read [ID]", "set ID NAME VALUE", "status", "history ID [DURATION]"]) assert.ok(text(reply).includes(usage), text(reply));
    });

    it("read answers every node with units, clock time and age; read ID one node; unknown ids are listed", async () => {
      const lines = text(await viewer.ask("read")).split("\n");
      const ids = ["boiler", "greenhouse", "tank", "cellar", "door", "rain", "gps", "meter", "bench", "pump"];
      assert.deepEqual(lines.map((line) => /^(?:⚠ )?(\w+):/.exec(line)?.[1]), ids, lines.join("\n"));
      const boiler = lines.find((line) => line.startsWith("boiler:")) ?? "";
      assert.match(boiler, /^boiler: temperature -?\d+\.\d+ °C · humidity \d+\.\d+ %RH · pressure \d+\.\d+ hPa \(\d\d:\d\d:\d\d, (just now|\d+ s ago)\)$/);
      assert.match(lines.find((line) => line.startsWith("pump:")) ?? "", /^pump: state false \[settable\] \(\d\d:\d\d:\d\d, /);

      assert.match(text(await viewer.ask("read boiler")), /^boiler: temperature [^\n]+$/);
      assert.equal(text(await viewer.ask("read attic")), `Unknown id 'attic'. Known ids: ${ids.join(", ")}.`);
    });

    it("set controls the pump for a control operator and politely refuses a read operator", async () => {
      assert.equal(text(await viewer.ask("set pump state true")), "Sorry, setting values needs the control role; your account may only read.");
      assert.match(text(await ops.ask("read pump")), /^pump: state false /);
      assert.equal(text(await ops.ask("set pump state true")), "Done: pump state = true.");
      assert.match(text(await ops.ask("read pump")), /^pump: state true /);
      assert.equal(text(await ops.ask("set pump state maybe")), 'Not applied: state: expected true, false, 1 or 0, got "maybe".');
      assert.equal(text(await ops.ask("set pump state 0")), "Done: pump state = false.");
      assert.equal(text(await ops.ask("set pump state ON")), "Done: pump state = true.", "a switch takes on/off");
      assert.equal(text(await ops.ask("set pump state off")), "Done: pump state = false.");
    });

    it("refuses a delayed line (stored offline) without running it; a late set is audited, the pump left alone", async () => {
      const stamp = new Date(Date.now() - 3 * 3600_000).toISOString();
      const late = () => xml("delay", { xmlns: "urn:xmpp:delay", from: "localhost", stamp });
      const refusal = "This message was delayed in transit, so it was not run. Send it again if it still applies.";
      assert.equal(text(await ops.ask("set pump state on", { type: "chat" }, late())), refusal);
      assert.equal(text(await ops.ask("status", { type: "chat" }, late())), refusal);
      assert.match(text(await ops.ask("read pump")), /^pump: state false /, "the late set was not applied");
      const rows = await until(() => auditRows(gateway.dir), (found) => found.some((row) => row.result === "delayed"), "the late set in the audit trail");
      const delayed = rows.filter((row) => row.result === "delayed");
      assert.deepEqual(delayed.map((row) => [row.requester, row.via, row.nodes]), [["ops@localhost/phone", "chat", JSON.stringify(["pump"])]]);
      assert.match(String(delayed[0]?.detail), new RegExp(stamp.slice(0, 19)));
    });

    it("audit shows a control operator who switched the pump and whose set was refused; read operators are refused it", async () => {
      assert.equal(text(await ops.ask("set pump state on")), "Done: pump state = true.");
      assert.equal(text(await viewer.ask("set pump state off")), "Sorry, setting values needs the control role; your account may only read.");
      const answer = text(await ops.ask("audit 2"));
      const lines = answer.split("\n");
      assert.equal(lines[0], "Audit trail, the last 2 entries, newest last:", answer);
      assert.match(lines[1] ?? "", /^\d\d:\d\d:\d\d ops@localhost · chat · pump state=true · applied$/, answer);
      assert.match(lines[2] ?? "", /^\d\d:\d\d:\d\d viewer@localhost · chat · pump state=false · refused: control needs the control role; this operator has read only$/, answer);
      assert.equal(lines.length, 3, answer);
      assert.equal(text(await viewer.ask("audit")), "Sorry, the audit trail needs the control role; your account has the read role.");

      // The ad-hoc command gives the same lines, in its note and one per value of its result field.
      const form = await ops.command("audit", { action: "execute" });
      const submit = xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "entries" }, xml("value", {}, "2")));
      const done = await ops.command("audit", { action: "complete", sessionid: String(form.attrs.sessionid) }, submit);
      assert.equal(done.attrs.status, "completed");
      assert.equal(done.getChildText("note"), answer);
      const values = done.getChild("x", "jabber:x:data")?.getChildren("field").find((field) => field.attrs.var === "entries")?.getChildren("value").map((value) => value.text());
      assert.deepEqual(values, lines.slice(1));
      await assert.rejects(viewer.command("audit", { action: "execute" }), (error: { condition?: string }) => error.condition === "forbidden");
      assert.equal(text(await ops.ask("set pump state off")), "Done: pump state = false.");
    });

    it("status tells the connection, uptime, sensors, buffer and last publish", async () => {
      const lines = text(await viewer.ask("status")).split("\n");
      assert.match(lines[0] ?? "", /^connection: online · up \d+ s \(since \d\d:\d\d:\d\d\)$/);
      assert.match(lines[1] ?? "", /^sensors: \d+ ok, \d+ failing$/);
      assert.ok(lines.some((line) => /^buffer: \d+ unsent readings? · 0 dropped$/.test(line)), lines.join("\n"));
      assert.ok(lines.some((line) => /^last publish: \d\d:\d\d:\d\d, /.test(line)), lines.join("\n"));
    });

    it("history gives a sparkline with min, max, average and last per numeric value", async () => {
      const lines = text(await viewer.ask("history boiler 5m")).split("\n");
      assert.match(lines[0] ?? "", /^boiler, last 5m \(\d\d:\d\d:\d\d – \d\d:\d\d:\d\d\), per-second averages:$/);
      assert.match(lines[1] ?? "", /^temperature: [ ▁▂▃▄▅▆▇█]+$/);
      assert.match(lines[2] ?? "", /^ {2}min \S+ °C · max \S+ °C · avg \S+ °C · last \S+ °C$/);
      assert.ok(lines.some((line) => line.startsWith("pressure: ")), lines.join("\n"));
    });

    it("chart without an upload service on the server: the value's sparkline and why there is no picture", async () => {
      const reply = await viewer.ask("chart boiler temperature 5m");
      assert.equal(reply.getChild("x", "jabber:x:oob"), undefined);
      const lines = text(reply).split("\n");
      assert.match(lines[0] ?? "", /^boiler, last 5m \(\d\d:\d\d:\d\d – \d\d:\d\d:\d\d\), per-second averages:$/);
      assert.match(lines[1] ?? "", /^temperature: [ ▁▂▃▄▅▆▇█]+$/);
      assert.deepEqual(lines.slice(3), ["No chart: the server offers no HTTP file upload (XEP-0363)."]);
    });

    it("suggests the closest command for a typo", async () => {
      assert.equal(text(await ops.ask("raed")), "Unknown command 'raed'. Did you mean 'read'?");
    });

    it("answers in the request's type and thread", async () => {
      const normal = await ops.ask("status", {}, xml("thread", { parent: "p-1" }, "t-42"));
      // ejabberd drops type='normal' on the way, as the default it is (RFC 6121 §5.2.2).
      assert.equal(normal.attrs.type ?? "normal", "normal");
      assert.equal(normal.getChildText("thread"), "t-42");
      assert.equal(normal.getChild("thread")?.attrs.parent, "p-1");
      const chat = await ops.ask("help", { type: "chat" }, xml("thread", {}, "t-43"));
      assert.deepEqual([chat.attrs.type, chat.getChildText("thread")], ["chat", "t-43"]);
      const unthreaded = await ops.ask("help");
      assert.equal(unthreaded.getChild("thread"), undefined);
    });

    it("ignores error, groupchat and headline messages and bodiless chat states", async () => {
      const seen = ops.replies.length;
      await ops.send("help", { type: "headline" });
      await ops.send("help", { type: "groupchat" });
      await ops.send("help", { type: "error" });
      await ops.send(undefined, { type: "chat" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" }));
      await ops.send("raed", { type: "chat" });
      const next = await ops.nextAfter(seen);
      assert.equal(text(next), "Unknown command 'raed'. Did you mean 'read'?", "the first answer is to the last message");
    });

    it("gives a stranger exactly one polite refusal, however many messages", async () => {
      await stranger.send("read");
      await stranger.send("set pump state true");
      await stranger.send("help", { type: "normal" });
      const refusal = await stranger.nextAfter(0);
      assert.match(text(refusal), /^Sorry, this gateway answers its operators only\./);
      await sleep(1500);
      assert.equal(stranger.replies.length, 1, stranger.replies.map((reply) => text(reply)).join(" | "));
      assert.match(text(await ops.ask("read pump")), /^pump: state false /, "the stranger's set was not applied");
    });
  });
}

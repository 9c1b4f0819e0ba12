// Remote configuration through a real Prosody, with the bundled agent: an admin fetches the config (password
// redacted) and pushes new ones by ad-hoc command and chat. A control operator is refused; a config with problems
// comes back with them and nothing is written; a good push is applied and kept; a push with a wrong password
// leaves the agent offline, so it restores the previous file by itself, comes back and tells the admin why, also
// when the agent was restarted in the middle of the try.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { Database } from "../../agent/sqlite.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";
import { REDACTED } from "../../agent/remote-config.ts";

const AGENT_JID = "gw1@localhost/edge";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const FAST_LINK = "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 1s }";
const ROLLBACK_AFTER_MS = 4_000;

/** An operator at a chat window with a commands menu: every message from the agent is kept. */
class Operator {
  readonly heard: string[] = [];

  private constructor(readonly observer: Observer) {
    observer.onMessage((message) => {
      const body = message.getChildText("body");
      if (body !== null && String(message.attrs.from).startsWith("gw1@localhost")) this.heard.push(body);
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Operator> {
    return new Operator(await Observer.connect(server, user, `${user}-secret`));
  }

  /** Sends a chat line and resolves with the next message the agent sends. */
  async say(body: string): Promise<string> {
    const seen = this.heard.length;
    await this.observer.send(xml("message", { to: AGENT_JID, type: "chat" }, xml("body", {}, body)));
    await this.hears((heard) => heard.length > seen, `an answer to ${body.split("\n")[0] ?? ""}`);
    return this.heard[seen] ?? "";
  }

  hears(predicate: (heard: string[]) => boolean, what: string, timeoutMs = 15_000): Promise<string[]> {
    return this.observer.until(() => this.heard, predicate, timeoutMs, what);
  }

  async command(node: string, attrs: Record<string, string> = {}, ...children: Element[]): Promise<Element> {
    const reply = await this.observer.iq("set", AGENT_JID, xml("command", { xmlns: NS_COMMANDS, node, ...attrs }, ...children));
    const command = reply.getChild("command", NS_COMMANDS);
    assert.ok(command, reply.toString());
    return command;
  }

  /** The `config` field's lines of a command's form. */
  static configLines(command: Element): string[] {
    const field = command.getChild("x", NS_DATA)?.getChildren("field").find((candidate) => candidate.attrs.var === "config");
    return field?.getChildren("value").map((value) => value.text()) ?? [];
  }

  /** Runs config-push to the end with `lines` and the inline-password answer. */
  async push(lines: string[], acceptInlineSecrets = false): Promise<Element> {
    const started = await this.command("config-push", { action: "execute" });
    const submit = xml(
      "x",
      { xmlns: NS_DATA, type: "submit" },
      xml("field", { var: "config" }, ...lines.map((line) => xml("value", {}, line))),
      xml("field", { var: "acceptInlineSecrets" }, xml("value", {}, String(acceptInlineSecrets))),
    );
    return this.command("config-push", { action: "complete", sessionid: String(started.attrs.sessionid) }, submit);
  }
}

async function refusal(reply: Promise<unknown>): Promise<string> {
  try {
    await reply;
  } catch (error) {
    return (error as { condition: string }).condition;
  }
  assert.fail("expected an iq error");
}

interface ConfigAuditRow {
  requester: string;
  via: string;
  summary: string;
  result: string;
  detail: string | null;
}

async function configAudit(dir: string): Promise<ConfigAuditRow[]> {
  const db = await Database.open(join(dir, "xedge.db"), { readonly: true });
  try {
    return await db.all<ConfigAuditRow>("SELECT requester, via, summary, result, detail FROM config_audit ORDER BY id");
  } finally {
    await db.close();
  }
}

describe("remote configuration on prosody", () => {
  let server: XmppTestServer;
  let agent: AgentProcess;
  let file: string;
  let dir: string;
  let root: Operator;
  let ops: Operator;

  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", root: "root-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    ({ file, dir } = writeAgentConfig(server, {
      xmppExtra: FAST_LINK,
      extra: `remoteConfig: { rollbackAfter: ${ROLLBACK_AFTER_MS}ms }`,
      operators: [
        { jid: "root@localhost", role: "admin" },
        { jid: "ops@localhost", role: "control" },
      ],
    }));
    agent = AgentProcess.start(file);
    await agent.waitForMessage("online", 30_000);
    [root, ops] = await Promise.all([Operator.connect(server, "root"), Operator.connect(server, "ops")]);
  });
  after(async () => {
    await Promise.all([root?.observer.close(), ops?.observer.close()]);
    await agent?.stop();
    await server?.stop();
  });

  it("shows the admin the running config with the password redacted; a control operator is refused", async () => {
    const fetched = Operator.configLines(await root.command("config", { action: "execute" }));
    assert.ok(fetched.includes(`  password: ${REDACTED}`), fetched.join("\n"));
    assert.ok(!fetched.join("\n").includes("gw1-secret"));
    assert.equal(await refusal(ops.command("config", { action: "execute" })), "forbidden");
    assert.equal(await refusal(ops.command("config-push", { action: "execute" })), "forbidden");
    assert.equal(await ops.say("config"), "Sorry, the config is for the admin role; your account has the control role.");
    assert.equal(await ops.say(`config set\n${readFileSync(file, "utf8")}`), "Sorry, pushing a config needs the admin role; your account has the control role.");
    assert.deepEqual((await configAudit(dir)).map((row) => [row.requester, row.via, row.result]), [["ops@localhost/observer", "chat", "forbidden"]]);
  });

  it("lists every problem of a bad config, one note each, and writes nothing", async () => {
    const before = readFileSync(file, "utf8");
    const fetched = Operator.configLines(await root.command("config", { action: "execute" }));
    const reply = await root.push([...fetched.map((line) => line.replace("hardware: sim", "hardware: moon")), "bogus: 1"]);
    assert.equal(reply.attrs.status, "executing", "the form comes back to be fixed");
    const notes = reply.getChildren("note").map((note) => note.text()).sort();
    assert.equal(notes.length, 2, notes.join("\n"));
    assert.match(notes[0] ?? "", /^bogus: unknown key/);
    assert.match(notes[1] ?? "", /^hardware: expected one of /);
    const yaml = await root.say("config set\nhardware: sim\nxmpp: [\n");
    assert.match(yaml, /^Not written: the config has 1 problem\(s\):\n\(yaml\) line \d+: /);
    assert.equal(readFileSync(file, "utf8"), before);
    assert.equal(existsSync(`${file}.previous`), false);
  });

  it("applies a good push through the reload, keeps the previous file, and audits it", async () => {
    const fetched = Operator.configLines(await root.command("config", { action: "execute" }));
    const reply = await root.push([...fetched.filter((line) => !line.startsWith("sensors:") && !line.startsWith("  - { id: boiler")), "sensors:", "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }", "  - { id: cellar, driver: sht3x, i2c: { bus: 1, address: 0x44 }, interval: 1s }"]);
    assert.equal(reply.attrs.status, "completed");
    assert.equal(reply.getChildText("note"), "Applied: sensors added: cellar.");
    assert.match(readFileSync(file, "utf8"), /id: cellar/);
    assert.match(readFileSync(file, "utf8"), /password: gw1-secret/, "the redacted password is the running one again");
    assert.doesNotMatch(readFileSync(`${file}.previous`, "utf8"), /cellar/);
    const rows = await configAudit(dir);
    assert.deepEqual(rows.at(-1), { requester: "root@localhost/observer", via: "adhoc", summary: "sensors added: cellar", result: "applied", detail: null });
  });

  it("rolls back a push with a wrong password: offline, previous file restored, online again, admin told why", async () => {
    const good = readFileSync(file, "utf8");
    const wrong = good.replace("password: gw1-secret", "password: not-the-password");
    const mark = agent.logs.length;
    const answer = await root.say(`config set inline-secrets\n${wrong}`);
    assert.match(answer, /^Written\. The connection settings change: .* within 4s, it restores the previous config and tells you why/);
    await agent.waitForLog((line) => line.message === "connection failed" && /not-authorized/.test(String(line.error)), 20_000, mark);
    const [told] = (await root.hears((heard) => heard.some((text) => text.includes("rolled back")), "the rollback message", 30_000)).filter((text) => text.includes("rolled back"));
    assert.match(
      told ?? "",
      /^The config you pushed at \S+ was rolled back: not online within 4s with the new settings; last connection error: login refused \(not-authorized\): check xmpp\.jid and the password\. The previous config is running again\.$/,
    );
    assert.equal(readFileSync(file, "utf8"), good, "the previous file is back");
    assert.ok(agent.logs.slice(mark).some((line) => line.message === "online"), "online again");
    const last = (await configAudit(dir)).at(-1);
    assert.equal(last?.result, "rolled-back");
    assert.equal(last?.summary, "connection settings: reconnecting");
    assert.match(last?.detail ?? "", /not-authorized/);
    assert.equal(await root.say("status").then((text) => /online/.test(text)), true);
  });

  it("keeps good connection settings once online with them, past the deadline", async () => {
    const good = readFileSync(file, "utf8");
    const slower = good.replace("pingInterval: 1s", "pingInterval: 2s").replace("password: gw1-secret", `password: ${REDACTED}`);
    const seen = root.heard.length;
    const answer = await root.say(`config set\n${slower}`);
    assert.match(answer, /^Written\. The connection settings change/);
    await root.hears((heard) => heard.slice(seen).some((text) => text.includes("is applied and the gateway is online with it")), "the kept message", 30_000);
    await new Promise((resolve) => setTimeout(resolve, ROLLBACK_AFTER_MS + 1_000));
    assert.equal(readFileSync(file, "utf8"), good.replace("pingInterval: 1s", "pingInterval: 2s"));
    assert.ok(!root.heard.slice(seen).some((text) => text.includes("rolled back")));
    assert.equal((await configAudit(dir)).at(-1)?.result, "applied");
  });

  it("takes a try up again when the agent is restarted in the middle of it, and rolls back", async () => {
    const good = readFileSync(file, "utf8");
    const wrong = good.replace(/password: \S+/, "password: not-the-password");
    const seen = root.heard.length;
    const mark = agent.logs.length;
    assert.match(await root.say(`config set inline-secrets\n${wrong}`), /^Written\. The connection settings change/);
    await agent.waitForLog((line) => line.message === "connection failed", 20_000, mark);
    assert.equal(await agent.stop(), 0);
    assert.equal(readFileSync(file, "utf8"), wrong, "the agent stopped with the pushed file in place");
    agent = AgentProcess.start(file);
    await agent.waitForMessage("taking up the try of a pushed config after a restart", 20_000);
    const heard = await root.hears((texts) => texts.slice(seen).some((text) => text.includes("rolled back")), "the rollback message", 30_000);
    assert.match(heard.slice(seen).find((text) => text.includes("rolled back")) ?? "", /not-authorized/);
    assert.equal(readFileSync(file, "utf8"), good, "the previous file is back");
    assert.equal(existsSync(`${file}.trying`), false);
  });
});

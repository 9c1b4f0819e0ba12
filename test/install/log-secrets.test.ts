// The XMPP password never reaches the logs: not from the config, a passwordFile or XEDGE_XMPP_PASSWORD, not on a
// refused login, a reload or a config error, at debug level (the test configs' level), as JSON or as journald
// text (priority prefixes).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, runCli, writeAgentConfig } from "../support/agent.ts";

const secret = (label: string) => `${label}-${randomBytes(9).toString("base64url")}`;
const GOOD = secret("good");
const WRONG = secret("wrong");

/** The password as it is, and as SASL PLAIN or a careless dump would carry it. */
function forms(password: string): string[] {
  return [password, Buffer.from(password).toString("base64"), Buffer.from(`\0gw1\0${password}`).toString("base64"), Buffer.from(password).toString("hex")];
}

function assertNoSecret(output: string[], passwords: string[]): void {
  const text = output.join("\n");
  for (const password of passwords) {
    for (const form of forms(password)) assert.ok(!text.includes(form), `the log holds ${form}:\n${text}`);
  }
}

/** Resolves once a stderr line matches (for text logs, which AgentProcess does not parse). */
async function waitForStderr(agent: AgentProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = agent.stderr.find((entry) => pattern.test(entry));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no stderr line matching ${pattern} within ${timeoutMs} ms:\n${agent.stderr.slice(-15).join("\n")}`);
    await new Promise((resolveTick) => setTimeout(resolveTick, 50));
  }
}

describe("passwords in logs", () => {
  let server: XmppTestServer;
  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: GOOD } });
  });
  after(async () => {
    await server?.stop();
  });

  it("config password: a login, a reload to a wrong password and the refused login that follows, JSON at debug", async () => {
    const { file } = writeAgentConfig(server, { password: GOOD, xmppExtra: "  reconnect: { initialDelay: 100ms, maxDelay: 1s }" });
    const agent = AgentProcess.start(file);
    try {
      await agent.waitForMessage("online", 30_000);
      writeFileSync(file, readFileSync(file, "utf8").replace(`password: ${GOOD}`, `password: ${WRONG}`));
      const from = agent.logs.length;
      agent.child.kill("SIGHUP");
      await agent.waitForMessage("config reloaded", 30_000, from);
      const refused = await agent.waitForMessage("connection failed", 30_000, from);
      assert.match(String(refused.error), /login refused \(not-authorized\)/);
      assert.equal(await agent.stop(), 0);
      assertNoSecret(agent.stderr, [GOOD, WRONG]);
    } finally {
      await agent.stop("SIGKILL");
    }
  });

  it("passwordFile with a wrong password: the refused login in journald's text format", async () => {
    const { file, dir } = writeAgentConfig(server, { password: "placeholder" });
    writeFileSync(join(dir, "password"), `${WRONG}\n`);
    const text = readFileSync(file, "utf8").replace("password: placeholder", "passwordFile: password").replace("json: true", "json: false");
    writeFileSync(file, text);
    const agent = AgentProcess.start(file, { JOURNAL_STREAM: "8:12345" });
    try {
      const refused = await waitForStderr(agent, /connection failed/, 30_000);
      assert.match(refused, /^<4>connection failed .*login refused \(not-authorized\)/);
      assert.equal(await agent.stop(), 0);
      assert.ok(agent.stderr.some((line) => line.startsWith("<6>agent started")), `info lines carry priority 6:\n${agent.stderr.join("\n")}`);
      assertNoSecret(agent.stderr, [WRONG]);
    } finally {
      await agent.stop("SIGKILL");
    }
  });

  it("XEDGE_XMPP_PASSWORD: a login at debug level", async () => {
    const { file } = writeAgentConfig(server, { password: "placeholder" });
    writeFileSync(file, readFileSync(file, "utf8").replace("  password: placeholder\n", ""));
    const agent = AgentProcess.start(file, { XEDGE_XMPP_PASSWORD: GOOD });
    try {
      await agent.waitForMessage("online", 30_000);
      assert.equal(await agent.stop(), 0);
      assertNoSecret(agent.stderr, [GOOD]);
    } finally {
      await agent.stop("SIGKILL");
    }
  });

  it("a config error on the password names the key, not the value", async () => {
    const digits = String(100_000_000 + Math.floor(Math.random() * 800_000_000));
    const { file } = writeAgentConfig(server, { password: digits });
    for (const command of ["check", "run"]) {
      const result = await runCli([command, "--config", file]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^xmpp\.password: expected text \(a password of digits needs quotes\); the value given is not shown/m);
      assertNoSecret([result.stdout, result.stderr], [digits]);
    }
  });
});

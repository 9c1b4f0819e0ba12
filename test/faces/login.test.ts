// The login on the real servers, both of which offer SCRAM-SHA-1: xedge's own SCRAM (agent/xmpp/scram.ts) logs in
// and checks the server's signature, logs in again from the cached salted password, and a wrong password is refused
// with an error that says what to fix, in the client and in the agent's log.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { createClient } from "../../agent/xmpp/client.ts";
import { explainConnectError } from "../../agent/xmpp/connection.ts";
import { SaltedPasswordCache, SaslError } from "../../agent/xmpp/scram.ts";

const USER = "gw1";
const PASSWORD = "gw1-secret";

for (const kind of serverKinds) {
  describe(`login on ${kind}`, () => {
    let server: XmppTestServer;
    before(async () => {
      server = await startServer(kind, { accounts: { [USER]: PASSWORD } });
    });
    after(() => server?.stop());

    /** Logs in as USER with `password`; resolves with the bound JID once online, then closes the session. */
    async function login(password: string, cache?: SaltedPasswordCache): Promise<string> {
      const { entity } = createClient({ service: server.service, domain: server.domain, username: USER, password, resource: "login", caFile: server.caFile }, cache);
      entity.on("error", () => undefined);
      try {
        const bound = await entity.start();
        return bound.toString();
      } finally {
        await entity.stop().catch(() => undefined);
      }
    }

    it("logs in with SCRAM-SHA-1 and binds the resource", async () => {
      assert.equal(await login(PASSWORD), `${USER}@localhost/login`);
    });

    it("logs in again from the salted password the first login cached", async () => {
      const cache = new SaltedPasswordCache();
      assert.equal(await login(PASSWORD, cache), `${USER}@localhost/login`);
      assert.equal(await login(PASSWORD, cache), `${USER}@localhost/login`);
    });

    it("refuses a wrong password as not-authorized, even with the right password's salted password cached", async () => {
      const cache = new SaltedPasswordCache();
      await login(PASSWORD, cache);
      const refused = await login("not-the-password", cache).then(
        () => assert.fail("a wrong password logged in"),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof SaslError, `a SaslError, got ${String(refused)}`);
      assert.equal(refused.condition, "not-authorized");
      assert.equal(explainConnectError(refused, server), "login refused (not-authorized): check xmpp.jid and the password");
    });

    it("the agent logs a wrong password as a refused login and keeps retrying", async () => {
      const { file, dir } = writeAgentConfig(server, { user: USER, password: "not-the-password", xmppExtra: "  reconnect: { initialDelay: 100ms, maxDelay: 200ms }" });
      const agent = AgentProcess.start(file);
      try {
        const failed = (from: number) => agent.waitForLog((line) => line.message === "connection failed" && line.error === "login refused (not-authorized): check xmpp.jid and the password", 30_000, from);
        const first = await failed(0);
        await failed(agent.logs.indexOf(first) + 1);
        assert.ok(!agent.stderr.some((line) => line.includes("not-the-password")), "the password is never logged");
      } finally {
        assert.equal(await agent.stop(), 0);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

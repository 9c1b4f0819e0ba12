// Checks the XMPP test-server harness itself, for every server kind.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { instanceProcesses, isAlive, listProcesses, type ProcInfo } from "../support/procs.ts";
import { serverKinds, startServer, type XmppTestServer } from "../support/servers.ts";
import { createUntrustedCa } from "../support/tls.ts";
import { openStartTls, saslPlain } from "../support/xmpp-probe.ts";

const ACCOUNTS = { gw: "gw-secret", viewer: "viewer-secret" };

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function login(server: XmppTestServer, user: string, password: string): Promise<"success" | "failure"> {
  const { socket } = await openStartTls({ host: server.host, port: server.port, domain: server.domain, ca: readFileSync(server.caFile) });
  return saslPlain(socket, server.domain, user, password);
}

/** Processes of the instance that still run the same program as when the snapshot was taken. */
function survivors(snapshot: ProcInfo[]): ProcInfo[] {
  const now = new Map(listProcesses().map((p) => [p.pid, p]));
  return snapshot.filter((p) => isAlive(p.pid) && now.get(p.pid)?.cmdline === p.cmdline);
}

const epmdPids = (): number[] => listProcesses().filter((p) => /(^|\/)epmd( |$)/.test(p.cmdline) && p.state !== "Z").map((p) => p.pid);

for (const kind of serverKinds) {
  describe(`test server harness: ${kind}`, () => {
    let server: XmppTestServer;
    let scratch: string;
    let untrustedCa: string;
    let epmdBefore: number[];

    before(async () => {
      epmdBefore = epmdPids();
      scratch = await mkdtemp(join(os.tmpdir(), "xedge-harness-test-"));
      untrustedCa = (await createUntrustedCa(scratch)).caFile;
      const t0 = Date.now();
      server = await startServer(kind, { accounts: ACCOUNTS, pubsubAdmins: ["gw@localhost"] });
      // Visible in the test output: startup cost matters for every integration test file.
      console.log(`# ${kind} started with 2 accounts in ${Date.now() - t0} ms (port ${server.port}, pid ${server.pid})`);
    });

    after(async () => {
      await server?.stop();
      await rm(scratch, { recursive: true, force: true });
    });

    it("describes itself", () => {
      assert.equal(server.kind, kind);
      assert.equal(server.domain, "localhost");
      assert.equal(server.service, `xmpp://127.0.0.1:${server.port}`);
      assert.equal(server.pubsubService, "pubsub.localhost");
      assert.ok(server.pid !== undefined && isAlive(server.pid), "server PID is alive");
      assert.equal(readFileSync(join(server.dir, "owner.pid"), "utf8").trim(), String(process.pid));
      assert.equal(readFileSync(join(server.dir, "server.pid"), "utf8").trim(), String(server.pid));
    });

    it("requires STARTTLS and presents a certificate the test CA verifies", async () => {
      const { starttlsRequired, featuresBeforeTls, socket } = await openStartTls({
        host: server.host, port: server.port, domain: server.domain, ca: readFileSync(server.caFile),
      });
      try {
        assert.ok(starttlsRequired, `features: ${featuresBeforeTls}`);
        assert.equal(socket.authorized, true, String(socket.authorizationError));
        const cert = socket.getPeerCertificate();
        assert.match(cert.subjectaltname ?? "", /DNS:localhost/);
        assert.match(cert.subjectaltname ?? "", /IP Address:127\.0\.0\.1/);
      } finally {
        socket.destroy();
      }
    });

    it("fails the TLS handshake when only an untrusted CA is trusted", async () => {
      await assert.rejects(
        openStartTls({ host: server.host, port: server.port, domain: server.domain, ca: readFileSync(untrustedCa) }),
        (err: unknown) => {
          const code = (err as { code?: unknown }).code;
          assert.match(String(code), /CERT|SIGNATURE|ISSUER/, `unexpected error ${String(err)}`);
          return true;
        },
      );
    });

    it("created the accounts: SASL PLAIN succeeds, a wrong password fails", async () => {
      assert.equal(await login(server, "gw", ACCOUNTS.gw), "success", await server.logTail());
      assert.equal(await login(server, "viewer", ACCOUNTS.viewer), "success");
      assert.equal(await login(server, "gw", "wrong"), "failure");
      assert.equal(await login(server, "nobody", "x"), "failure");
    });

    it("createAccount returns the bare JID and refuses an existing account", async () => {
      assert.equal(await server.createAccount("extra", "extra-secret"), "extra@localhost");
      assert.equal(await login(server, "extra", "extra-secret"), "success");
      await assert.rejects(server.createAccount("gw", "other"));
      assert.equal(await login(server, "gw", ACCOUNTS.gw), "success", "original password unchanged");
    });

    it("restart() after SIGKILL comes back on the same port with the accounts", async () => {
      const { port } = server;
      const oldPid = server.pid;
      server.signal("SIGKILL");
      const t0 = Date.now();
      await server.restart();
      console.log(`# ${kind} restarted after SIGKILL in ${Date.now() - t0} ms`);
      assert.equal(server.port, port);
      assert.notEqual(server.pid, oldPid);
      assert.ok(oldPid !== undefined && !isAlive(oldPid), "old server process is gone");
      assert.ok(await tcpAccepts(port));
      assert.equal(await login(server, "gw", ACCOUNTS.gw), "success");
      assert.equal(await login(server, "extra", "extra-secret"), "success");
    });

    it("stop({ keepData: true }) then restart() keeps the data", async () => {
      const { port } = server;
      await server.stop({ keepData: true });
      assert.equal(server.pid, undefined);
      assert.equal(await tcpAccepts(port), false);
      assert.ok(existsSync(server.dir));
      await server.restart();
      assert.equal(server.port, port);
      assert.equal(await login(server, "viewer", ACCOUNTS.viewer), "success");
    });

    it("stop() of a SIGSTOPped server leaves no process, port or folder behind", async () => {
      const pid = server.pid;
      assert.ok(pid !== undefined);
      const snapshot = instanceProcesses(server.dir, [pid]);
      if (kind === "ejabberd") {
        // The VM forks helpers that do not name the folder; they must be part of the snapshot too.
        assert.ok(snapshot.some((p) => p.cmdline.startsWith("erl_child_setup")), JSON.stringify(snapshot));
      }
      server.signal("SIGSTOP");
      const t0 = Date.now();
      await server.stop();
      console.log(`# ${kind} stopped in ${Date.now() - t0} ms`);
      assert.deepEqual(survivors(snapshot), []);
      assert.deepEqual(instanceProcesses(server.dir, []), []);
      assert.equal(await tcpAccepts(server.port), false);
      assert.equal(existsSync(server.dir), process.env["XEDGE_KEEP_SERVER_DIRS"] === "1");
      const newEpmd = epmdPids().filter((p) => !epmdBefore.includes(p));
      assert.deepEqual(newEpmd, [], "no epmd daemon was started");
      await server.stop(); // idempotent
      await assert.rejects(server.restart(), /final stop/);
    });
  });
}

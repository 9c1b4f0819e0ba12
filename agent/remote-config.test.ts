// RemoteConfig over real files in a temporary folder, with the reload, the link and the audit as fakes: who may
// fetch and push, what a push validates, how it is written, and the rollback of connection settings that fail.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { Authz } from "./authz.ts";
import { loadConfig, type AgentConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { REDACTED, RemoteConfig, checkSecrets, redact, type ConfigAuditEntry, type FileReload } from "./remote-config.ts";

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const ADMIN = "root@example.net/laptop";
const CONTROLLER = "ops@example.net/phone";
const VIEWER = "viewer@example.net/phone";

const RUNNING = `# the gateway in the cellar
hardware: sim
xmpp:
  jid: gw1@example.net
  password: old-secret
operators:
  - { jid: root@example.net, role: admin }
  - { jid: ops@example.net, role: control }
  - { jid: viewer@example.net, role: read }
remoteConfig: { rollbackAfter: 200ms }
`;

/** The running config with `replace` applied to its text. */
const variant = (from: string, to: string) => RUNNING.replace(from, to);
const REDACTED_RUNNING = variant("password: old-secret", `password: ${REDACTED}`);

let dir: string;
let file: string;

function setup({ online: startOnline = true } = {}) {
  let running: AgentConfig = loadConfig(file, {});
  let online = startOnline;
  const listeners = new Set<() => void>();
  const reloads: string[] = [];
  const told: { jid: string; text: string }[] = [];
  const audit: ConfigAuditEntry[] = [];
  const reloadFile: FileReload = () => {
    try {
      const next = loadConfig(file, {});
      reloads.push(readFileSync(file, "utf8"));
      const connection = next.xmpp.password !== running.xmpp.password;
      running = next;
      if (connection) online = false;
      return Promise.resolve({ ok: true, applied: connection ? ["connection settings: reconnecting"] : ["operators: 3"], needsRestart: [] });
    } catch (error) {
      return Promise.resolve({ ok: false, problems: [String(error)] });
    }
  };
  const remote = new RemoteConfig({
    authz: new Authz(running.operators),
    running: () => running,
    reloadFile,
    link: {
      isOnline: () => online,
      onOnline: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      lastConnectError: () => "login refused (not-authorized): check xmpp.jid and the password",
    },
    tell: (jid, text) => told.push({ jid, text }),
    audit: (entry) => {
      audit.push(entry);
      return Promise.resolve();
    },
    log: quiet,
    env: {},
  });
  const comeOnline = () => {
    online = true;
    for (const listener of [...listeners]) listener();
  };
  return { remote, reloads, told, audit, comeOnline };
}

const until = async (what: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) assert.fail("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe("RemoteConfig", () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-remote-config-"));
    file = join(dir, "xedge.yaml");
    writeFileSync(file, RUNNING);
    chmodSync(file, 0o640);
    writeFileSync(join(dir, "gw1.pw"), "new-secret\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("shows admins the running file with the password redacted and comments kept; others are refused", () => {
    const { remote } = setup();
    const fetched = remote.fetch(ADMIN);
    assert.ok(fetched.ok);
    assert.equal(fetched.text, REDACTED_RUNNING);
    assert.deepEqual(remote.fetch(CONTROLLER), { ok: false, kind: "forbidden", text: "fetching the config needs the admin role; this operator has control" });
    assert.deepEqual(remote.fetch(VIEWER), { ok: false, kind: "forbidden", text: "fetching the config needs the admin role; this operator has read" });
    assert.deepEqual(remote.fetch("mallory@example.net/x"), { ok: false, kind: "forbidden", text: "not an operator of this gateway" });
  });

  it("refuses a push by a control operator, writes nothing and audits the refusal", async () => {
    const { remote, audit, reloads } = setup();
    const result = await remote.push(CONTROLLER, RUNNING, { acceptInlineSecrets: true }, "chat");
    assert.deepEqual(result, { ok: false, kind: "forbidden", problems: ["pushing the config needs the admin role; this operator has control"] });
    assert.equal(readFileSync(file, "utf8"), RUNNING);
    assert.equal(reloads.length, 0);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.via, entry.result]), [[CONTROLLER, "chat", "forbidden"]]);
  });

  it("lists every problem of a bad config, one line each, and writes nothing", async () => {
    const { remote, audit } = setup();
    const bad = `${REDACTED_RUNNING}sensors:\n  - { id: cellar, driver: nosuch }\nbogus: 1\n`;
    const result = await remote.push(ADMIN, bad, { acceptInlineSecrets: false }, "adhoc");
    assert.ok(!result.ok && result.kind === "invalid");
    assert.deepEqual(
      result.problems.map((problem) => problem.split(":")[0]),
      ["sensors[0].driver", "bogus"],
    );
    const yaml = await remote.push(ADMIN, "hardware: sim\nxmpp: [\n", { acceptInlineSecrets: false }, "adhoc");
    assert.ok(!yaml.ok && yaml.kind === "invalid" && yaml.problems.every((problem) => problem.startsWith("(yaml) line")));
    assert.equal(readFileSync(file, "utf8"), RUNNING);
    assert.equal(existsSync(`${file}.previous`), false);
    assert.deepEqual(audit.map((entry) => entry.result), ["refused", "refused"]);
  });

  it("accepts an inline password only when told so, a passwordFile only when it exists", async () => {
    const { remote } = setup();
    const inline = variant("old-secret", "new-secret");
    const refused = await remote.push(ADMIN, inline, { acceptInlineSecrets: false }, "chat");
    assert.ok(!refused.ok && refused.kind === "invalid");
    assert.match(refused.problems.join("\n"), /^xmpp\.password: an inline password is accepted only when you say so explicitly/);
    const missing = await remote.push(ADMIN, variant("password: old-secret", "passwordFile: nowhere.pw"), { acceptInlineSecrets: false }, "chat");
    assert.ok(!missing.ok);
    assert.deepEqual(missing.problems, [`xmpp.passwordFile: cannot read ${join(dir, "nowhere.pw")} (ENOENT); check the path and that the service user may read it`]);
    assert.equal(readFileSync(file, "utf8"), RUNNING);
    const accepted = await remote.push(ADMIN, inline, { acceptInlineSecrets: true }, "chat");
    assert.equal(accepted.ok && accepted.outcome, "trying");
    remote.stop();
  });

  it("keeps the running password when the redacted placeholder comes back", () => {
    const kept = checkSecrets(redact(RUNNING), RUNNING, { acceptInlineSecrets: false });
    assert.deepEqual(kept, { text: RUNNING, problems: [] });
    const noneInline = checkSecrets(redact(RUNNING), variant("password: old-secret", "passwordFile: gw1.pw"), { acceptInlineSecrets: false });
    assert.equal(noneInline.problems.length, 1);
  });

  it("writes atomically beside the running file, keeps the previous one with its mode, and applies it through the reload", async () => {
    const { remote, reloads, audit } = setup();
    const next = variant("  - { jid: viewer@example.net, role: read }\n", "");
    const pushed = REDACTED_RUNNING.replace("  - { jid: viewer@example.net, role: read }\n", "");
    const result = await remote.push(ADMIN, pushed, { acceptInlineSecrets: false }, "adhoc");
    assert.deepEqual(result, { ok: true, outcome: "applied", applied: ["operators: 3"], needsRestart: [] });
    assert.equal(readFileSync(file, "utf8"), next, "the redacted password is the running one again");
    assert.equal(readFileSync(`${file}.previous`, "utf8"), RUNNING);
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.equal(statSync(`${file}.previous`).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir).sort(), ["gw1.pw", "xedge.yaml", "xedge.yaml.previous"], "no temporary file left");
    assert.deepEqual(reloads, [next]);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.via, entry.summary, entry.result]), [[ADMIN, "adhoc", "operators: 3", "applied"]]);
  });

  it("keeps new connection settings once the agent is online with them, and tells the admin", async () => {
    const { remote, told, audit, comeOnline, reloads } = setup();
    const next = variant("password: old-secret", "passwordFile: gw1.pw");
    const result = await remote.push(ADMIN, next, { acceptInlineSecrets: false }, "chat");
    assert.deepEqual(result, { ok: true, outcome: "trying", deadlineMs: 200 });
    assert.equal(reloads.length, 0, "applied only after the answer had time to leave");
    assert.ok(existsSync(`${file}.trying`), "a marker says a try is under way");
    await until(() => reloads.length === 1);
    const busy = await remote.push(ADMIN, next, { acceptInlineSecrets: false }, "chat");
    assert.ok(!busy.ok && busy.kind === "busy");
    comeOnline();
    await until(() => told.length === 1);
    assert.equal(told[0]?.jid, "root@example.net");
    assert.match(told[0]?.text ?? "", /is applied and the gateway is online with it: connection settings: reconnecting\.$/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(readFileSync(file, "utf8"), next, "kept after the deadline");
    assert.equal(existsSync(`${file}.trying`), false);
    assert.deepEqual(audit.map((entry) => entry.result), ["refused", "applied"]);
  });

  it("rolls back connection settings that leave it offline past the deadline, and tells the admin why once online", async () => {
    const { remote, told, audit, comeOnline, reloads } = setup();
    const next = variant("password: old-secret", "passwordFile: gw1.pw");
    await remote.push(ADMIN, next, { acceptInlineSecrets: false }, "chat");
    await until(() => reloads.length === 2);
    assert.equal(readFileSync(file, "utf8"), RUNNING, "the previous file is back");
    assert.equal(existsSync(`${file}.trying`), false);
    assert.deepEqual(reloads, [next, RUNNING]);
    assert.equal(told.length, 0, "offline: nobody to tell yet");
    comeOnline();
    await until(() => told.length === 1);
    assert.match(
      told[0]?.text ?? "",
      /was rolled back: not online within 200ms with the new settings; last connection error: login refused \(not-authorized\): check xmpp\.jid and the password\. The previous config is running again\.$/,
    );
    assert.deepEqual(audit.map((entry) => [entry.result, entry.detail]), [
      ["rolled-back", "not online within 200ms with the new settings; last connection error: login refused (not-authorized): check xmpp.jid and the password"],
    ]);
  });

  it("takes up a try a restart interrupted: the pushed file gets the deadline again, then rolls back", async () => {
    const next = variant("password: old-secret", "passwordFile: gw1.pw");
    const first = setup();
    await first.remote.push(ADMIN, next, { acceptInlineSecrets: false }, "chat");
    first.remote.stop();
    assert.ok(existsSync(`${file}.trying`), "stopping keeps the marker");
    assert.equal(readFileSync(file, "utf8"), next);

    const { remote, told, audit, comeOnline, reloads } = setup({ online: false });
    remote.resume();
    await until(() => reloads.length === 1);
    assert.equal(readFileSync(file, "utf8"), RUNNING, "the previous file is back");
    comeOnline();
    await until(() => told.length === 1);
    assert.match(told[0]?.text ?? "", /was rolled back: not online within 200ms/);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.via, entry.result]), [[ADMIN, "chat", "rolled-back"]]);
  });
});

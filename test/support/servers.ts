// Private, real XMPP servers (Prosody or ejabberd) for integration tests: one per test file,
// everything (config, data, logs, certificates) in a fresh temporary folder.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { cmdlineOf, instanceProcesses, isAlive, ownsListener, trySignal } from "./procs.ts";
import { createTestPki } from "./tls.ts";
import { Database } from "../../agent/sqlite.ts";
import { scramRow } from "./scram-rows.ts";

export type ServerKind = "prosody" | "ejabberd";
export const serverKinds: ServerKind[] = ["prosody", "ejabberd"];

export interface StartOptions {
  /** Accounts created before the function returns: user -> password (host is always "localhost"). */
  accounts?: Record<string, string>;
  /** Bare JIDs that are admins of the pubsub component (Prosody: `admins` inside the Component block; ejabberd: acl/access so they may create nodes). */
  pubsubAdmins?: string[];
  /**
   * Where Prosody keeps pubsub items: "persistent" (default: SQL storage on SQLite in the instance folder, survives
   * a restart) or "memory". Prosody 0.12's memory store corrupts a node when an existing item id is published
   * again (it removes an array entry without renumbering its key index), and re-publishing with the same id is
   * exactly how xedge replays after a crash, so tests use it only where no id is ever published twice.
   * ejabberd always uses mnesia in the instance folder.
   */
  pubsubStorage?: "memory" | "persistent";
  /** Max items per node the server allows (default 100000). */
  maxItemsPerNode?: number;
  /** XEP-0198 stream management (Prosody mod_smacks, ejabberd mod_stream_mgmt). Default true. */
  streamManagement?: boolean;
  /** Server log verbosity. Default "info" for Prosody, "warning" for ejabberd. */
  logLevel?: "debug" | "info" | "warning";
  /** How long start/restart may take before failing. Default 15 s (Prosody), 60 s (ejabberd). */
  startTimeoutMs?: number;
  /**
   * ejabberd only: where accounts live. "internal" (default): mnesia, each created by an `ejabberdctl register`
   * (≈ 0.5 s: it boots an Erlang VM). "sql": ejabberd's SQL auth on the instance's SQLite database, and `accounts`
   * are written there as SCRAM rows before the server starts, a few ms each, so a fleet gets 1,000 accounts in
   * seconds. createAccount still goes through ejabberdctl.
   */
  accountStorage?: "internal" | "sql";
  /**
   * ejabberd only: Erlang distribution for a cluster on loopback. Every node of a cluster gets the same `port` and
   * `cookie` and its own loopback `address` (127.0.0.1, 127.0.0.2, …), which becomes the host of its node name:
   * without epmd a node reaches another at that node's host on the one shared port. Join with
   * `ctl(["join_cluster", other.erlangNode])`.
   */
  cluster?: { address: string; port: number; cookie: string };
}

export interface StopOptions {
  /** Keep the folder (config, data, logs) so that restart() can bring the server back later. */
  keepData?: boolean;
}

export interface XmppTestServer {
  readonly kind: ServerKind;
  readonly domain: "localhost";
  readonly host: "127.0.0.1";
  /** c2s, STARTTLS offered AND required. */
  readonly port: number;
  /** `xmpp://127.0.0.1:${port}` */
  readonly service: string;
  readonly pubsubService: string;
  /** Trust anchor for the server's certificate. */
  readonly caFile: string;
  /** The temporary folder holding config, data, logs. */
  readonly dir: string;
  readonly configFile: string;
  /** Main server log file (see logTail). */
  readonly logFile: string;
  /** ejabberd's Erlang node name, e.g. xedge_ab12cd@localhost. */
  readonly erlangNode: string;
  /** PID of the running server process (Prosody's lua, ejabberd's beam.smp); undefined when not running. */
  readonly pid: number | undefined;
  /** Returns the bare JID. Rejects if the account exists already. */
  createAccount(user: string, password: string): Promise<string>;
  /** Run prosodyctl / ejabberdctl against this instance, e.g. ctl(["status"]). Rejects on a non-zero exit. */
  ctl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }>;
  /**
   * SIGTERM, SIGKILL after a grace period; resolves when every process of the instance is gone and the port is closed.
   * Removes the folder (unless XEDGE_KEEP_SERVER_DIRS=1 or keepData). Idempotent.
   */
  stop(options?: StopOptions): Promise<void>;
  /** For fault tests: send a signal to the server process (SIGKILL, SIGSTOP, SIGCONT). */
  signal(sig: NodeJS.Signals): void;
  /** Start again on the SAME port with the same config and data (after stop({keepData}), a SIGKILL, or while running). */
  restart(): Promise<void>;
  /** Last lines of the server logs, for assertion messages. */
  logTail(lines?: number): Promise<string>;
}

const DOMAIN = "localhost";
const EJABBERD_SQLITE_SCHEMA = "/usr/share/ejabberd/sql/lite.sql";
const HOST = "127.0.0.1";
const PUBSUB = "pubsub.localhost";
const DIR_PREFIX = "xedge-";
const KEEP_DIRS = process.env["XEDGE_KEEP_SERVER_DIRS"] === "1";
const STOP_GRACE_MS = 10_000;

class PortInUseError extends Error {}

// ---------------------------------------------------------------- small helpers

/** Two distinct free ports: hold all listeners open until every port is known. */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, HOST, () => resolve());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === "string") throw new Error("no port from listen(0)");
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function tcpAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

async function tailFile(path: string, lines: number): Promise<string> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const all = buf.toString("utf8").split("\n");
    if (all[all.length - 1] === "") all.pop();
    return all.slice(-lines).join("\n");
  } finally {
    await fh.close();
  }
}

/** Lua string literal. */
function lua(s: string): string {
  if ([...s].some((c) => c.charCodeAt(0) < 0x20)) throw new Error(`control character in config value ${JSON.stringify(s)}`);
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** YAML scalar: a JSON string is a valid YAML double-quoted scalar. */
function yaml(s: string): string {
  return JSON.stringify(s);
}

/** Shell-sourced ejabberdctl.cfg value: only allow plain tokens, no quoting games. */
function cfgToken(s: string): string {
  if (!/^[A-Za-z0-9_.@\-/ ]+$/.test(s)) throw new Error(`unsafe ejabberdctl.cfg value ${JSON.stringify(s)}`);
  return s;
}

function checkUser(user: string): void {
  // Node-part characters that need no escaping anywhere (command line, JID, file names).
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(user)) throw new Error(`test account name must match [a-z0-9._-]+: ${JSON.stringify(user)}`);
}

function checkAccount(user: string, password: string): void {
  checkUser(user);
  if (password === "" || /[\r\n]/.test(password)) throw new Error("password must be non-empty and single-line");
}

function checkBareJid(jid: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*@[a-z0-9.-]+$/.test(jid)) throw new Error(`not a simple bare JID: ${JSON.stringify(jid)}`);
}

// ---------------------------------------------------------------- process-wide tracking and cleanup

const live = new Set<Instance>();
let hooksInstalled = false;
let reaped: Promise<void> | undefined;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Last resort: whatever a test forgot to stop dies with the test process.
  process.on("exit", () => {
    for (const inst of live) inst.killSync();
  });
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    // A program that handles the signal itself (the demo's Ctrl-C) decides how to stop and with which code;
    // the exit hook above still kills whatever it leaves running.
    if (process.listenerCount(sig) > 1) return;
    const code = 128 + (os.constants.signals[sig] ?? 15);
    if (stopping) {
      process.exit(code); // second signal: the exit hook kills synchronously
    }
    stopping = true;
    void Promise.allSettled([...live].map((s) => s.stop())).finally(() => process.exit(code));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** Remove instances left behind by test processes that died (SIGKILL, crash). */
async function reapStale(): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${DIR_PREFIX}prosody-`) && !name.startsWith(`${DIR_PREFIX}ejabberd-`)) continue;
    const dir = join(tmp, name);
    try {
      let owner: number | undefined;
      try {
        owner = Number(readFileSync(join(dir, "owner.pid"), "utf8").trim());
      } catch {
        // No owner file: either being created right now or broken; only old ones are safe to take.
        if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue;
      }
      if (owner !== undefined && (owner === process.pid || isAlive(owner))) continue;
      let serverPid: number | undefined;
      try {
        serverPid = Number(readFileSync(join(dir, "server.pid"), "utf8").trim());
      } catch {
        serverPid = undefined;
      }
      // Only a server whose command line still names this folder is ours: PIDs get reused.
      const roots: number[] = [];
      if (serverPid !== undefined && serverPid > 0) {
        const cmd = cmdlineOf(serverPid) ?? "";
        if (/prosody|beam/.test(cmd) && cmd.includes(`${dir}/`)) roots.push(serverPid);
      }
      for (const p of instanceProcesses(dir, roots)) trySignal(p.pid, "SIGKILL");
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Another process may be reaping the same folder.
    }
  }
}

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<XmppTestServer> {
  installHooks();
  reaped ??= reapStale();
  await reaped;
  const dir = await mkdtemp(join(os.tmpdir(), `${DIR_PREFIX}${kind}-`));
  await writeFile(join(dir, "owner.pid"), `${process.pid}\n`);
  const inst = new Instance(kind, dir, options);
  live.add(inst);
  try {
    await inst.init();
    const accounts = inst.accountsInSql ? [] : Object.entries(options.accounts ?? {});
    for (const [user, password] of accounts) {
      // One at a time: each ejabberdctl boots an Erlang VM, in parallel they fight for CPU.
      await inst.register(user, password);
    }
    if (accounts.length > 0) await inst.settle(accounts.map(([user]) => user));
    return inst;
  } catch (err) {
    const tail = await inst.logTail(40);
    await inst.stop().catch(() => undefined);
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${kind} did not start: ${msg}\n--- log tail ---\n${tail}`, { cause: err });
  }
}

// ---------------------------------------------------------------- one server instance

class Instance implements XmppTestServer {
  readonly domain = DOMAIN;
  readonly host = HOST;
  readonly pubsubService = PUBSUB;
  readonly configFile: string;
  readonly logFile: string;
  readonly caFile: string;
  private readonly consoleFile: string;
  private certFile = "";
  private keyFile = "";
  private portNumber = 0;
  private distPort = 0;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> = Promise.resolve();
  private serverPid: number | undefined;
  private disposed = false;
  private logOffsets: Array<[string, number]> = [];
  readonly erlangNode: string;
  private readonly cookie: string;
  private readonly distAddress: string;
  private readonly clustered: boolean;
  private readonly opts: Required<Omit<StartOptions, "accounts" | "cluster">>;
  private readonly sqlAccounts: Record<string, string>;

  constructor(
    readonly kind: ServerKind,
    readonly dir: string,
    options: StartOptions,
  ) {
    this.opts = {
      pubsubAdmins: options.pubsubAdmins ?? [],
      pubsubStorage: options.pubsubStorage ?? "persistent",
      maxItemsPerNode: options.maxItemsPerNode ?? 100_000,
      streamManagement: options.streamManagement ?? true,
      logLevel: options.logLevel ?? (kind === "prosody" ? "info" : "warning"),
      startTimeoutMs: options.startTimeoutMs ?? (kind === "prosody" ? 15_000 : 60_000),
      accountStorage: options.accountStorage ?? "internal",
    };
    if (this.opts.accountStorage === "sql" && kind !== "ejabberd") throw new Error('accountStorage "sql" is for ejabberd only');
    this.sqlAccounts = this.opts.accountStorage === "sql" ? (options.accounts ?? {}) : {};
    for (const [user, password] of Object.entries(this.sqlAccounts)) checkAccount(user, password);
    for (const jid of this.opts.pubsubAdmins) checkBareJid(jid);
    const suffix = dir.slice(dir.lastIndexOf("-") + 1).toLowerCase().replace(/[^a-z0-9]/g, "x");
    const { cluster } = options;
    if (cluster !== undefined && (kind !== "ejabberd" || !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(cluster.address))) {
      throw new Error(`cluster is for ejabberd on a loopback address (127.x.y.z), got ${kind} on ${cluster.address}`);
    }
    this.clustered = cluster !== undefined;
    this.distAddress = cluster?.address ?? HOST;
    this.distPort = cluster?.port ?? 0;
    this.erlangNode = `xedge_${suffix}@${cluster?.address ?? "localhost"}`;
    this.cookie = cluster?.cookie ?? `xedge_${suffix}_${process.pid}`;
    this.caFile = join(dir, "pki", "ca.crt");
    this.consoleFile = join(dir, "console.log");
    if (kind === "prosody") {
      this.configFile = join(dir, "prosody.cfg.lua");
      this.logFile = join(dir, "prosody.log");
    } else {
      this.configFile = join(dir, "ejabberd.yml");
      this.logFile = join(dir, "logs", "ejabberd.log");
    }
  }

  get port(): number {
    return this.portNumber;
  }

  /** The `accounts` option is written into SQL storage before launch instead of registered afterwards. */
  get accountsInSql(): boolean {
    return this.opts.accountStorage === "sql";
  }

  get service(): string {
    return `xmpp://${HOST}:${this.portNumber}`;
  }

  get pid(): number | undefined {
    return isAlive(this.serverPid) ? this.serverPid : undefined;
  }

  async init(): Promise<void> {
    const pki = await createTestPki(join(this.dir, "pki"));
    this.certFile = pki.certFile;
    this.keyFile = pki.keyFile;
    // A stranger may grab the port between our probe and the server's bind: retry with new ports.
    for (let attempt = 1; ; attempt++) {
      const [port = 0, distPort = 0] = await freePorts(2);
      this.portNumber = port;
      // A cluster's nodes share the port the caller chose.
      if (!this.clustered) this.distPort = distPort;
      await this.writeConfig();
      try {
        await this.launch();
        return;
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 4) throw err;
        await this.stopProcesses();
      }
    }
  }

  // ---------------- configuration

  private async writeConfig(): Promise<void> {
    if (this.kind === "prosody") await this.writeProsodyConfig();
    else await this.writeEjabberdConfig();
  }

  private async writeProsodyConfig(): Promise<void> {
    const d = this.dir;
    const o = this.opts;
    const level = o.logLevel === "warning" ? "warn" : o.logLevel;
    // "adhoc" as in Prosody's default config: Profanity's /cmd refuses to run unless the server announces commands.
    const modules = ["roster", "saslauth", "tls", "disco", "ping", "pep", "carbons", "posix", "adhoc"];
    if (o.streamManagement) modules.push("smacks");
    const cfg = `-- Generated by test/support/servers.ts for one test process; do not edit.
run_as_root = true -- tests run as root in CI containers; harmless otherwise
pidfile = ${lua(join(d, "prosody.pid"))}
data_path = ${lua(join(d, "data"))}
admin_socket = ${lua(join(d, "prosody.sock"))}
log = { { levels = { min = ${lua(level)} }; to = "file"; filename = ${lua(this.logFile)} } }

interfaces = { ${lua(HOST)} }
local_interfaces = { ${lua(HOST)} }
c2s_ports = { ${this.portNumber} }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }

c2s_require_encryption = true
-- XEP-0323 answers an iq and then sends the data in a message: with Nagle on, the second write waits for the
-- client's delayed ACK (~40 ms). docs/servers.md recommends the same for deployments.
network_settings = { nagle = false }
authentication = "internal_hashed"
-- Fewer SCRAM rounds: the JavaScript client pays for every login.
default_iteration_count = 4096
-- The memory and file archive stores refuse items past this per node.
storage_archive_item_limit = ${o.maxItemsPerNode}

modules_enabled = { ${modules.map(lua).join(", ")} }
modules_disabled = { "s2s", "s2s_auth_certs", "dialback", "http", "bosh", "websocket", "register" }

certificates = ${lua(join(d, "pki"))}
ssl = { certificate = ${lua(this.certFile)}; key = ${lua(this.keyFile)} }

VirtualHost ${lua(DOMAIN)}

Component ${lua(PUBSUB)} "pubsub"
  admins = { ${o.pubsubAdmins.map(lua).join(", ")} }
  pubsub_max_items = ${o.maxItemsPerNode}
${o.pubsubStorage === "memory" ? '  storage = "memory"\n' : `  storage = "sql"\n  sql = { driver = "SQLite3", database = "pubsub.sqlite" }\n`}`;
    await mkdir(join(d, "data"), { recursive: true });
    await writeFile(this.configFile, cfg);
  }

  private async writeEjabberdConfig(): Promise<void> {
    const d = this.dir;
    const o = this.opts;
    await mkdir(join(d, "spool"), { recursive: true });
    await mkdir(join(d, "logs"), { recursive: true });
    // fast_tls wants certificate, key (and chain) in one PEM file.
    const pem = join(d, "pki", "server.pem");
    const [cert, key, ca] = await Promise.all([readFile(this.certFile, "utf8"), readFile(this.keyFile, "utf8"), readFile(this.caFile, "utf8")]);
    await writeFile(pem, cert + key + ca, { mode: 0o600 });
    // ejabberdctl reads this from the config dir; same content as Debian's.
    await writeFile(join(d, "inetrc"), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n{file, resolv, "/etc/resolv.conf"}.\n');
    // ERL_DIST_PORT: the node listens on a fixed port, so no epmd daemon is started or needed.
    // The cookie is passed explicitly so nothing is written to ~ejabberd/.erlang.cookie.
    await writeFile(join(d, "ejabberdctl.cfg"), [
      `ERLANG_NODE=${cfgToken(this.erlangNode)}`,
      `INET_DIST_INTERFACE=${cfgToken(this.distAddress)}`,
      "ERL_EPMD_ADDRESS=127.0.0.1",
      `ERL_DIST_PORT=${this.distPort}`,
      `ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie ${cfgToken(this.cookie)}"`,
      "EJABBERD_BYPASS_WARNINGS=true",
      `EJABBERD_PID_PATH=${cfgToken(join(d, "ejabberd.pid"))}`,
      `CONTRIB_MODULES_PATH=${cfgToken(join(d, "contrib"))}`,
      `CONTRIB_MODULES_CONF_DIR=${cfgToken(join(d, "contrib", "conf"))}`,
      "",
    ].join("\n"));
    const admins = o.pubsubAdmins.length > 0 ? o.pubsubAdmins : ["nobody@localhost"];
    // mnesia logs writes asynchronously, so a SIGKILL loses pubsub items the server had already acknowledged;
    // SQL storage on SQLite commits each publish durably, as a server under a no-loss test must.
    const sql = o.pubsubStorage === "persistent";
    const sqlAuth = o.accountStorage === "sql";
    const loglevel = o.logLevel === "warning" ? "warning" : o.logLevel;
    const yml = `# Generated by test/support/servers.ts for one test process; do not edit.
hosts: [${yaml(DOMAIN)}]
loglevel: ${loglevel}
hide_sensitive_log_data: false
certfiles:
  - ${yaml(pem)}
listen:
  - port: ${this.portNumber}
    ip: ${yaml(HOST)}
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
auth_method: ${sqlAuth ? "sql" : "internal"}
auth_password_format: scram
s2s_access: none
acl:
  admin:
    user: [${admins.map(yaml).join(", ")}]
  local:
    user_regexp: ""
  loopback:
    ip: ["127.0.0.0/8"]
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  announce:
    allow: admin
  configure:
    allow: admin
  pubsub_createnode:
    - allow: admin
    - allow: local
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  # as in ejabberd's default config: Profanity's /cmd needs the server to announce commands
  mod_adhoc: {}
  mod_caps: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
${o.streamManagement ? "  mod_stream_mgmt: {}\n" : ""}  mod_pubsub:
    host: ${yaml(PUBSUB)}
    access_createnode: pubsub_createnode
    plugins: [flat, pep]
    max_items_node: ${o.maxItemsPerNode}
${sql ? "    db_type: sql\n" : ""}${sql || sqlAuth ? `sql_type: sqlite\nsql_database: ${yaml(join(d, "ejabberd.sqlite"))}\n` : ""}`;
    if (sql || sqlAuth) await createEjabberdSqlite(join(d, "ejabberd.sqlite"), this.sqlAccounts);
    await writeFile(this.configFile, yml);
    // Debian's ejabberdctl drops to the "ejabberd" user when run as root: it must own its files.
    if (process.getuid?.() === 0) await chownTree(d, "ejabberd");
  }

  private ejabberdctlArgs(): string[] {
    const d = this.dir;
    return ["--config-dir", d, "--config", this.configFile, "--ctl-config", join(d, "ejabberdctl.cfg"), "--spool", join(d, "spool"), "--logs", join(d, "logs")];
  }

  // ---------------- processes

  private async launch(): Promise<void> {
    // Startup checks look only at what this launch logs, not at earlier attempts.
    this.logOffsets = [this.logFile, this.consoleFile].map((f) => [f, existsSync(f) ? statSync(f).size : 0]);
    const out = openSync(this.consoleFile, "a");
    let child: ChildProcess;
    try {
      const [cmd, args] = this.kind === "prosody"
        ? ["prosody", ["--config", this.configFile, "-F"]]
        : ["/usr/sbin/ejabberdctl", [...this.ejabberdctlArgs(), "foreground"]];
      // As root, ejabberdctl would switch to the ejabberd user with su, whose login (pam_limits) resets the soft
      // limit on open files to 1024: ejabberd then refused connections past about 1,000 (a fleet of 1,000 gateways
      // did not come online). Started as that user, it keeps this process's limit, as LimitNOFILE would under systemd.
      const asUser = this.kind === "ejabberd" && process.getuid?.() === 0 ? { ...systemUser("ejabberd"), env: { ...process.env, HOME: this.dir } } : {};
      // Own process group: a terminal ^C reaches us, not the server, and we stop it in order.
      child = spawn(cmd, args, { cwd: this.dir, detached: true, stdio: ["ignore", out, out], ...asUser });
    } finally {
      closeSync(out);
    }
    this.child = child;
    this.serverPid = undefined;
    // Do not keep the test process alive for a forgotten server; the exit hook kills it.
    child.unref();
    let exited: string | undefined;
    this.childExit = new Promise<void>((resolve) => {
      child.once("exit", (code, sig) => {
        exited = sig ?? `code ${code ?? "?"}`;
        resolve();
      });
      child.once("error", (err) => {
        exited = err.message;
        resolve();
      });
    });
    await this.waitReady(() => exited);
    await writeFile(join(this.dir, "server.pid"), `${this.serverPid ?? ""}\n`);
  }

  private async logSinceLaunch(): Promise<string> {
    let text = "";
    for (const [file, offset] of this.logOffsets) {
      try {
        const fh = await open(file, "r");
        try {
          const { size } = await fh.stat();
          const len = Math.max(0, Math.min(size - offset, 1024 * 1024));
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, offset);
          text += buf.toString("utf8");
        } finally {
          await fh.close();
        }
      } catch {
        // not created yet
      }
    }
    return text;
  }

  private findServerPid(): number | undefined {
    const root = this.child?.pid;
    if (root === undefined) return undefined;
    if (this.kind === "prosody") return root; // prosody is exec'd by its script: the child is the server
    // ejabberdctl -> su -> sh -> beam.smp: the VM is the server. ejabberdctl also runs a short-lived
    // beam to parse INET_DIST_INTERFACE; only the server's names the spool folder.
    const beam = instanceProcesses(this.dir, [root]).find(
      (p) => /\/beam(\.smp)?$/.test(p.cmdline.split(" ")[0] ?? "") && p.cmdline.includes(`${this.dir}/spool`),
    );
    return beam?.pid;
  }

  private async waitReady(exited: () => string | undefined): Promise<void> {
    const deadline = Date.now() + this.opts.startTimeoutMs;
    for (;;) {
      const why = exited();
      if (why !== undefined) {
        if (/eaddrinuse|address already in use/i.test(await this.logSinceLaunch())) throw new PortInUseError(`port ${this.portNumber} taken`);
        throw new Error(`${this.kind} exited during startup (${why})`);
      }
      if (!isAlive(this.serverPid)) this.serverPid = this.findServerPid();
      if (this.serverPid !== undefined && ownsListener(this.serverPid, this.portNumber)) break;
      if (this.kind === "prosody" && (await this.logSinceLaunch()).includes("Failed to open server port")) {
        throw new PortInUseError(`port ${this.portNumber} taken`);
      }
      if (Date.now() > deadline) throw new Error(`${this.kind} not listening on ${HOST}:${this.portNumber} after ${this.opts.startTimeoutMs} ms`);
      await sleep(25);
    }
    if (!(await tcpAccepts(this.portNumber))) throw new Error(`port ${this.portNumber} is listening but refuses connections`);
    if (this.kind === "ejabberd") {
      // The listener opens before every module is up; "status" answers 0 only when ejabberd is started.
      for (;;) {
        try {
          await this.ctl(["status"]);
          break;
        } catch (err) {
          if (exited() !== undefined || Date.now() > deadline) throw err;
          await sleep(200);
        }
      }
    }
  }

  async ctl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    const [cmd, full] = this.kind === "prosody"
      ? ["prosodyctl", ["--config", this.configFile, ...args]]
      : ["/usr/sbin/ejabberdctl", [...this.ejabberdctlArgs(), ...args]];
    try {
      const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        const child = execFile(cmd, full, { cwd: this.dir, timeout: 60_000, encoding: "utf8" }, (err, stdout, stderr) => {
          if (err instanceof Error) reject(Object.assign(err, { stdout, stderr }));
          else resolve({ stdout, stderr });
        });
        child.stdin?.end(input ?? "");
      });
      return { stdout, stderr };
    } catch (err: unknown) {
      const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown };
      const text = [e.stdout, e.stderr].filter((s): s is string => typeof s === "string" && s.trim() !== "").join("\n").trim();
      throw new Error(`${cmd.split("/").pop() ?? cmd} ${args.join(" ")} failed (exit ${String(e.code)}): ${text}`, { cause: err });
    }
  }

  async createAccount(user: string, password: string): Promise<string> {
    const jid = await this.register(user, password);
    await this.settle([user]);
    return jid;
  }

  /** Create the account without waiting for it to be durable (see settle). */
  async register(user: string, password: string): Promise<string> {
    checkAccount(user, password);
    if (this.kind === "prosody") {
      // `register` silently overwrites an existing account; `adduser` refuses it and reads the password from stdin.
      const { stdout } = await this.ctl(["adduser", `${user}@${DOMAIN}`], `${password}\n${password}\n`);
      if (/exists|error|fail|cancel/i.test(stdout)) throw new Error(`prosodyctl adduser ${user}: ${stdout.trim()}`);
    } else {
      await this.ctl(["register", user, DOMAIN, password]);
    }
    return `${user}@${DOMAIN}`;
  }

  /**
   * Make new accounts survive a SIGKILL. ejabberd keeps them in a dets table (mnesia disc_only_copies)
   * whose write cache is flushed only after ~3 s: measured here, accounts registered up to 1.5 s before
   * a SIGKILL were gone after restart. A full-table read flushes that cache, and checks the accounts exist.
   * Prosody's file store writes synchronously.
   */
  async settle(users: string[]): Promise<void> {
    if (this.kind !== "ejabberd") return;
    const { stdout } = await this.ctl(["registered_users", DOMAIN]);
    const listed = new Set(stdout.split("\n").map((l) => l.trim()));
    const missing = users.filter((u) => !listed.has(u));
    if (missing.length > 0) throw new Error(`ejabberd does not list the new accounts ${missing.join(", ")}: ${stdout}`);
  }

  signal(sig: NodeJS.Signals): void {
    const pid = this.serverPid;
    if (pid === undefined || !isAlive(pid)) throw new Error(`${this.kind} is not running`);
    process.kill(pid, sig);
  }

  async restart(): Promise<void> {
    if (this.disposed) throw new Error("restart() after a final stop(): use stop({ keepData: true })");
    await this.stopProcesses();
    await this.launch().catch(async (err: unknown) => {
      const tail = await this.logTail(40);
      await this.stopProcesses();
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${this.kind} did not restart: ${msg}\n--- log tail ---\n${tail}`, { cause: err });
    });
  }

  async stop(options: StopOptions = {}): Promise<void> {
    await this.stopProcesses();
    if (options.keepData || this.disposed) return;
    this.disposed = true;
    live.delete(this);
    if (!KEEP_DIRS) await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Graceful stop of everything this instance runs; SIGKILL after the grace period. */
  private async stopProcesses(): Promise<void> {
    const child = this.child;
    const server = this.serverPid;
    // Snapshot first: once the VM dies its helpers (erl_child_setup, eimp) are re-parented and unrecognisable.
    const procs = instanceProcesses(this.dir, [child?.pid, server]);
    if (procs.length === 0 && (child === undefined || child.exitCode !== null || child.signalCode !== null)) {
      await this.childExit;
      return;
    }
    if (server !== undefined && isAlive(server)) {
      trySignal(server, "SIGTERM");
      trySignal(server, "SIGCONT"); // a SIGSTOPped server must run to handle SIGTERM
    } else if (child?.pid !== undefined) {
      trySignal(child.pid, "SIGTERM");
    }
    const gone = (): boolean => procs.every((p) => !isAlive(p.pid) || cmdlineOf(p.pid) !== p.cmdline);
    const deadline = Date.now() + STOP_GRACE_MS;
    while (!gone() && Date.now() < deadline) await sleep(25);
    if (!gone()) {
      if (child?.pid !== undefined) trySignal(-child.pid, "SIGKILL");
      for (const p of procs) if (isAlive(p.pid) && cmdlineOf(p.pid) === p.cmdline) trySignal(p.pid, "SIGKILL");
      const killDeadline = Date.now() + 5_000;
      while (!gone() && Date.now() < killDeadline) await sleep(25);
    }
    // Late forks (ctl helpers) are caught by the folder name in their command line.
    for (const p of instanceProcesses(this.dir, [])) trySignal(p.pid, "SIGKILL");
    await Promise.race([this.childExit, sleep(5_000)]);
    // The kernel closes a process's listening socket when it dies (zombies hold no sockets), so the port is
    // closed now. Not polling it: a stranger may legitimately listen there and must not delay us.
    this.serverPid = undefined;
  }

  /** For the process "exit" hook: no waiting possible, so SIGKILL everything and remove the folder. */
  killSync(): void {
    const procs = instanceProcesses(this.dir, [this.child?.pid, this.serverPid]);
    if (this.child?.pid !== undefined) trySignal(-this.child.pid, "SIGKILL");
    for (const p of procs) trySignal(p.pid, "SIGKILL");
    if (!KEEP_DIRS) {
      try {
        rmSync(this.dir, { recursive: true, force: true, maxRetries: 2 });
      } catch {
        // The next test process reaps it.
      }
    }
  }

  async logTail(lines = 40): Promise<string> {
    const parts: string[] = [];
    const main = existsSync(this.logFile) ? await tailFile(this.logFile, lines) : "";
    if (main.trim() !== "") parts.push(`==> ${this.logFile} <==\n${main}`);
    let consoleText = await tailFile(this.consoleFile, lines);
    // ejabberd echoes its log on the console: keep only what the log lacks (boot errors, crash reports).
    if (this.kind === "ejabberd" && main.trim() !== "") {
      consoleText = consoleText.split("\n").filter((l) => !/^\d{4}-\d\d-\d\d[ T]\d\d:/.test(l)).join("\n");
    }
    if (consoleText.trim() !== "") parts.push(`==> ${this.consoleFile} <==\n${consoleText}`);
    return parts.join("\n");
  }
}

function systemUser(user: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no system user ${user} (is the ejabberd package installed?)`);
  return { uid: Number(uid), gid: Number(gid) };
}

async function chownTree(root: string, user: string): Promise<void> {
  const { uid, gid } = systemUser(user);
  const walk = async (p: string): Promise<void> => {
    await chown(p, uid, gid);
    if (statSync(p).isDirectory()) for (const n of readdirSync(p)) await walk(join(p, n));
  };
  await walk(root);
}

/**
 * An SQLite database with ejabberd's own schema (shipped by the Debian package) for SQL storage, holding `accounts`
 * as the rows ejabberd's SQL auth reads. Made once: a relaunch on other ports keeps it.
 */
async function createEjabberdSqlite(file: string, accounts: Record<string, string>): Promise<void> {
  if (existsSync(file)) return;
  const schema = await readFile(EJABBERD_SQLITE_SCHEMA, "utf8");
  const rows = await Promise.all(Object.entries(accounts).map(([user, password]) => scramRow(user, password)));
  const db = await Database.open(file);
  try {
    await db.exec(schema);
    await db.exec("BEGIN");
    for (const row of rows) {
      await db.run("INSERT INTO users (username, password, serverkey, salt, iterationcount) VALUES (?, ?, ?, ?, ?)", [
        row.username,
        row.storedKey,
        row.serverKey,
        row.salt,
        row.iterationCount,
      ]);
    }
    await db.exec("COMMIT");
  } finally {
    await db.close();
  }
}

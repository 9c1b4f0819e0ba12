// One private server instance: ports, launch, readiness, stop and restart, the same for Prosody and ejabberd;
// what differs between them comes from prosody.ts or ejabberd.ts (the ServerSoftware seam in common.ts).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, rmSync, statSync } from "node:fs";
import { open, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { cmdlineOf, instanceProcesses, isAlive, ownsListener, trySignal } from "../procs.ts";
import { createTestPki } from "../tls.ts";
import { freePorts } from "../ports.ts";
import { DOMAIN, HOST, type Ctl, type FederationMember, type InstanceSetup, type ResolvedOptions, type ServerKind, type ServerSoftware, type StartOptions, type StopOptions, type XmppTestServer } from "./common.ts";
import { ejabberd } from "./ejabberd.ts";
import { prosody } from "./prosody.ts";
import { untrack } from "./reaper.ts";

const KEEP_DIRS = process.env["XEDGE_KEEP_SERVER_DIRS"] === "1";
const STOP_GRACE_MS = 10_000;

class PortInUseError extends Error {}

// ---------------------------------------------------------------- small helpers

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

function checkFederation(member: FederationMember): void {
  const names = [member.domain, ...Object.keys(member.hosts)];
  for (const name of names) if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(name)) throw new Error(`not a plain domain name: ${JSON.stringify(name)}`);
  const addresses = [member.s2sAddress, member.nameserver, ...Object.values(member.hosts)];
  for (const address of addresses) if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new Error(`federation addresses are on loopback (127.x.y.z), got ${address}`);
}

// ---------------------------------------------------------------- private name resolution (federation)

const PRIVATE_HOSTS = "private-hosts";
const PRIVATE_RESOLV = "private-resolv.conf";

/** The hosts file and resolv.conf that the server sees in its own mount namespace. */
async function writePrivateNames(dir: string, member: FederationMember): Promise<void> {
  const lines = ["127.0.0.1 localhost", ...Object.entries(member.hosts).map(([name, address]) => `${address} ${name}`)];
  await writeFile(join(dir, PRIVATE_HOSTS), `${lines.join("\n")}\n`, { mode: 0o644 });
  await writeFile(join(dir, PRIVATE_RESOLV), `nameserver ${member.nameserver}\noptions timeout:1 attempts:1\n`, { mode: 0o644 });
}

/**
 * Runs the server in a private mount namespace (as root: unshare needs CAP_SYS_ADMIN) where the instance's files
 * are bound over /etc/hosts and /etc/resolv.conf: the machine's own stay untouched. A server that drops root
 * (ejabberd) does so with setpriv after the mounts, not through PAM (whose limits would lower its open files).
 * unshare and sh exec, so the process started is still the one that becomes the server.
 */
function withPrivateNames(dir: string, run: ReturnType<ServerSoftware["foreground"]>): ReturnType<ServerSoftware["foreground"]> {
  const { uid, gid, ...options } = run.options;
  const asUser = uid !== undefined && gid !== undefined ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"] : [];
  const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';
  return {
    command: "unshare",
    args: ["--mount", "--propagation", "private", "sh", "-c", script, "xedge-names", join(dir, PRIVATE_HOSTS), join(dir, PRIVATE_RESOLV), ...asUser, run.command, ...run.args],
    options,
  };
}

// ---------------------------------------------------------------- one server instance

export class Instance implements XmppTestServer {
  readonly domain: string;
  readonly host = HOST;
  readonly pubsubService: string;
  private readonly federation: FederationMember | undefined;
  readonly configFile: string;
  readonly logFile: string;
  readonly caFile: string;
  private readonly consoleFile: string;
  private certFile = "";
  private keyFile = "";
  private portNumber = 0;
  private distPort = 0;
  private httpsPortNumber = 0;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> = Promise.resolve();
  private serverPid: number | undefined;
  private disposed = false;
  private logOffsets: Array<[string, number]> = [];
  readonly erlangNode: string;
  private readonly cookie: string;
  private readonly distAddress: string;
  private readonly clustered: boolean;
  private readonly opts: ResolvedOptions;
  private readonly software: ServerSoftware;
  /** ctl, as the server-specific parts call it. */
  private readonly run: Ctl = (args, input) => this.ctl(args, input);
  private readonly sqlAccounts: Record<string, string>;

  constructor(
    readonly kind: ServerKind,
    readonly dir: string,
    options: StartOptions,
  ) {
    this.software = kind === "prosody" ? prosody : ejabberd;
    this.opts = {
      pubsubAdmins: options.pubsubAdmins ?? [],
      pubsubStorage: options.pubsubStorage ?? "persistent",
      maxItemsPerNode: options.maxItemsPerNode ?? 100_000,
      nodeCreation: options.nodeCreation ?? "local",
      maxPayloadSize: options.maxPayloadSize ?? 0,
      streamManagement: options.streamManagement ?? true,
      fileUpload: options.fileUpload ?? false,
      websocket: options.websocket ?? false,
      httpFiles: options.httpFiles,
      logLevel: options.logLevel ?? this.software.defaultLogLevel,
      startTimeoutMs: options.startTimeoutMs ?? this.software.defaultStartTimeoutMs,
      accountStorage: options.accountStorage ?? "internal",
      plainPasswords: options.plainPasswords ?? false,
    };
    if (this.opts.httpFiles !== undefined && kind !== "prosody") throw new Error("httpFiles is for Prosody only");
    if (this.opts.accountStorage === "sql" && kind !== "ejabberd") throw new Error('accountStorage "sql" is for ejabberd only');
    if (this.opts.plainPasswords && (kind !== "ejabberd" || this.opts.accountStorage === "sql")) throw new Error('plainPasswords is for ejabberd with accountStorage "internal" only');
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
    this.federation = options.federation;
    if (this.federation !== undefined) checkFederation(this.federation);
    this.domain = this.federation?.domain ?? DOMAIN;
    this.pubsubService = `pubsub.${this.domain}`;
    this.caFile = join(dir, "pki", "ca.crt");
    this.consoleFile = join(dir, "console.log");
    ({ configFile: this.configFile, logFile: this.logFile } = this.software.files(dir));
  }

  get port(): number {
    return this.portNumber;
  }

  /** The `accounts` option is written into SQL storage before launch instead of registered afterwards. */
  get accountsInSql(): boolean {
    return this.opts.accountStorage === "sql";
  }

  get httpsPort(): number {
    const o = this.opts;
    return o.fileUpload || o.websocket || o.httpFiles !== undefined ? this.httpsPortNumber : 0;
  }

  get service(): string {
    return `xmpp://${HOST}:${this.portNumber}`;
  }

  get pid(): number | undefined {
    return isAlive(this.serverPid) ? this.serverPid : undefined;
  }

  async init(): Promise<void> {
    const pki = await createTestPki(join(this.dir, "pki"), this.federation && { domain: this.domain, ca: this.federation.ca });
    if (this.federation) await writePrivateNames(this.dir, this.federation);
    this.certFile = pki.certFile;
    this.keyFile = pki.keyFile;
    // A stranger may grab the port between our probe and the server's bind: retry with new ports.
    for (let attempt = 1; ; attempt++) {
      const [port = 0, distPort = 0, httpsPort = 0] = await freePorts(3);
      this.portNumber = port;
      this.httpsPortNumber = httpsPort;
      // A cluster's nodes share the port the caller chose.
      if (!this.clustered) this.distPort = distPort;
      await this.software.writeConfig(this.setup());
      try {
        await this.launch();
        return;
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 4) throw err;
        await this.stopProcesses();
      }
    }
  }

  /** What the server-specific parts read: the instance as it is now (ports change on a retry). */
  private setup(): InstanceSetup {
    return {
      domain: this.domain,
      pubsubService: this.pubsubService,
      federation: this.federation,
      dir: this.dir,
      configFile: this.configFile,
      logFile: this.logFile,
      caFile: this.caFile,
      certFile: this.certFile,
      keyFile: this.keyFile,
      port: this.portNumber,
      httpsPort: this.httpsPortNumber,
      options: this.opts,
      erlangNode: this.erlangNode,
      distAddress: this.distAddress,
      distPort: this.distPort,
      cookie: this.cookie,
      sqlAccounts: this.sqlAccounts,
    };
  }

  // ---------------- processes

  private async launch(): Promise<void> {
    // Startup checks look only at what this launch logs, not at earlier attempts.
    this.logOffsets = [this.logFile, this.consoleFile].map((f) => [f, existsSync(f) ? statSync(f).size : 0]);
    const out = openSync(this.consoleFile, "a");
    let child: ChildProcess;
    try {
      const foreground = this.software.foreground(this.setup());
      const { command, args, options } = this.federation ? withPrivateNames(this.dir, foreground) : foreground;
      // Own process group: a terminal ^C reaches us, not the server, and we stop it in order.
      child = spawn(command, args, { cwd: this.dir, detached: true, stdio: ["ignore", out, out], ...options });
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
    return this.software.serverPid(this.dir, root);
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
      const portTaken = this.software.portTakenMessage;
      if (portTaken !== undefined && (await this.logSinceLaunch()).includes(portTaken)) {
        throw new PortInUseError(`port ${this.portNumber} taken`);
      }
      if (Date.now() > deadline) throw new Error(`${this.kind} not listening on ${HOST}:${this.portNumber} after ${this.opts.startTimeoutMs} ms`);
      await sleep(25);
    }
    if (!(await tcpAccepts(this.portNumber))) throw new Error(`port ${this.portNumber} is listening but refuses connections`);
    await this.software.untilStarted?.(this.run, () => exited() !== undefined || Date.now() > deadline);
  }

  async ctl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    const [cmd, full] = this.software.ctlCommand(this.setup(), args);
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
    await this.software.register(this.run, this.domain, user, password);
    return `${user}@${this.domain}`;
  }

  /** Make new accounts survive a SIGKILL (see each server's settle). */
  async settle(users: string[]): Promise<void> {
    await this.software.settle(this.run, this.domain, users);
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
    untrack(this);
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
    if (this.software.withoutLogEcho && main.trim() !== "") consoleText = this.software.withoutLogEcho(consoleText);
    if (consoleText.trim() !== "") parts.push(`==> ${this.consoleFile} <==\n${consoleText}`);
    return parts.join("\n");
  }
}

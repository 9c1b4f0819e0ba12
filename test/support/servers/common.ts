// What every private test server shares: the contract tests see (XmppTestServer, its options), the names every
// instance uses, and the seam each server (prosody.ts, ejabberd.ts) fills in for the common lifecycle (instance.ts).
import type { SpawnOptions } from "node:child_process";

export type ServerKind = "prosody" | "ejabberd";
export const serverKinds: ServerKind[] = ["prosody", "ejabberd"];

/**
 * One server of a federation on loopback (test/support/federation.ts). Its domain replaces "localhost"; it listens
 * for server-to-server links at its own loopback address, and requires TLS verified against the federation's CA
 * on them. It runs in a private mount namespace whose /etc/hosts and /etc/resolv.conf name the other servers:
 * ejabberd resolves through the hosts file (getaddrinfo), Prosody 0.12 without lua-unbound through its own DNS
 * client, which reads only the nameservers of resolv.conf (never /etc/hosts): the federation's DNS responder.
 */
export interface FederationMember {
  domain: string;
  s2sAddress: string;
  /** Every server of the federation listens for s2s on, and connects to, this one port (5269 when it is free). */
  s2sPort: number;
  ca: { caFile: string; caKeyFile: string };
  /** Name -> loopback address, for the private hosts file. */
  hosts: Record<string, string>;
  /** The address of the federation's DNS responder (port 53), for the private resolv.conf. */
  nameserver: string;
}

export interface StartOptions {
  /** Accounts created before the function returns: user -> password (host is "localhost", or the federation domain). */
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
  /**
   * Who may create pubsub nodes on the component: "local" (default: every account of the host) or "admins" (only
   * pubsubAdmins). ejabberd only (mod_pubsub's access_createnode); Prosody's component lets only its admins create.
   */
  nodeCreation?: "local" | "admins";
  /**
   * ejabberd only: the nodes' max_payload_size in bytes, through mod_pubsub's default_node_config; 0 (default)
   * keeps ejabberd's own (250,000). Prosody has no payload limit of its own.
   */
  maxPayloadSize?: number;
  /** Max items per node the server allows (default 100000). */
  maxItemsPerNode?: number;
  /**
   * XEP-0363 HTTP File Upload on a loopback HTTPS port with the instance's certificate: Prosody's
   * mod_http_file_share, ejabberd's mod_http_upload, at upload.localhost; the URLs name https://localhost:PORT.
   * Default false: the HTTP listener costs start time that other tests need not pay.
   */
  fileUpload?: boolean;
  /**
   * XMPP over WebSocket (RFC 7395: Prosody's mod_websocket, ejabberd's ejabberd_http_ws) at
   * wss://localhost:PORT/xmpp-websocket on the loopback HTTPS port (httpsPort) with the instance's certificate.
   * Default false.
   */
  websocket?: boolean;
  /** Prosody only: a folder served as static files at https://localhost:PORT/ (mod_http_files). */
  httpFiles?: string;
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
   * ejabberd only: keep passwords as they are (`auth_password_format: plain`) instead of SCRAM-SHA-1 keys, so the
   * server offers every SCRAM hash (SCRAM-SHA-256 among them), not SCRAM-SHA-1 alone. Default false; not with
   * accountStorage "sql", whose rows are SCRAM-SHA-1 keys.
   */
  plainPasswords?: boolean;
  /**
   * ejabberd only: Erlang distribution for a cluster on loopback. Every node of a cluster gets the same `port` and
   * `cookie` and its own loopback `address` (127.0.0.1, 127.0.0.2, …), which becomes the host of its node name:
   * without epmd a node reaches another at that node's host on the one shared port. Join with
   * `ctl(["join_cluster", other.erlangNode])`.
   */
  cluster?: { address: string; port: number; cookie: string };
  /** A server of a federation on loopback: its own domain, s2s verified with the federation's CA. */
  federation?: FederationMember;
}

export interface StopOptions {
  /** Keep the folder (config, data, logs) so that restart() can bring the server back later. */
  keepData?: boolean;
}

export interface XmppTestServer {
  readonly kind: ServerKind;
  /** "localhost", or the federation member's domain. */
  readonly domain: string;
  readonly host: "127.0.0.1";
  /** c2s, STARTTLS offered AND required. */
  readonly port: number;
  /** The loopback HTTPS port (file upload, WebSocket, static files); 0 when the server has no HTTP listener. */
  readonly httpsPort: number;
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

export const DOMAIN = "localhost";
export const HOST = "127.0.0.1";
/** The upload service's JID when StartOptions.fileUpload is on. */
export const UPLOAD = "upload.localhost";

/** The options with their defaults filled in; accounts, cluster, federation and httpFiles are handled apart. */
export type ResolvedOptions = Required<Omit<StartOptions, "accounts" | "cluster" | "federation" | "httpFiles">> & Pick<StartOptions, "httpFiles">;

/** One instance as the server-specific parts see it when they write its config or run its tools. */
export interface InstanceSetup {
  /** "localhost", or the federation member's domain. */
  readonly domain: string;
  readonly pubsubService: string;
  readonly federation: FederationMember | undefined;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** c2s port. */
  readonly port: number;
  /** The HTTPS port of the upload service, the WebSocket and the static files (StartOptions.fileUpload, websocket, httpFiles). */
  readonly httpsPort: number;
  readonly options: ResolvedOptions;
  readonly erlangNode: string;
  readonly distAddress: string;
  readonly distPort: number;
  readonly cookie: string;
  /** Accounts written into SQL storage before launch (ejabberd's accountStorage "sql"). */
  readonly sqlAccounts: Record<string, string>;
}

/** Runs the server's admin tool (prosodyctl, ejabberdctl) against the instance; rejects on a non-zero exit. */
export type Ctl = (args: string[], input?: string) => Promise<{ stdout: string; stderr: string }>;

/** What differs between Prosody and ejabberd; everything else about an instance is common (instance.ts). */
export interface ServerSoftware {
  readonly defaultLogLevel: ResolvedOptions["logLevel"];
  readonly defaultStartTimeoutMs: number;
  /** The config file and the main log inside the instance folder. */
  files(dir: string): { configFile: string; logFile: string };
  writeConfig(setup: InstanceSetup): Promise<void>;
  /** The server run in the foreground, and what its process needs besides. */
  foreground(setup: InstanceSetup): { command: string; args: string[]; options: Pick<SpawnOptions, "uid" | "gid" | "env"> };
  /** The admin tool's command line for `args`. */
  ctlCommand(setup: InstanceSetup, args: string[]): [command: string, args: string[]];
  /** The server's own process among those started from `root`; undefined until it runs. */
  serverPid(dir: string, root: number): number | undefined;
  /** A log line that says the port was taken while the server keeps running; undefined if it exits instead. */
  readonly portTakenMessage?: string;
  /** After the port accepts: waits until the server is fully started, or throws once `givingUp()`. */
  untilStarted?(ctl: Ctl, givingUp: () => boolean): Promise<void>;
  /** Creates an account; rejects if it exists. */
  register(ctl: Ctl, domain: string, user: string, password: string): Promise<void>;
  /** Makes new accounts survive a SIGKILL, and checks they exist. */
  settle(ctl: Ctl, domain: string, users: string[]): Promise<void>;
  /** The console's lines minus the ones that only echo the main log. */
  withoutLogEcho?(consoleText: string): string;
}

// Runs the real agent (the esbuild bundle, as shipped) as a child process against a test server, with JSON
// logs the tests can wait on.
import { spawn, type ChildProcess } from "node:child_process";
import { Arrivals } from "./arrivals.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { XmppTestServer } from "./servers.ts";
import type { Role } from "../../agent/authz.ts";

export const BUNDLE = resolve(import.meta.dirname, "../../dist/xedge.mjs");

export interface LogLine {
  time: string;
  level: string;
  message: string;
  [field: string]: unknown;
}

export interface AgentConfigOptions {
  user?: string;
  password?: string;
  /** Omit the caFile key (the agent then trusts only the system's CAs). */
  withoutCaFile?: boolean;
  caFile?: string;
  /** Where the agent connects instead of the server itself (e.g. a fault proxy in front of it). */
  service?: string;
  /** Extra YAML lines under `xmpp:` (indented by the caller with two spaces). */
  xmppExtra?: string;
  /** Lines under `sensors:`. */
  sensors?: string;
  /** A whole `sensors:` (and `actuators:`) block, used instead of `sensors`. */
  devices?: string;
  pubsubService?: string | null;
  /** pubsub.nodePrefix; default xedge/gw1. */
  nodePrefix?: string;
  commitInterval?: string;
  /** Extra top-level YAML lines (e.g. `remoteConfig: { rollbackAfter: 5s }`). */
  extra?: string;
  /** The `operators:` list. */
  operators?: { jid: string; role: Role }[];
  /** The log level; debug by default, so tests can wait for what the agent does. Benchmarks run at info, as installed. */
  logLevel?: "debug" | "info";
}

/** Writes a config for `server` into a fresh folder; returns its path and the folder. */
export function writeAgentConfig(server: Pick<XmppTestServer, "domain" | "service" | "caFile" | "pubsubService">, options: AgentConfigOptions = {}, dir = mkdtempSync(join(tmpdir(), "xedge-agent-"))) {
  const pubsub = options.pubsubService === null ? "" : `  service: ${options.pubsubService ?? server.pubsubService}\n`;
  const text = [
    "hardware: sim",
    "xmpp:",
    `  jid: ${options.user ?? "gw1"}@${server.domain}`,
    `  password: ${options.password ?? "gw1-secret"}`,
    `  service: "${options.service ?? server.service}"`,
    options.withoutCaFile ? "" : `  caFile: ${options.caFile ?? server.caFile}`,
    options.xmppExtra ?? "",
    "pubsub:",
    `${pubsub}  nodePrefix: ${options.nodePrefix ?? "xedge/gw1"}`,
    "store:",
    `  path: ${join(dir, "xedge.db")}`,
    `  commitInterval: ${options.commitInterval ?? "100ms"}`,
    `log: { level: ${options.logLevel ?? "debug"}, json: true }`,
    `status: { socket: ${join(dir, "status.sock")} }`,
    options.extra ?? "",
    options.operators ? `operators:\n${options.operators.map((operator) => `  - { jid: "${operator.jid}", role: ${operator.role} }`).join("\n")}` : "",
    options.devices ?? `sensors:\n${options.sensors ?? "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }"}`,
    "",
  ]
    .filter((line) => line !== "")
    .join("\n");
  const file = join(dir, "xedge.yaml");
  writeFileSync(file, `${text}\n`);
  return { file, dir };
}

/** Agents still running when the test process exits are killed with it. */
const running = new Set<ChildProcess>();
process.once("exit", () => running.forEach((child) => child.kill("SIGKILL")));

export class AgentProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  private readonly arrivals = new Arrivals();
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffer = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        this.stderr.push(line);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line (e.g. a crash trace): kept in stderr
        }
        this.arrivals.notify();
      }
    });
    this.exited = new Promise((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  }

  /** `command` starts the agent: by default this Node running the bundle; a release's bin/xedge, say. */
  static start(configFile: string, env: NodeJS.ProcessEnv = {}, command: [string, ...string[]] = [process.execPath, BUNDLE]): AgentProcess {
    const [program, ...programArgs] = command;
    const child = spawn(program, [...programArgs, "run", "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    const agent = new AgentProcess(child);
    running.add(child);
    child.once("exit", () => running.delete(child));
    return agent;
  }

  /** Resolves with the first log line (from index `from`) matching; rejects after `timeoutMs` with the log tail. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number, from = 0): Promise<LogLine> {
    return this.arrivals.until(
      () => this.logs.slice(from).find(predicate),
      timeoutMs,
      () => `no matching log line within ${timeoutMs} ms; last lines:\n${this.stderr.slice(-15).join("\n")}`,
    );
  }

  waitForMessage(message: string, timeoutMs: number, from = 0): Promise<LogLine> {
    return this.waitForLog((line) => line.message === message, timeoutMs, from);
  }

  /** Sends `signal` and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs the bundle with `args` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}

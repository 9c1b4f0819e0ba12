// A loaded gateway for the memory benchmark and the soak: the agent bundle on 20 simulated BME280s sampled at
// 1 Hz without a deadband (20 readings/s, every one published), and what /proc says about a process.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Database } from "../agent/sqlite.ts";
import type { XmppTestServer } from "../test/support/servers.ts";
import { AgentProcess, BUNDLE, writeAgentConfig } from "../test/support/agent.ts";

export const GATEWAY_SENSORS = 20;

/** Sensors g1…g20 as the config names them: two BME280s per I2C bus, each sampled every second. */
function sensorsYaml(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `  - { id: g${i + 1}, driver: bme280, i2c: { bus: ${Math.floor(i / 2) + 1}, address: ${i % 2 ? "0x77" : "0x76"} }, interval: 1s }`,
  ).join("\n");
}

/**
 * Where the processes under measurement run: the node command (an emulator and its arguments may come first) and
 * the agent bundle it runs. The host's node and dist/xedge.mjs by default; bench/arm64.ts runs an arm64 release
 * under qemu-user.
 */
export interface Runtime {
  /** Put in the figures' names, e.g. "emulated arm64"; empty for the host. */
  label: string;
  node: [string, ...string[]];
  bundle: string;
}

export const HOST: Runtime = { label: "", node: [process.execPath], bundle: BUNDLE };

export interface GatewayOptions {
  /** Reaches the agent's process, e.g. NODE_OPTIONS for the soak's probe. */
  env?: NodeJS.ProcessEnv;
  /** Fresh nodes per run: Prosody's memory store breaks a node when an item id is published to it again. */
  nodePrefix?: string;
  /** Its account (password `<user>-secret`): two gateways side by side need two. Default gw1. */
  user?: string;
  /** Node's own command-line flags before the bundle, e.g. V8 flags that NODE_OPTIONS refuses (`--max-lazy`). */
  nodeArgs?: string[];
  /** YAML lines appended to the config, e.g. a `metrics:` block. */
  configExtra?: string;
  /** The node and bundle to run; the host's by default. */
  runtime?: Runtime;
}

/**
 * Starts the bundle as an operator would run it (info-level JSON logs, the default 1 s commit interval) and waits
 * until it is online. `spawnedAt` is performance.now() just before the spawn.
 */
export async function startGateway(server: XmppTestServer, options: GatewayOptions = {}): Promise<{ agent: AgentProcess; dir: string; spawnedAt: number }> {
  const user = options.user ?? "gw1";
  const { file, dir } = writeAgentConfig(server, { user, password: `${user}-secret`, sensors: sensorsYaml(GATEWAY_SENSORS), commitInterval: "1s" });
  const config = readFileSync(file, "utf8").replace("level: debug", "level: info") + (options.configExtra ?? "");
  writeFileSync(file, options.nodePrefix ? config.replace("nodePrefix: xedge/gw1", `nodePrefix: ${options.nodePrefix}`) : config);
  const spawnedAt = performance.now();
  const { node, bundle } = options.runtime ?? HOST;
  const agent = AgentProcess.start(file, options.env, [...node, ...(options.nodeArgs ?? []), bundle]);
  // Generous: under emulation the bundle's start-up and the TLS login take seconds.
  await agent.waitForMessage("online", 180_000);
  return { agent, dir, spawnedAt };
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

const MB = 1e6;

export interface ProcSample {
  /** Resident set size now and its peak since the process started (VmRSS, VmHWM), in MB (10^6 bytes). */
  rssMB: number;
  peakRssMB: number;
  /** User + system CPU time the process has used since it started, in seconds. */
  cpuS: number;
}

/** One reading of /proc/PID/status and /proc/PID/stat. */
export function procSample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kiB = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match?.[1]) throw new Error(`no ${key} in /proc/${pid}/status`);
    return (Number(match[1]) * 1024) / MB;
  };
  // The command name in field 2 may contain spaces and parentheses: count fields after its closing ")".
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const afterName = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 (utime) and 15 (stime) of proc(5); afterName starts at field 3.
  const ticks = Number(afterName[11]) + Number(afterName[12]);
  return { rssMB: kiB("VmRSS"), peakRssMB: kiB("VmHWM"), cpuS: ticks / CLOCK_TICKS_PER_SECOND };
}

/**
 * Where a process's resident memory is, in MB, from /proc/PID/smaps: pages of files (the node binary, libraries,
 * addons), anonymous pages that are executable (JIT code; under qemu-user mostly the emulator's translated code)
 * and the other anonymous pages (heaps, stacks).
 */
export interface RssSplit {
  fileMB: number;
  executableAnonymousMB: number;
  otherAnonymousMB: number;
}

export function rssSplit(pid: number): RssSplit {
  const split: RssSplit = { fileMB: 0, executableAnonymousMB: 0, otherAnonymousMB: 0 };
  let kind: keyof RssSplit = "otherAnonymousMB";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    // A mapping's header: address range, permissions, offset, device, inode, then the path if any.
    const header = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const [, permissions = "", inode = "0", path = ""] = header;
      kind = inode !== "0" ? "fileMB" : permissions.includes("x") && !path.startsWith("[") ? "executableAnonymousMB" : "otherAnonymousMB";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)?.[1];
    if (rss) split[kind] += (Number(rss) * 1024) / MB;
  }
  return split;
}

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  const covariance = points.reduce((sum, p) => sum + (p.x - meanX) * (p.y - meanY), 0);
  const variance = points.reduce((sum, p) => sum + (p.x - meanX) ** 2, 0);
  return covariance / variance;
}

/** A `--minutes` value: a positive number, or a one-line error and exit 2. */
export function minutesValue(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes <= 0) {
    process.stderr.write(`--minutes: expected a positive number, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return minutes;
}

/** What an agent's store holds, read beside the running agent: its readings, those published, those still unsent. */
export async function storeCounts(dbPath: string): Promise<{ readings: number; published: number; unsent: number }> {
  const db = await Database.open(dbPath, { readonly: true });
  try {
    const row = await db.get<{ readings: number; published: number; unsent: number }>(
      "SELECT COUNT(*) AS readings, SUM(published_at IS NOT NULL) AS published, SUM(published_at IS NULL) AS unsent FROM readings",
    );
    return { readings: row?.readings ?? 0, published: row?.published ?? 0, unsent: row?.unsent ?? 0 };
  } finally {
    await db.close();
  }
}

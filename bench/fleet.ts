// `npm run fleet -- --gateways 1000 [--minutes M]`: N simulated gateways (test/support/fleet.ts) in this one process
// against a private ejabberd. Prints and saves (bench/results/fleet-<timestamp>.json): how many came online and how
// long that took, memory per gateway (this process's growth over its own size before the first gateway, divided
// by N), CPU, the rate at which ejabberd accepted publishes, ejabberd's own RSS and CPU, and whether every
// gateway's every committed reading is on its node exactly once at the end.
// Stores go to /dev/shm: on a Pi each gateway has its own SD card, here a thousand would share one disk's fsyncs.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { startServer } from "../test/support/servers.ts";
import { Observer } from "../test/support/observer.ts";
import { checkNodes, Fleet, fleetAccounts, MAX_SENSORS_PER_GATEWAY, nodeProblems } from "../test/support/fleet.ts";
import { parseDuration } from "../lib/duration.ts";
import { machine } from "./figures.ts";

const READER = { user: "ops", password: "ops-secret" };
const SAMPLE_EVERY_MS = 5_000;
const WARMUP_MS = 15_000;
const CLOCK_TICKS_PER_S = 100;
/** The event-loop monitor's timer period: each sample is this period plus how late the loop ran it. */
const LOOP_RESOLUTION_MS = 10;

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run fleet -- [--gateways N] [--minutes M] [--sensors 1|2] [--interval 5s] [--logins 8] [--store-dir DIR]\n`);
  process.exit(2);
}

function positiveInteger(name: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) usage(`--${name}: expected an integer 1..${max}, got ${text}`);
  return value;
}

const { values: args } = parseArgs({
  options: {
    gateways: { type: "string", default: "1000" },
    minutes: { type: "string", default: "2" },
    sensors: { type: "string", default: "2" },
    interval: { type: "string", default: "5s" },
    logins: { type: "string", default: "8" },
    "store-dir": { type: "string", default: existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir() },
  },
  strict: true,
});
const gateways = positiveInteger("gateways", args.gateways, 20_000);
const minutes = Number(args.minutes);
if (!(minutes > 0)) usage(`--minutes: expected a positive number, got ${args.minutes}`);
const sensorsPerGateway = positiveInteger("sensors", args.sensors, MAX_SENSORS_PER_GATEWAY);
const intervalMs = parseDuration(args.interval);
if (intervalMs === undefined || intervalMs <= 0) usage(`--interval: expected a duration such as 5s, got ${args.interval}`);
const loginConcurrency = positiveInteger("logins", args.logins, 64);

const collectGarbage = (globalThis as { gc?: () => void }).gc;
if (!collectGarbage) usage("run with node --expose-gc (npm run fleet does), so heap figures are not garbage waiting for collection");

const progress = (line: string) => process.stderr.write(`  ${line}\n`);
const mb = (bytes: number) => bytes / 2 ** 20;

/** RSS and CPU seconds of a process, from /proc. */
function procStats(pid: number): { rssBytes: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  // Fields after the command name (which may hold spaces, hence from the last ')'): utime and stime are 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { rssBytes: rssKb * 1024, cpuS: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S };
}

function settledMemory(): NodeJS.MemoryUsage {
  collectGarbage?.();
  return process.memoryUsage();
}

/** An empty Node process, for scale: what any Node program costs before it does anything. */
function emptyNodeRss(): number {
  return Number(execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.memoryUsage().rss))"], { encoding: "utf8" }));
}

/** The machine, with the open-files limit that bounds how many gateways one process can hold. */
function fleetMachine() {
  return { ...machine(), openFilesLimit: execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim() };
}

const startedAt = new Date();
const loadAverageAtStart = os.loadavg();
const host = fleetMachine();
const offeredPerS = (gateways * sensorsPerGateway * 1000) / intervalMs;
process.stderr.write(
  `xedge fleet: ${gateways} gateways × ${sensorsPerGateway} sensors every ${args.interval} (${offeredPerS.toFixed(0)} readings/s offered), ` +
    `${minutes} min measured, on ${host.cpu}, ${host.cores} cores, load ${os.loadavg()[0]?.toFixed(2)}\n`,
);

const server = await startServer("ejabberd", {
  accounts: { ...fleetAccounts(gateways), [READER.user]: READER.password },
  accountStorage: "sql",
  // mnesia: SQL storage on SQLite would make every publish wait for an fsync on this machine's one disk.
  pubsubStorage: "memory",
  streamManagement: false,
});
const serverPid = server.pid;
if (serverPid === undefined) throw new Error("ejabberd has no PID");
const storeDir = mkdtempSync(join(args["store-dir"], "xedge-fleet-"));
const warnings = new Map<string, number>();
let fleet: Fleet | undefined;
let reader: Observer | undefined;
try {
  const emptyRss = emptyNodeRss();
  const baseline = settledMemory();
  const serverAtStart = procStats(serverPid);
  progress(`baseline: this process ${mb(baseline.rss).toFixed(1)} MB RSS, ${mb(baseline.heapUsed).toFixed(1)} MB heap; ejabberd ${mb(serverAtStart.rssBytes).toFixed(1)} MB`);

  const bringUpStart = Date.now();
  let reported = 0;
  fleet = await Fleet.start({
    server,
    gateways,
    sensorsPerGateway,
    interval: args.interval,
    dir: storeDir,
    loginConcurrency,
    onlineTimeoutMs: 120_000,
    // Count warnings by what they say (the gateway prefix and timestamp stripped): a thousand copies say nothing more.
    onLog: (_gateway, entry) => {
      const error = typeof entry.error === "string" ? `: ${entry.error.replace(/gw\d+/g, "gwN")}` : "";
      const message = `${entry.level} ${entry.message}${error}`;
      warnings.set(message, (warnings.get(message) ?? 0) + 1);
    },
    onOnline: (online) => {
      if (online >= reported + Math.max(1, Math.floor(gateways / 10))) {
        reported = online;
        progress(`${online} online after ${((Date.now() - bringUpStart) / 1000).toFixed(1)} s`);
      }
    },
  });
  const bringUpS = (Date.now() - bringUpStart) / 1000;
  progress(`all ${fleet.online} online in ${bringUpS.toFixed(1)} s; warming up ${WARMUP_MS / 1000} s`);
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));

  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loopDelay.enable();
  const windowStart = { at: Date.now(), cpu: process.cpuUsage(), published: fleet.published, server: procStats(serverPid) };
  const samples: { t: number; rssMB: number; serverRssMB: number; online: number }[] = [];
  const windowMs = minutes * 60_000;
  while (Date.now() - windowStart.at < windowMs) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(SAMPLE_EVERY_MS, windowMs - (Date.now() - windowStart.at))));
    const sample = { t: (Date.now() - windowStart.at) / 1000, rssMB: mb(process.memoryUsage().rss), serverRssMB: mb(procStats(serverPid).rssBytes), online: fleet.online };
    samples.push(sample);
    if (samples.length % 6 === 0) progress(`t=${sample.t.toFixed(0)} s: ${sample.online} online, ${fleet.published - windowStart.published} accepted, RSS ${sample.rssMB.toFixed(0)} MB, ejabberd ${sample.serverRssMB.toFixed(0)} MB`);
  }
  const windowS = (Date.now() - windowStart.at) / 1000;
  const loadAverageAtEndOfWindow = os.loadavg();
  const cpu = process.cpuUsage(windowStart.cpu);
  const publishedInWindow = fleet.published - windowStart.published;
  const serverAtEnd = procStats(serverPid);
  loopDelay.disable();
  const onlineAtEnd = fleet.online;
  const memory = settledMemory();

  progress("stopping the sensors, draining every outbox, reading every node back");
  const drainStart = Date.now();
  await fleet.stopSampling();
  await fleet.drained(300_000);
  const drainS = (Date.now() - drainStart) / 1000;
  reader = await Observer.connect(server, READER.user, READER.password);
  const checks = await checkNodes(fleet, reader, server.pubsubService);
  const problems = nodeProblems(checks);
  const stopStart = Date.now();
  await fleet.stop();
  const stopS = (Date.now() - stopStart) / 1000;
  const sessionsLeft = (await server.ctl(["connected_users"])).stdout.split("\n").filter((line) => line.startsWith("gw")).length;

  const result = {
    startedAt: startedAt.toISOString(),
    machine: host,
    loadAverageAtStart,
    parameters: { gateways, sensorsPerGateway, interval: args.interval, minutes, loginConcurrency, offeredReadingsPerS: offeredPerS, storeDir: args["store-dir"] },
    bringUp: { online: gateways, seconds: bringUpS, perGatewayMs: (bringUpS * 1000) / gateways },
    window: { seconds: windowS, onlineAtEnd, loadAverageAtEnd: loadAverageAtEndOfWindow },
    agentProcess: {
      emptyNodeRssMB: mb(emptyRss),
      baselineRssMB: mb(baseline.rss),
      baselineHeapUsedMB: mb(baseline.heapUsed),
      rssMB: mb(memory.rss),
      heapUsedMB: mb(memory.heapUsed),
      peakRssMB: Math.max(...samples.map((s) => s.rssMB)),
      rssPerGatewayKB: (memory.rss - baseline.rss) / 1024 / gateways,
      heapUsedPerGatewayKB: (memory.heapUsed - baseline.heapUsed) / 1024 / gateways,
      cpuPercentOfCore: ((cpu.user + cpu.system) / 1e6 / windowS) * 100,
      cpuPercentOfCorePerGateway: ((cpu.user + cpu.system) / 1e6 / windowS) * 100 / gateways,
      eventLoopLagMs: {
        p50: loopDelay.percentile(50) / 1e6 - LOOP_RESOLUTION_MS,
        p99: loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS,
        max: loopDelay.max / 1e6 - LOOP_RESOLUTION_MS,
      },
    },
    server: {
      acceptedPerS: publishedInWindow / windowS,
      acceptedInWindow: publishedInWindow,
      rssMBAtStart: mb(serverAtStart.rssBytes),
      rssMB: mb(serverAtEnd.rssBytes),
      rssPerGatewayKB: (serverAtEnd.rssBytes - serverAtStart.rssBytes) / 1024 / gateways,
      cpuPercentOfCore: ((serverAtEnd.cpuS - windowStart.server.cpuS) / windowS) * 100,
    },
    end: {
      drainSeconds: drainS,
      nodes: checks.length,
      itemsVerified: checks.reduce((sum, check) => sum + check.items, 0),
      nodesWithProblems: problems.length,
      problems: problems.slice(0, 20),
      stopSeconds: stopS,
      sessionsLeftOnServer: sessionsLeft,
    },
    warnings: Object.fromEntries([...warnings].sort((a, b) => b[1] - a[1])),
    samples,
  };

  const a = result.agentProcess;
  const s = result.server;
  console.log(`
xedge fleet, ${result.startedAt}: ${gateways} gateways × ${sensorsPerGateway} sensors every ${args.interval} against ejabberd, ${minutes} min
  online:            ${onlineAtEnd}/${gateways}, all online in ${bringUpS.toFixed(1)} s (${result.bringUp.perGatewayMs.toFixed(0)} ms per gateway, ${loginConcurrency} logins at once)
  memory per gateway: ${a.rssPerGatewayKB.toFixed(0)} KB RSS, ${a.heapUsedPerGatewayKB.toFixed(0)} KB heap (process ${a.rssMB.toFixed(0)} MB RSS over a ${a.baselineRssMB.toFixed(0)} MB baseline; an empty node is ${a.emptyNodeRssMB.toFixed(0)} MB)
  agent CPU:         ${a.cpuPercentOfCore.toFixed(1)} % of a core (${a.cpuPercentOfCorePerGateway.toFixed(3)} % per gateway); event loop lag p50 ${a.eventLoopLagMs.p50.toFixed(1)} ms, p99 ${a.eventLoopLagMs.p99.toFixed(1)} ms
  machine load:      ${loadAverageAtStart[0]?.toFixed(2)} before, ${loadAverageAtEndOfWindow[0]?.toFixed(2)} at the end of the window (1-minute load average, 2 cores shared)
  server accepted:   ${s.acceptedPerS.toFixed(0)} items/s (${offeredPerS.toFixed(0)} offered); ejabberd ${s.rssMB.toFixed(0)} MB RSS (${s.rssMBAtStart.toFixed(0)} MB idle, ${s.rssPerGatewayKB.toFixed(0)} KB per gateway), ${s.cpuPercentOfCore.toFixed(0)} % of a core
  at the end:        ${result.end.itemsVerified} items on ${result.end.nodes} nodes, ${result.end.nodesWithProblems} nodes with missing, duplicate or wrong items; drained in ${drainS.toFixed(1)} s, stopped in ${stopS.toFixed(1)} s, ${sessionsLeft} gateway sessions left
  warnings:          ${warnings.size === 0 ? "none" : [...warnings].map(([message, count]) => `${count}× ${message}`).join("\n                     ")}`);
  const resultsDir = join(import.meta.dirname, "results");
  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, `fleet-${startedAt.toISOString().replaceAll(":", "-")}.json`);
  writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nsaved ${resultFile}`);
  if (problems.length > 0 || onlineAtEnd < gateways) process.exitCode = 1;
} finally {
  await reader?.close();
  await fleet?.stop();
  await server.stop();
  rmSync(storeDir, { recursive: true, force: true });
}

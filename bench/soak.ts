// `npm run soak -- --minutes N` (default 60): the agent bundle, run as the systemd unit runs it (its node flags and
// environment), on 20 simulated BME280s at 1 Hz against a private Prosody for N minutes. Prints the resident
// memory's slope (least squares over the samples after a warm-up, in MB per hour) and the heap's (heapUsed after a
// forced garbage collection, about ten times over the window: its least-squares slope, and end minus start), and
// checks that the agent kept publishing. Saved to bench/results/soak-<timestamp>.json. Information, not a test:
// nothing fails on growth, the numbers are printed for a person to judge.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startServer } from "../test/support/servers.ts";
import { GATEWAY_SENSORS, minutesValue, procSample, slope, startGateway, storeCounts, type ProcSample } from "./gateway.ts";
import type { AgentProcess } from "../test/support/agent.ts";
import { asInstalled } from "./memory.ts";

const HEAP_PROBE = resolve(import.meta.dirname, "heap-probe.mjs");
/** Below these an hour counts as "no growth": a few pages of allocator noise, not a leak. */
const NO_GROWTH = { rssMBPerHour: 1, heapMBPerHour: 0.5 };

const flags = (() => {
  try {
    return parseArgs({ options: { minutes: { type: "string" } } }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\nusage: npm run soak -- [--minutes N]\n`);
    process.exit(2);
  }
})();
const minutes = minutesValue(flags.minutes, 60);
const durationMs = minutes * 60_000;
// Start-up allocations (module code, the first pages of SQLite's cache, TLS) settle in the first minutes.
const warmupMs = Math.min(5 * 60_000, durationMs / 4);
const sampleEveryMs = Math.min(10_000, Math.max(1000, durationMs / 120));
const heapEveryMs = Math.max(60_000, (durationMs - warmupMs) / 10);

const say = (line: string) => process.stderr.write(`${line}\n`);

interface HeapProbe {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

/** Asks the probe preloaded into the agent for heap figures after a full garbage collection. */
async function probeHeap(agent: AgentProcess): Promise<HeapProbe> {
  const from = agent.logs.length;
  agent.child.kill("SIGUSR2");
  const line = await agent.waitForMessage("heap probe", 10_000, from);
  return line as unknown as HeapProbe;
}

const startedAt = new Date();
say(`soak: ${minutes} min, ${GATEWAY_SENSORS} sensors × 1 Hz, warm-up ${(warmupMs / 60_000).toFixed(1)} min, a sample every ${(sampleEveryMs / 1000).toFixed(0)} s`);
const server = await startServer("prosody", { accounts: { gw1: "gw1-secret" }, pubsubAdmins: ["gw1@localhost"] });
// As installed: the unit's node flags and environment, plus the probe.
const { nodeFlags, environment } = asInstalled();
const { agent, dir } = await startGateway(server, {
  env: { ...environment, NODE_OPTIONS: `${environment["NODE_OPTIONS"] ?? ""} --import ${HEAP_PROBE}`.trim() },
  nodeArgs: nodeFlags,
});
const pid = agent.child.pid;
if (pid === undefined) throw new Error("the agent has no pid");
try {
  const online = Date.now();
  await sleep(warmupMs);
  const measuredFrom = Date.now();
  const heapStart = await probeHeap(agent);
  const heaps = [{ atS: 0, heapUsedMB: heapStart.heapUsed / 1e6 }];
  const windowStart = procSample(pid);
  const samples: (ProcSample & { atS: number })[] = [];
  while (Date.now() - online < durationMs) {
    if (agent.child.exitCode !== null) throw new Error(`the agent exited with ${agent.child.exitCode}: ${agent.stderr.slice(-10).join("\n")}`);
    if (Date.now() - measuredFrom >= heaps.length * heapEveryMs) {
      const atS = (Date.now() - measuredFrom) / 1000;
      heaps.push({ atS, heapUsedMB: (await probeHeap(agent)).heapUsed / 1e6 });
    }
    samples.push({ ...procSample(pid), atS: (Date.now() - measuredFrom) / 1000 });
    const last = samples.at(-1);
    if (samples.length % 30 === 0 && last) say(`  ${((Date.now() - online) / 60_000).toFixed(1)} min: RSS ${last.rssMB.toFixed(1)} MB`);
    await sleep(Math.min(sampleEveryMs, Math.max(0, durationMs - (Date.now() - online))));
  }
  const windowEnd = procSample(pid);
  const heapEnd = await probeHeap(agent);
  heaps.push({ atS: (Date.now() - measuredFrom) / 1000, heapUsedMB: heapEnd.heapUsed / 1e6 });
  const { readings, unsent } = await storeCounts(join(dir, "xedge.db"));
  const windowS = (Date.now() - measuredFrom) / 1000;

  const rssSlope = slope(samples.map((s) => ({ x: s.atS / 3600, y: s.rssMB })));
  const heapGrowthMB = (heapEnd.heapUsed - heapStart.heapUsed) / 1e6;
  const heapSlope = slope(heaps.map((h) => ({ x: h.atS / 3600, y: h.heapUsedMB })));
  const rss = samples.map((s) => s.rssMB);
  const cpuPercent = (100 * (windowEnd.cpuS - windowStart.cpuS)) / windowS;
  const errors = agent.logs.filter((line) => line.level === "error" || line.level === "warn").map((line) => `${line.level}: ${line.message}`);
  const noGrowth = rssSlope <= NO_GROWTH.rssMBPerHour && heapSlope <= NO_GROWTH.heapMBPerHour;

  console.log(`\nxedge soak, ${startedAt.toISOString()}: ${minutes} min, ${GATEWAY_SENSORS} sensors × 1 Hz on Prosody`);
  console.log(`RSS slope        ${rssSlope.toFixed(2)} MB/hour (least squares, ${samples.length} samples over ${(windowS / 60).toFixed(1)} min after a ${(warmupMs / 60_000).toFixed(1)} min warm-up)`);
  console.log(`RSS              first ${rss[0]?.toFixed(1)}, last ${rss.at(-1)?.toFixed(1)}, min ${Math.min(...rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)} MB; peak since start (VmHWM) ${windowEnd.peakRssMB.toFixed(1)} MB`);
  console.log(`heap slope       ${heapSlope.toFixed(2)} MB/hour (least squares, heapUsed after a forced GC, ${heaps.length} times)`);
  console.log(`heap after GC    ${(heapStart.heapUsed / 1e6).toFixed(2)} MB at the start, ${(heapEnd.heapUsed / 1e6).toFixed(2)} MB at the end: ${heapGrowthMB >= 0 ? "+" : ""}${heapGrowthMB.toFixed(2)} MB; all: ${heaps.map((h) => h.heapUsedMB.toFixed(2)).join(" ")}`);
  console.log(`CPU              ${cpuPercent.toFixed(2)} % of one core over the window`);
  console.log(`readings         ${readings} stored, ${unsent} not yet published at the end`);
  console.log(`warnings/errors  ${errors.length === 0 ? "none" : errors.slice(0, 5).join("; ")}`);
  console.log(`verdict          ${noGrowth ? "no growth" : "GROWS"} (thresholds: RSS slope ≤ ${NO_GROWTH.rssMBPerHour} MB/hour, heap slope ≤ ${NO_GROWTH.heapMBPerHour} MB/hour)`);

  const resultsDir = join(import.meta.dirname, "results");
  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, `soak-${startedAt.toISOString().replaceAll(":", "-")}.json`);
  writeFileSync(
    resultFile,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), minutes, warmupMs, sensors: GATEWAY_SENSORS, rssSlopeMBPerHour: rssSlope, heapSlopeMBPerHour: heapSlope, heapStart, heapEnd, heapGrowthMB, heaps, cpuPercent, readings, unsent, errors, noGrowth, samples }, null, 2)}\n`,
  );
  console.log(`\nsaved ${resultFile}`);
} finally {
  const code = await agent.stop();
  if (code !== 0) say(`the agent exited with ${code}: ${agent.stderr.slice(-5).join("\n")}`);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

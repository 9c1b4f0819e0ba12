// The memory and CPU figures: the agent bundle on 20 simulated BME280s at 1 Hz (every sample a reading, every
// reading published) for N minutes, against an empty Node process (same node binary, same flags: none) idling
// through the same window. Both run at once, so both see the same machine. RSS is sampled from /proc/PID/status
// (VmRSS) every few seconds, CPU is utime + stime from /proc/PID/stat at the window's ends.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { XmppTestServer } from "../test/support/servers.ts";
import { figure, type Figure } from "./figures.ts";
import { GATEWAY_SENSORS, procSample, startGateway, type ProcSample } from "./gateway.ts";

/** The targets for a Raspberry-Pi-class gateway. */
const TARGET = { rssMB: 45, cpuPercent: 2 };
/** After online: the first publishes create the nodes and fill SQLite's cache; the window starts after. */
const WARMUP_MS = 30_000;
const SAMPLE_EVERY_MS = 5_000;

export interface MemoryDetails {
  minutes: number;
  sensors: number;
  /** Over the window, MB and % of one core. */
  xedge: { maxRssMB: number; meanRssMB: number; peakRssMB: number; cpuPercent: number };
  emptyNode: { maxRssMB: number; meanRssMB: number; peakRssMB: number; cpuPercent: number };
  samples: { atS: number; xedgeRssMB: number; emptyNodeRssMB: number }[];
}

function summary(first: ProcSample, last: ProcSample, rss: number[], windowS: number) {
  return {
    maxRssMB: Math.max(...rss),
    meanRssMB: rss.reduce((sum, value) => sum + value, 0) / rss.length,
    peakRssMB: last.peakRssMB,
    cpuPercent: (100 * (last.cpuS - first.cpuS)) / windowS,
  };
}

/**
 * The environment systemd/xedge.service gives the agent (its Environment= lines: V8 and malloc settings), so the
 * figure is the agent as installed. `Environment=KEY=value` or `Environment=KEY="value with spaces"`.
 */
export function unitEnvironment(unitFile = join(import.meta.dirname, "../systemd/xedge.service")): Record<string, string> {
  const assignments = [...readFileSync(unitFile, "utf8").matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))\s*$/gm)];
  return Object.fromEntries(assignments.map(([, name = "", quoted, plain]) => [name, quoted ?? plain ?? ""]));
}

export async function memoryFigures(server: XmppTestServer, minutes: number, progress: (line: string) => void): Promise<{ figures: Figure[]; details: MemoryDetails }> {
  const env = unitEnvironment();
  progress(`memory: the agent and the empty process run with the unit's environment: ${JSON.stringify(env)}`);
  // The empty process: an interval keeps it alive, waking it once an hour. Same node, same environment.
  const empty = spawn(process.execPath, ["-e", "setInterval(() => {}, 3_600_000)"], { stdio: "ignore", env: { ...process.env, ...env } });
  try {
    return await measure(server, minutes, empty.pid, env, progress);
  } finally {
    empty.kill();
  }
}

async function measure(
  server: XmppTestServer,
  minutes: number,
  emptyPid: number | undefined,
  env: Record<string, string>,
  progress: (line: string) => void,
): Promise<{ figures: Figure[]; details: MemoryDetails }> {
  const { agent, dir } = await startGateway(server, { nodePrefix: "memory/gw1", env });
  try {
    const agentPid = agent.child.pid;
    if (agentPid === undefined || emptyPid === undefined) throw new Error("a process under measurement has no pid");
    await sleep(WARMUP_MS);
    const start = { xedge: procSample(agentPid), empty: procSample(emptyPid), at: Date.now() };
    const samples: MemoryDetails["samples"] = [];
    const windowMs = minutes * 60_000;
    while (Date.now() - start.at < windowMs) {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited with ${agent.child.exitCode}: ${agent.stderr.slice(-10).join("\n")}`);
      samples.push({ atS: (Date.now() - start.at) / 1000, xedgeRssMB: procSample(agentPid).rssMB, emptyNodeRssMB: procSample(emptyPid).rssMB });
      if (samples.length % 24 === 0) progress(`memory: ${((Date.now() - start.at) / 60_000).toFixed(0)} of ${minutes} min, xedge RSS ${samples.at(-1)?.xedgeRssMB.toFixed(1)} MB`);
      await sleep(Math.min(SAMPLE_EVERY_MS, Math.max(0, windowMs - (Date.now() - start.at))));
    }
    const end = { xedge: procSample(agentPid), empty: procSample(emptyPid) };
    const windowS = (Date.now() - start.at) / 1000;
    const details: MemoryDetails = {
      minutes,
      sensors: GATEWAY_SENSORS,
      xedge: summary(start.xedge, end.xedge, [...samples.map((s) => s.xedgeRssMB), end.xedge.rssMB], windowS),
      emptyNode: summary(start.empty, end.empty, [...samples.map((s) => s.emptyNodeRssMB), end.empty.rssMB], windowS),
      samples,
    };
    progress(
      `memory: xedge max RSS ${details.xedge.maxRssMB.toFixed(1)} MB, CPU ${details.xedge.cpuPercent.toFixed(2)} %; empty node ${details.emptyNode.maxRssMB.toFixed(1)} MB, ${details.emptyNode.cpuPercent.toFixed(3)} %`,
    );
    const load = `${GATEWAY_SENSORS} sensors × 1 Hz, ${minutes} min`;
    return {
      figures: [
        figure(`resident memory (max VmRSS), ${load}`, "MB", { xedge: [details.xedge.maxRssMB], baseline: [details.emptyNode.maxRssMB] }, { xedgeAtMost: TARGET.rssMB }),
        figure(`CPU, % of one core, ${load}`, "%", { xedge: [details.xedge.cpuPercent], baseline: [details.emptyNode.cpuPercent] }, { xedgeAtMost: TARGET.cpuPercent }),
      ],
      details,
    };
  } finally {
    const code = await agent.stop();
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) progress(`the agent exited with ${code}: ${agent.stderr.slice(-5).join("\n")}`);
  }
}

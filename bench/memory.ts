// The memory and CPU figures: the agent bundle on 20 simulated BME280s at 1 Hz (every sample a reading, every
// reading published) for N minutes, against two baselines idling through the same window: an empty Node process,
// and @xmpp/client logged in over TLS and idle (bare-login.ts --stay, bundled as the agent is). All three run at
// once with the same node binary, the same flags and the same environment as the systemd unit gives the agent, so
// all see the same machine. RSS is sampled from /proc/PID/status (VmRSS) every few seconds, CPU is utime + stime
// from /proc/PID/stat at the window's ends. The heap after a full GC comes from a heap snapshot each process writes
// at the window's end (`--heapsnapshot-signal`, which loads nothing until the signal): the sum of its objects'
// sizes. A preloaded probe would cost every process an ESM loader and a second V8 context, about 2 MB of RSS.
// bench/arm64.ts runs all three on an arm64 Node under qemu-user (a Runtime); VmRSS is then the emulator's, with
// its translated code.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { XmppTestServer } from "../test/support/servers.ts";
import { figure, type Figure } from "./figures.ts";
import { GATEWAY_SENSORS, HOST, procSample, rssSplit, slope, startGateway, type ProcSample, type RssSplit, type Runtime } from "./gateway.ts";
import { bundleBareLogin } from "./cold-start.ts";
import { BARE } from "./publish.ts";

/** The targets: RSS within 1.3× an empty Node process with the same flags, heap after GC, CPU. */
const TARGET = { rssRatio: 1.3, heapMB: 6, cpuPercent: 2 };
/** After online: the first publishes create the nodes and fill SQLite's cache; the window starts after. */
const WARMUP_MS = 30_000;
const SAMPLE_EVERY_MS = 5_000;
const HEAP_SNAPSHOT_SIGNAL = "SIGUSR2";

interface ProcessSummary {
  maxRssMB: number;
  meanRssMB: number;
  peakRssMB: number;
  /** Least-squares slope of VmRSS over the window: flat is near 0. */
  rssSlopeMBPerHour: number;
  cpuPercent: number;
  /** heapUsed after a full garbage collection at the window's end. */
  heapAfterGcMB: number;
  /** Where the resident pages were at the window's end. */
  rssAtEnd: RssSplit;
}

export interface MemoryDetails {
  /** The node command all three ran with (an emulator first under qemu-user). */
  node: string[];
  minutes: number;
  sensors: number;
  /** Node's own flags (XEDGE_NODE_FLAGS) and the environment of the unit, given to all three processes (plus the heap snapshot's signal). */
  nodeFlags: string[];
  environment: Record<string, string>;
  xedge: ProcessSummary;
  emptyNode: ProcessSummary;
  bareClient: ProcessSummary;
  samples: { atS: number; xedgeRssMB: number; emptyNodeRssMB: number; bareClientRssMB: number }[];
}

/**
 * The environment systemd/xedge.service gives the agent (its Environment= lines: V8 and malloc settings, the node
 * flags the launcher passes), so the figure is the agent as installed. `Environment=KEY=value` or
 * `Environment=KEY="value with spaces"`.
 */
export function unitEnvironment(unitFile = join(import.meta.dirname, "../systemd/xedge.service")): Record<string, string> {
  const assignments = [...readFileSync(unitFile, "utf8").matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))\s*$/gm)];
  return Object.fromEntries(assignments.map(([, name = "", quoted, plain]) => [name, quoted ?? plain ?? ""]));
}

/** A process under measurement. */
interface Measured {
  name: string;
  pid: number;
}

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

/**
 * The process's heap after a full GC, in MB: it writes a heap snapshot into `dir` on the signal (V8 collects
 * garbage first) and the figure is the sum of the snapshot's self sizes (within 1 % of heapUsed after gc()).
 */
async function heapAfterGcMB(target: Measured, dir: string): Promise<number> {
  const ours = (name: string) => name.endsWith(".heapsnapshot") && name.split(".").includes(String(target.pid));
  const before = new Set(readdirSync(dir).filter(ours));
  process.kill(target.pid, HEAP_SNAPSHOT_SIGNAL);
  // An emulated process takes a while to write it.
  for (const started = Date.now(); Date.now() - started < 180_000; await sleep(200)) {
    const file = readdirSync(dir).find((name) => ours(name) && !before.has(name));
    if (!file) continue;
    let snapshot: HeapSnapshotFile;
    try {
      snapshot = JSON.parse(readFileSync(join(dir, file), "utf8")) as HeapSnapshotFile;
    } catch {
      continue; // still being written
    }
    const fields = snapshot.snapshot.meta.node_fields;
    const selfSize = fields.indexOf("self_size");
    let bytes = 0;
    for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) bytes += snapshot.nodes[i] ?? 0;
    rmSync(join(dir, file));
    return bytes / 1e6;
  }
  throw new Error(`${target.name} wrote no heap snapshot within 3 minutes`);
}

function measured(name: string, child: ChildProcess): Measured {
  if (child.pid === undefined) throw new Error(`${name} has no pid`);
  return { name, pid: child.pid };
}

/** Starts bare-login.ts --stay and resolves once it says it is online. */
async function startBareClient(server: XmppTestServer, script: string, runtime: Runtime, nodeFlags: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const [program, ...args] = runtime.node;
  const child = spawn(program, [...args, ...nodeFlags, script, server.service, server.domain, BARE.user, "--stay"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...env, NODE_EXTRA_CA_CERTS: server.caFile, XEDGE_BENCH_PASSWORD: BARE.password },
  });
  await new Promise<void>((resolveOnline, reject) => {
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("online\n")) resolveOnline();
    });
    child.once("exit", (code) => reject(new Error(`the bare @xmpp/client exited with ${code} before it was online`)));
  });
  return child;
}

function summary(first: ProcSample, last: ProcSample, rss: { atS: number; rssMB: number }[], windowS: number, heapAfterGcMB: number, rssAtEnd: RssSplit): ProcessSummary {
  const values = rss.map((sample) => sample.rssMB);
  return {
    maxRssMB: Math.max(...values),
    meanRssMB: values.reduce((sum, value) => sum + value, 0) / values.length,
    peakRssMB: last.peakRssMB,
    rssSlopeMBPerHour: slope(rss.map((sample) => ({ x: sample.atS / 3600, y: sample.rssMB }))),
    cpuPercent: (100 * (last.cpuS - first.cpuS)) / windowS,
    heapAfterGcMB,
    rssAtEnd,
  };
}

/** How the unit runs the agent: node's own flags (XEDGE_NODE_FLAGS, given by bin/xedge) and the rest of its environment. */
export function asInstalled(): { nodeFlags: string[]; environment: Record<string, string> } {
  const { XEDGE_NODE_FLAGS: flags = "", ...environment } = unitEnvironment();
  return { nodeFlags: flags.split(/\s+/).filter(Boolean), environment };
}

export async function memoryFigures(server: XmppTestServer, minutes: number, progress: (line: string) => void, runtime = HOST): Promise<{ figures: Figure[]; details: MemoryDetails }> {
  const { nodeFlags, environment } = asInstalled();
  const [program, ...args] = runtime.node;
  progress(`memory: all three run as node ${nodeFlags.join(" ")} with the unit's environment ${JSON.stringify(environment)}`);
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-memory-"));
  const env = {
    ...process.env,
    ...environment,
    NODE_OPTIONS: `${environment["NODE_OPTIONS"] ?? ""} --heapsnapshot-signal=${HEAP_SNAPSHOT_SIGNAL} --diagnostic-dir=${work}`.trim(),
  };
  // The empty process: an interval keeps it alive, waking it once an hour. The one measured for RSS and CPU runs
  // without the snapshot signal, which costs an empty process 1.6 MB of RSS (the agent pays it, so the ratio errs
  // against xedge); a second one with it gives Node's own heap after GC.
  const emptyNode = (withSignal: boolean) =>
    spawn(program, [...args, ...nodeFlags, "-e", "setInterval(() => {}, 3_600_000)"], { stdio: "ignore", env: withSignal ? env : { ...process.env, ...environment } });
  const empty = emptyNode(false);
  const emptyForHeap = emptyNode(true);
  let bare: ChildProcess | undefined;
  try {
    bare = await startBareClient(server, await bundleBareLogin(work), runtime, nodeFlags, env);
    const baselines = { empty: measured("the empty node", empty), emptyForHeap: measured("the empty node with the snapshot signal", emptyForHeap), bare: measured("the bare @xmpp/client", bare) };
    return await measure(server, minutes, baselines, { runtime, nodeFlags, environment, env, work }, progress);
  } finally {
    empty.kill();
    emptyForHeap.kill();
    bare?.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

async function measure(
  server: XmppTestServer,
  minutes: number,
  baselines: { empty: Measured; emptyForHeap: Measured; bare: Measured },
  settings: { runtime: Runtime; nodeFlags: string[]; environment: Record<string, string>; env: NodeJS.ProcessEnv; work: string },
  progress: (line: string) => void,
): Promise<{ figures: Figure[]; details: MemoryDetails }> {
  const { empty, emptyForHeap, bare } = baselines;
  const { agent, dir } = await startGateway(server, { nodePrefix: `memory/${Date.now()}`, env: settings.env, nodeArgs: settings.nodeFlags, runtime: settings.runtime });
  try {
    const agentPid = agent.child.pid;
    if (agentPid === undefined) throw new Error("the agent has no pid");
    await sleep(WARMUP_MS);
    const start = { xedge: procSample(agentPid), empty: procSample(empty.pid), bare: procSample(bare.pid), at: Date.now() };
    const samples: MemoryDetails["samples"] = [];
    const windowMs = minutes * 60_000;
    const sample = () => {
      samples.push({
        atS: (Date.now() - start.at) / 1000,
        xedgeRssMB: procSample(agentPid).rssMB,
        emptyNodeRssMB: procSample(empty.pid).rssMB,
        bareClientRssMB: procSample(bare.pid).rssMB,
      });
    };
    while (Date.now() - start.at < windowMs) {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited with ${agent.child.exitCode}: ${agent.stderr.slice(-10).join("\n")}`);
      sample();
      if (samples.length % 24 === 0) progress(`memory: ${((Date.now() - start.at) / 60_000).toFixed(0)} of ${minutes} min, xedge RSS ${samples.at(-1)?.xedgeRssMB.toFixed(1)} MB`);
      await sleep(Math.min(SAMPLE_EVERY_MS, Math.max(0, windowMs - (Date.now() - start.at))));
    }
    sample();
    const end = { xedge: procSample(agentPid), empty: procSample(empty.pid), bare: procSample(bare.pid) };
    const split = { xedge: rssSplit(agentPid), empty: rssSplit(empty.pid), bare: rssSplit(bare.pid) };
    const windowS = (Date.now() - start.at) / 1000;
    const heap = (target: Measured) => heapAfterGcMB(target, settings.work);
    const heaps = { xedge: await heap({ name: "the agent", pid: agentPid }), empty: await heap(emptyForHeap), bare: await heap(bare) };
    const series = (key: "xedgeRssMB" | "emptyNodeRssMB" | "bareClientRssMB") => samples.map((s) => ({ atS: s.atS, rssMB: s[key] }));
    const details: MemoryDetails = {
      node: settings.runtime.node,
      minutes,
      sensors: GATEWAY_SENSORS,
      nodeFlags: settings.nodeFlags,
      environment: settings.environment,
      xedge: summary(start.xedge, end.xedge, series("xedgeRssMB"), windowS, heaps.xedge, split.xedge),
      emptyNode: summary(start.empty, end.empty, series("emptyNodeRssMB"), windowS, heaps.empty, split.empty),
      bareClient: summary(start.bare, end.bare, series("bareClientRssMB"), windowS, heaps.bare, split.bare),
      samples,
    };
    const line = (name: string, s: ProcessSummary) =>
      `${name} max RSS ${s.maxRssMB.toFixed(1)} MB (slope ${s.rssSlopeMBPerHour.toFixed(1)} MB/h; at the end ${s.rssAtEnd.fileMB.toFixed(1)} file, ` +
      `${s.rssAtEnd.executableAnonymousMB.toFixed(1)} executable anonymous, ${s.rssAtEnd.otherAnonymousMB.toFixed(1)} other anonymous), heap ${s.heapAfterGcMB.toFixed(2)} MB, CPU ${s.cpuPercent.toFixed(2)} %`;
    progress(`memory: ${line("xedge", details.xedge)}; ${line("empty node", details.emptyNode)}; ${line("bare @xmpp/client", details.bareClient)}`);
    const load = [`${GATEWAY_SENSORS} sensors × 1 Hz, ${minutes} min`, settings.runtime.label].filter(Boolean).join(", ");
    const rss = (s: ProcessSummary) => [s.maxRssMB];
    return {
      figures: [
        figure(`max VmRSS vs an empty node, same flags, ${load}`, "MB", { xedge: rss(details.xedge), baseline: rss(details.emptyNode) }, { atMost: TARGET.rssRatio }),
        figure(`max VmRSS vs a bare @xmpp/client online, idle, ${load}`, "MB", { xedge: rss(details.xedge), baseline: rss(details.bareClient) }, "information"),
        figure(`heap after a full GC vs an empty node, ${load}`, "MB", { xedge: [details.xedge.heapAfterGcMB], baseline: [details.emptyNode.heapAfterGcMB] }, { xedgeAtMost: TARGET.heapMB }),
        // The CPU bound is for a real core: under emulation every instruction costs many.
        figure(`CPU, % of one core, ${load}`, "%", { xedge: [details.xedge.cpuPercent], baseline: [details.emptyNode.cpuPercent] }, settings.runtime === HOST ? { xedgeAtMost: TARGET.cpuPercent } : "information"),
      ],
      details,
    };
  } finally {
    const code = await agent.stop();
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) progress(`the agent exited with ${code}: ${agent.stderr.slice(-5).join("\n")}`);
  }
}

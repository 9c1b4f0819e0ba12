// Issue 17's figures on emulated arm64: the arm64 release (built as `npm run release -- --arch arm64` builds it, its
// addons cross-compiled and cached) run by Node.js's own arm64 build of this Node's major under qemu-aarch64-static,
// as test/install/release-arm.test.ts runs it. Every process of these figures, xedge and its baselines alike, runs
// under the same emulator, side by side in one run:
// - cold start to online vs a bare @xmpp/client login (cold-start.ts; target ≤ 1.0 there);
// - CPU per reading, sample → commit → publish (the gateway of 20 BME280s at 1 Hz), vs a bare sqlite3 insert plus
//   a bare publish paced the same way (bare-pipeline.ts);
// - the memory figure (memory.ts) against an empty node and an idle bare @xmpp/client.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { XmppTestServer } from "../test/support/servers.ts";
import { buildAndUnpack, emulatedArm64Node, runCommand } from "../test/support/release.ts";
import { figure, type Figure } from "./figures.ts";
import { GATEWAY_SENSORS, procSample, startGateway, storeCounts, type Runtime } from "./gateway.ts";
import { bundleBaseline, coldStartFigures } from "./cold-start.ts";
import { asInstalled, memoryFigures, type MemoryDetails } from "./memory.ts";
import { BARE } from "./publish.ts";
import type { PipelineJob } from "./bare-pipeline.ts";

/** After both are online: the first publishes create the agent's nodes; the window starts after. */
const WARMUP_MS = 30_000;

export interface CostPerReading {
  minutes: number;
  /** CPU (utime + stime of the emulator's process) over the window and the readings the server acknowledged in it. */
  xedge: { cpuS: number; readings: number; unpublishedAtEnd: number };
  baseline: { cpuS: number; readings: number };
}

export interface Arm64Details {
  node: string[];
  costPerReading: CostPerReading;
  memory: MemoryDetails;
}

/** Bundles bare-pipeline.ts into the release's lib/, so that it loads the release's arm64 sqlite3. */
function bundlePipeline(releaseDir: string): Promise<string> {
  return bundleBaseline("bare-pipeline.ts", join(releaseDir, "lib/bare-pipeline.mjs"), ["sqlite3"]);
}

/** Starts the bare pipeline; `published()` is the last count it printed. */
async function startPipeline(
  server: XmppTestServer,
  script: string,
  runtime: Runtime,
  work: string,
  installed: { nodeFlags: string[]; env: NodeJS.ProcessEnv },
): Promise<{ child: ChildProcess; published: () => number }> {
  const job: PipelineJob = {
    service: server.service,
    domain: server.domain,
    username: BARE.user,
    password: BARE.password,
    pubsubService: server.pubsubService,
    nodePrefix: `pipeline/${Date.now()}`,
    maxItems: 1000,
    sensors: GATEWAY_SENSORS,
    dbPath: join(work, "pipeline.db"),
  };
  const jobFile = join(work, "pipeline.json");
  writeFileSync(jobFile, JSON.stringify(job));
  const [program, ...args] = runtime.node;
  const child = spawn(program, [...args, ...installed.nodeFlags, script, jobFile], { stdio: ["ignore", "pipe", "inherit"], env: { ...installed.env, NODE_EXTRA_CA_CERTS: server.caFile } });
  let published = 0;
  await new Promise<void>((resolveOnline, reject) => {
    let buffer = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "online") resolveOnline();
        const count = /^published (\d+)$/.exec(line)?.[1];
        if (count) published = Number(count);
      }
    });
    child.once("exit", (code) => reject(new Error(`the bare pipeline exited with ${code} before it was online`)));
  });
  return { child, published: () => published };
}

/** CPU per reading over `minutes`, the gateway and the bare pipeline side by side, both as installed. */
async function costPerReading(server: XmppTestServer, runtime: Runtime, releaseDir: string, minutes: number, progress: (line: string) => void): Promise<{ figure: Figure; details: CostPerReading }> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-arm64-"));
  const { nodeFlags, environment } = asInstalled();
  const env = { ...process.env, ...environment };
  const pipeline = await startPipeline(server, await bundlePipeline(releaseDir), runtime, work, { nodeFlags, env });
  const { agent, dir } = await startGateway(server, { nodePrefix: `cost/${Date.now()}`, env, nodeArgs: nodeFlags, runtime });
  try {
    const [agentPid, pipelinePid] = [agent.child.pid, pipeline.child.pid];
    if (agentPid === undefined || pipelinePid === undefined) throw new Error("a process under measurement has no pid");
    await sleep(WARMUP_MS);
    const dbPath = join(dir, "xedge.db");
    const start = { xedge: procSample(agentPid), baseline: procSample(pipelinePid), xedgeReadings: await storeCounts(dbPath), baselineReadings: pipeline.published() };
    await sleep(minutes * 60_000);
    const end = { xedge: procSample(agentPid), baseline: procSample(pipelinePid), xedgeReadings: await storeCounts(dbPath), baselineReadings: pipeline.published() };
    if (agent.child.exitCode !== null || pipeline.child.exitCode !== null) throw new Error("a process under measurement exited during the window");
    const details: CostPerReading = {
      minutes,
      xedge: { cpuS: end.xedge.cpuS - start.xedge.cpuS, readings: end.xedgeReadings.published - start.xedgeReadings.published, unpublishedAtEnd: end.xedgeReadings.unsent },
      baseline: { cpuS: end.baseline.cpuS - start.baseline.cpuS, readings: end.baselineReadings - start.baselineReadings },
    };
    const perReadingMs = (side: { cpuS: number; readings: number }) => (1000 * side.cpuS) / side.readings;
    progress(
      `cost per reading: xedge ${details.xedge.cpuS.toFixed(1)} s CPU for ${details.xedge.readings} readings (${details.xedge.unpublishedAtEnd} left in the outbox), ` +
        `bare insert + publish ${details.baseline.cpuS.toFixed(1)} s for ${details.baseline.readings}`,
    );
    const name = `CPU per reading, sample → commit → publish vs a bare insert + publish, ${GATEWAY_SENSORS} sensors × 1 Hz, ${minutes} min, ${runtime.label}`;
    return { figure: figure(name, "ms", { xedge: [perReadingMs(details.xedge)], baseline: [perReadingMs(details.baseline)] }, "information"), details };
  } finally {
    pipeline.child.kill();
    const code = await agent.stop();
    if (code !== 0) progress(`the agent exited with ${code}: ${agent.stderr.slice(-5).join("\n")}`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

export async function arm64Figures(server: XmppTestServer, minutes: number, coldStarts: number, progress: (line: string) => void): Promise<{ figures: Figure[]; details: Arm64Details }> {
  const qemu = await runCommand("qemu-aarch64-static", ["--version"]).catch(() => undefined);
  if (qemu?.code !== 0) throw new Error("qemu-aarch64-static is missing: apt-get install -y qemu-user-static (scripts/ensure.sh test installs it)");
  progress("arm64: building the release (addons cached after the first build)");
  const release = await buildAndUnpack("arm64");
  try {
    const node = emulatedArm64Node(Number(process.versions.node.split(".")[0]));
    const runtime: Runtime = { label: "emulated arm64", node, bundle: join(release.dir, "lib/xedge.mjs") };
    progress(`arm64: every process runs as ${node.join(" ")}`);
    const figures = await coldStartFigures(server, coldStarts, progress, runtime, 1.0);
    const cost = await costPerReading(server, runtime, release.dir, minutes, progress);
    const memory = await memoryFigures(server, minutes, progress, runtime);
    return { figures: [...figures, cost.figure, ...memory.figures], details: { node, costPerReading: cost.details, memory: memory.details } };
  } finally {
    release.remove();
  }
}

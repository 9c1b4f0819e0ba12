// The cold-start figure: from spawning the process to online, for the agent bundle (dist/xedge.mjs on the 20-sensor
// gateway config: it opens its store and hardware before it connects) and for @xmpp/client logging in from a
// script bundled the same way (bare-login.ts). Both are measured in this process, from spawn() to the line that
// says online arriving on the child's output. Each side's start is also split where it begins to connect (the
// agent's "agent started" log line, the baseline's "started"): loading and setting up before, the login after.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { build } from "esbuild";
import type { XmppTestServer } from "../test/support/servers.ts";
import { figure, type Figure } from "./figures.ts";
import { HOST, startGateway, type Runtime } from "./gateway.ts";
import { BARE, inTurn } from "./publish.ts";

/**
 * Bundles a baseline script of bench/ (e.g. bare-login.ts) into `outfile` the way scripts/build.mjs bundles the
 * agent, `external` left to the folder's node_modules; returns the file.
 */
export async function bundleBaseline(script: string, outfile: string, external: string[] = []): Promise<string> {
  await build({
    entryPoints: [resolve(import.meta.dirname, script)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external,
    banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module';\nconst require = __benchCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });
  return outfile;
}

/** Bundles bare-login.ts into `dir`; returns the file. */
export function bundleBareLogin(dir: string): Promise<string> {
  return bundleBaseline("bare-login.ts", join(dir, "bare-login.mjs"));
}

/** One cold start in ms from spawn: to where it begins to connect, and to online. */
interface ColdStart {
  startedMs: number;
  onlineMs: number;
}

/** The baseline's cold start; waits for the child to exit cleanly. */
async function bareColdStart(server: XmppTestServer, script: string, runtime: Runtime): Promise<ColdStart> {
  const [program, ...args] = runtime.node;
  const spawnedAt = performance.now();
  const child = spawn(program, [...args, script, server.service, server.domain, BARE.user], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: server.caFile, XEDGE_BENCH_PASSWORD: BARE.password },
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let startedMs = Number.NaN;
  const online = new Promise<number>((resolveOnline) => {
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (Number.isNaN(startedMs) && stdout.includes("started\n")) startedMs = performance.now() - spawnedAt;
      if (stdout.includes("online\n")) resolveOnline(performance.now() - spawnedAt);
    });
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`bare login exited with ${code}: ${stderr.trim()}`);
  return { startedMs, onlineMs: await online };
}

async function xedgeColdStart(server: XmppTestServer, nodePrefix: string, runtime: Runtime): Promise<ColdStart> {
  const { agent, dir, spawnedAt } = await startGateway(server, { nodePrefix, runtime });
  const onlineMs = performance.now() - spawnedAt;
  try {
    // The log line's own clock (ms): when the store, the hardware and the faces were set up and the login began.
    const started = agent.logs.find((line) => line.message === "agent started");
    const startedMs = started ? Date.parse(started.time) - (performance.timeOrigin + spawnedAt) : Number.NaN;
    const code = await agent.stop();
    if (code !== 0) throw new Error(`agent exited with ${code}: ${agent.stderr.slice(-10).join("\n")}`);
    return { startedMs, onlineMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The cold-start figure (target ≤ `atMost`) and, for information, its part before the login began: where a miss
 * comes from.
 */
export async function coldStartFigures(server: XmppTestServer, repetitions: number, progress: (line: string) => void, runtime = HOST, atMost = 1.5): Promise<Figure[]> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-cold-"));
  try {
    const script = await bundleBareLogin(work);
    const xedge: ColdStart[] = [];
    const baseline: ColdStart[] = [];
    const where = [runtime.label, server.kind].filter(Boolean).join(", ");
    const ms = (start: ColdStart | undefined) => `${start?.onlineMs.toFixed(0)} ms (${start?.startedMs.toFixed(0)} to start connecting)`;
    for (let i = 0; i < repetitions; i++) {
      await inTurn(i, [async () => baseline.push(await bareColdStart(server, script, runtime)), async () => xedge.push(await xedgeColdStart(server, `cold/${Date.now()}/run${i}`, runtime))]);
      progress(`cold start ${where} ${i + 1}/${repetitions}: bare @xmpp/client ${ms(baseline.at(-1))}, xedge ${ms(xedge.at(-1))}`);
    }
    const runs = (key: keyof ColdStart) => ({ xedge: xedge.map((start) => start[key]), baseline: baseline.map((start) => start[key]) });
    return [
      figure(`cold start to online (${where})`, "ms", runs("onlineMs"), { atMost }),
      figure(`cold start, spawn to connecting (${where})`, "ms", runs("startedMs"), "information"),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

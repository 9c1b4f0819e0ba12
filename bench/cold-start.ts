// The cold-start figure: from spawning the process to online, for the agent bundle (dist/xedge.mjs on the 20-sensor
// gateway config: it opens its store and hardware before it connects) and for @xmpp/client logging in from a
// script bundled the same way (bare-login.ts). Both are measured in this process, from spawn() to the line that
// says online arriving on the child's output.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { build } from "esbuild";
import type { XmppTestServer } from "../test/support/servers.ts";
import { figure, type Figure } from "./figures.ts";
import { startGateway } from "./gateway.ts";
import { BARE, inTurn } from "./publish.ts";

/** Bundles bare-login.ts into `dir` the way scripts/build.mjs bundles the agent; returns the file. */
export async function bundleBareLogin(dir: string): Promise<string> {
  const outfile = join(dir, "bare-login.mjs");
  await build({
    entryPoints: [resolve(import.meta.dirname, "bare-login.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module';\nconst require = __benchCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });
  return outfile;
}

/** ms from spawn to "online" on stdout; waits for the child to exit cleanly. */
async function bareColdStart(server: XmppTestServer, script: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [script, server.service, server.domain, BARE.user], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: server.caFile, XEDGE_BENCH_PASSWORD: BARE.password },
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const online = new Promise<number>((resolveOnline) => {
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("online\n")) resolveOnline(performance.now() - started);
    });
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`bare login exited with ${code}: ${stderr.trim()}`);
  return online;
}

async function xedgeColdStart(server: XmppTestServer, nodePrefix: string): Promise<number> {
  const { agent, dir, spawnedAt } = await startGateway(server, { nodePrefix });
  const ms = performance.now() - spawnedAt;
  try {
    const code = await agent.stop();
    if (code !== 0) throw new Error(`agent exited with ${code}: ${agent.stderr.slice(-10).join("\n")}`);
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function coldStartFigure(server: XmppTestServer, repetitions: number, progress: (line: string) => void): Promise<Figure> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-cold-"));
  try {
    const script = await bundleBareLogin(work);
    const xedge: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      await inTurn(i, [async () => baseline.push(await bareColdStart(server, script)), async () => xedge.push(await xedgeColdStart(server, `cold/run${i}`))]);
      progress(`cold start ${server.kind} ${i + 1}/${repetitions}: bare @xmpp/client ${baseline.at(-1)?.toFixed(0)} ms, xedge ${xedge.at(-1)?.toFixed(0)} ms`);
    }
    return figure(`cold start to online (${server.kind})`, "ms", { xedge, baseline }, { atMost: 1.5 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// What the metrics endpoint costs: two agent bundles side by side on the same Prosody, each on 20 simulated
// BME280s at 1 Hz (every reading published), one without a `metrics:` block (prom-client never loaded) and one
// with it, scraped every 15 s as Prometheus would. Both run with the systemd unit's environment and the soak's heap
// probe. Over the window: VmRSS every 5 s, CPU at its ends; at its end the heap after a full GC, and the scrape's
// size and time. `npm run build && node --import tsx bench/metrics-cost.ts [--minutes N]` (default 3).
import { request } from "node:http";
import { freePort } from "../test/support/ports.ts";
import { resolve } from "node:path";
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { startServer } from "../test/support/servers.ts";
import type { AgentProcess } from "../test/support/agent.ts";
import { GATEWAY_SENSORS, minutesValue, procSample, startGateway, type ProcSample } from "./gateway.ts";
import { unitEnvironment } from "./memory.ts";

const { values: flags } = parseArgs({ options: { minutes: { type: "string" } } });
const minutes = minutesValue(flags.minutes, 3);
const WARMUP_MS = 30_000;
const SAMPLE_EVERY_MS = 5_000;
const SCRAPE_EVERY_MS = 15_000;
const HEAP_PROBE = resolve(import.meta.dirname, "heap-probe.mjs");

function scrape(port: number): Promise<{ bytes: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolveScrape, reject) => {
    request({ host: "127.0.0.1", port, path: "/metrics" }, (response) => {
      let bytes = 0;
      response.on("data", (chunk: Buffer) => (bytes += chunk.length));
      response.on("end", () => resolveScrape({ bytes, ms: performance.now() - started }));
    })
      .on("error", reject)
      .end();
  });
}

async function heapAfterGc(agent: AgentProcess): Promise<number> {
  const from = agent.logs.length;
  agent.child.kill("SIGUSR2");
  const line = await agent.waitForMessage("heap probe", 10_000, from);
  return Number(line["heapUsed"]) / 1e6;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const env = unitEnvironment();
const agentEnv = { ...env, NODE_OPTIONS: `${env["NODE_OPTIONS"] ?? ""} --import ${HEAP_PROBE}`.trim() };
const server = await startServer("prosody", {
  accounts: { gw1: "gw1-secret", gw2: "gw2-secret" },
  pubsubAdmins: ["gw1@localhost", "gw2@localhost"],
  pubsubStorage: "memory",
});
const port = await freePort();
const run = Date.now().toString(36);
const off = await startGateway(server, { user: "gw1", nodePrefix: `cost/${run}/off`, env: agentEnv });
const on = await startGateway(server, { user: "gw2", nodePrefix: `cost/${run}/on`, env: agentEnv, configExtra: `metrics: { listen: "127.0.0.1:${port}" }\n` });
try {
  const pids = [off.agent.child.pid, on.agent.child.pid];
  const [offPid, onPid] = pids;
  if (offPid === undefined || onPid === undefined) throw new Error("an agent has no pid");
  say(`metrics cost: ${GATEWAY_SENSORS} sensors × 1 Hz each, warm-up ${WARMUP_MS / 1000} s, window ${minutes} min, env ${JSON.stringify(env)}`);
  await sleep(WARMUP_MS);
  const start = { off: procSample(offPid), on: procSample(onPid), at: Date.now() };
  const rss = { off: [] as number[], on: [] as number[] };
  const scrapes: { bytes: number; ms: number }[] = [];
  let lastScrape = 0;
  while (Date.now() - start.at < minutes * 60_000) {
    rss.off.push(procSample(offPid).rssMB);
    rss.on.push(procSample(onPid).rssMB);
    if (Date.now() - lastScrape >= SCRAPE_EVERY_MS) {
      lastScrape = Date.now();
      scrapes.push(await scrape(port));
    }
    await sleep(SAMPLE_EVERY_MS);
  }
  const windowS = (Date.now() - start.at) / 1000;
  const end = { off: procSample(offPid), on: procSample(onPid) };
  const heap = { off: await heapAfterGc(off.agent), on: await heapAfterGc(on.agent) };
  const figures = (first: ProcSample, last: ProcSample, samples: number[], heapMB: number) => ({
    maxRssMB: Math.max(...samples, last.rssMB),
    meanRssMB: samples.reduce((sum, value) => sum + value, 0) / samples.length,
    peakRssMB: last.peakRssMB,
    cpuPercent: (100 * (last.cpuS - first.cpuS)) / windowS,
    heapAfterGcMB: heapMB,
  });
  const result = {
    minutes,
    sensors: GATEWAY_SENSORS,
    metricsOff: figures(start.off, end.off, rss.off, heap.off),
    metricsOn: figures(start.on, end.on, rss.on, heap.on),
    scrapes: { count: scrapes.length, bytes: scrapes.at(-1)?.bytes, maxMs: Math.max(...scrapes.map((s) => s.ms)) },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const gateway of [off, on]) {
    await gateway.agent.stop();
    rmSync(gateway.dir, { recursive: true, force: true });
  }
  await server.stop();
}

// The chart figures: what `chart boiler temperature 24h` costs the gateway, from a day of one-second readings (86,400,
// as the store hands them to Readout) to the PNG, against the text history of the same day (`history boiler 24h`:
// Readout's aggregation and the sparkline) as the baseline, both on the same readings. Time: wall ms per answer,
// interleaved after a warm-up, in this process. Memory: each answer once in a fresh child process
// (`node --import tsx bench/chart.ts chart|text`), its peak resident set above what it held with the readings
// loaded, so what the answer itself allocates shows.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { Readout } from "../agent/readout.ts";
import type { StoredReading } from "../agent/store.ts";
import { chartSeries, historySummary } from "../agent/operator/history.ts";
import { renderChart } from "../agent/operator/chart.ts";
import { renderHistory } from "../agent/operator/render.ts";
import { figure, type Figure } from "./figures.ts";

const DAY_MS = 86_400_000;
const NOW = new Date("2026-12-03T12:00:00Z");
const TIME_RUNS = 7;
const MEMORY_RUNS = 3;

/** A day of one-second BME280-like readings: a daily swing with noise. */
function day(): Readout {
  const readings: StoredReading[] = [];
  const start = NOW.getTime() - DAY_MS;
  for (let second = 0; second < DAY_MS / 1000; second++) {
    const value = 20 + 4 * Math.sin((2 * Math.PI * second) / 86_400) + Math.sin(second * 7.3) * 0.3;
    readings.push({
      id: second + 1,
      sensorId: "boiler",
      seq: second + 1,
      timestamp: new Date(start + second * 1000),
      fields: [{ name: "temperature", type: "numeric", value, unit: "°C", decimals: 2 }],
    });
  }
  const store = {
    history: (_sensorId: string, range: { from?: Date; to?: Date }) =>
      Promise.resolve(readings.filter((reading) => reading.timestamp >= (range.from ?? new Date(0)) && reading.timestamp < (range.to ?? new Date(8.64e15)))),
  };
  return new Readout({ sampler: { states: [{ id: "boiler", driver: "bme280" }] }, actuators: { all: [] }, store }, () => NOW);
}

/** `chart boiler temperature 24h` without the upload: the PNG's bytes. */
async function chart(readout: Readout): Promise<number> {
  const series = await chartSeries(readout, "boiler", "temperature", DAY_MS, NOW);
  if (!series) throw new Error("no series to chart");
  const png = renderChart({ title: "boiler temperature, last 24h", unit: series.unit, decimals: series.decimals, from: series.from, to: series.to, points: series.points, timeZone: "UTC" });
  return png.length;
}

/** `history boiler 24h`: the text's length. */
async function text(readout: Readout): Promise<number> {
  return renderHistory(await historySummary(readout, "boiler", DAY_MS, NOW), DAY_MS, { now: NOW, timeZone: "UTC" }).length;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Runs one answer in this (child) process and prints the peak RSS above the RSS with the readings loaded, in MB. */
async function childMain(mode: string): Promise<void> {
  const readout = day();
  const before = process.memoryUsage().rss;
  const size = await (mode === "chart" ? chart(readout) : text(readout));
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ mb: Math.max(0, peak - before) / 2 ** 20, size })}\n`);
}

function childMb(mode: "chart" | "text"): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, mode], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve((JSON.parse(out) as { mb: number }).mb) : reject(new Error(`bench/chart.ts ${mode} exited ${code}`))));
  });
}

export async function chartFigures(progress: (line: string) => void): Promise<Figure[]> {
  const readout = day();
  await chart(readout);
  await text(readout);
  const time = { xedge: [] as number[], baseline: [] as number[] };
  for (let run = 0; run < TIME_RUNS; run++) {
    time.xedge.push(await timed(() => chart(readout)));
    time.baseline.push(await timed(() => text(readout)));
  }
  progress(`chart ${time.xedge.map((ms) => ms.toFixed(0)).join(" ")} ms; text history ${time.baseline.map((ms) => ms.toFixed(0)).join(" ")} ms`);
  const memory = { xedge: [] as number[], baseline: [] as number[] };
  for (let run = 0; run < MEMORY_RUNS; run++) {
    memory.xedge.push(await childMb("chart"));
    memory.baseline.push(await childMb("text"));
  }
  progress(`chart ${memory.xedge.map((mb) => mb.toFixed(1)).join(" ")} MB; text history ${memory.baseline.map((mb) => mb.toFixed(1)).join(" ")} MB`);
  return [
    figure("chart of 24 h at 1 Hz (ms) vs text history", "ms", time, { atMost: 3 }),
    figure("chart of 24 h at 1 Hz, peak memory (MB) vs text history", "MB", memory, { atMost: 2 }),
  ];
}

if (process.argv[1] === import.meta.filename && process.argv[2]) await childMain(process.argv[2]);

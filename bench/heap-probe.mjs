// Preloaded into the agent under soak (NODE_OPTIONS="--import bench/heap-probe.mjs"), never part of the product:
// on SIGUSR2 it collects garbage and writes the heap figures as a JSON log line on stderr, where the soak reads
// the agent's logs. --expose-gc cannot go in NODE_OPTIONS, so the flag is set here and gc taken from a fresh context.
import process from "node:process";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

v8.setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

process.on("SIGUSR2", () => {
  gc();
  const { heapUsed, heapTotal, external, arrayBuffers, rss } = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", message: "heap probe", heapUsed, heapTotal, external, arrayBuffers, rss })}\n`);
});

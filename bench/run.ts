// `npm run bench`: xedge against baselines measured in the same run on the same machine, printed as ratios beside
// their targets and saved to bench/results/<timestamp>.json. Figures, not tests: nothing here fails on a miss.
// XEDGE_BENCH_SERVERS=prosody (or ejabberd) limits the publish figures to one server; both run by default.
// The servers keep pubsub items in memory unless XEDGE_BENCH_PUBSUB_STORAGE=persistent: with their SQL storage each
// publish waits for an fsync, and this machine's fsync latency swung the same client between 94 and 455 items/s
// (docs/benchmarks.md). Every run publishes to fresh nodes, so no item id is ever published twice.
// Stream management is off on the servers: xedge does not use it, and with it @xmpp/client's loop was thrown off
// ejabberd mid-drain ("policy-violation: Too many unacked stanzas").
// `npm run bench -- --only memory,login --minutes 2` runs some figures (insert, publish, drain, readout, login,
// cold-start, memory, chart, arm64) and sets the memory figure's window (default 10 minutes); memory, cold start and
// arm64 (cold start, cost per reading and memory of an arm64 release under qemu-user) run on the first server only.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer, serverKinds, type ServerKind } from "../test/support/servers.ts";
import { machine, type Figure } from "./figures.ts";
import { insertFigures } from "./insert.ts";
import { BARE, GATEWAY, drainFigure, publishFigure } from "./publish.ts";
import { OPERATOR, readoutFigures } from "./readout.ts";
import { loginFigures } from "./login.ts";
import { coldStartFigures } from "./cold-start.ts";
import { memoryFigures, type MemoryDetails } from "./memory.ts";
import { minutesValue } from "./gateway.ts";
import { chartFigures } from "./chart.ts";
import { arm64Figures, type Arm64Details } from "./arm64.ts";

const REPETITIONS = { insert: 3, publish: 3, drain: 3, login: 10, coldStart: 5 };
const GROUPS = ["insert", "publish", "drain", "readout", "login", "cold-start", "memory", "chart", "arm64"] as const;
/** Measured on the first server only. */
const FIRST_SERVER_ONLY: readonly Group[] = ["memory", "cold-start", "arm64"];
type Group = (typeof GROUPS)[number];

const flags = (() => {
  try {
    return parseArgs({ options: { only: { type: "string" }, minutes: { type: "string" } } }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\nusage: npm run bench -- [--only ${GROUPS.join(",")}] [--minutes N]\n`);
    process.exit(2);
  }
})();
const only = flags.only?.split(",").map((group) => group.trim());
const unknownGroup = only?.find((group) => !(GROUPS as readonly string[]).includes(group));
if (unknownGroup !== undefined) {
  process.stderr.write(`--only: unknown figure ${JSON.stringify(unknownGroup)}; expected a comma-separated list of ${GROUPS.join(", ")}\n`);
  process.exit(2);
}
const wants = (group: Group) => only === undefined || only.includes(group);
const memoryMinutes = minutesValue(flags.minutes, 10);

const progress = (line: string) => process.stderr.write(`  ${line}\n`);


function servers(): ServerKind[] {
  const wanted = process.env["XEDGE_BENCH_SERVERS"]?.split(",").map((s) => s.trim());
  return wanted ? serverKinds.filter((kind) => wanted.includes(kind)) : serverKinds;
}

function pubsubStorage(): "memory" | "persistent" {
  return process.env["XEDGE_BENCH_PUBSUB_STORAGE"] === "persistent" ? "persistent" : "memory";
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

function table(figures: Figure[]): string {
  const rows = [
    ["figure", "xedge", "baseline", "unit", "ratio", "target", ""],
    ...figures.map((f) => [f.name, format(f.xedge), format(f.baseline), f.unit, Number.isFinite(f.ratio) ? f.ratio.toFixed(2) : "n/a", f.target, f.target === "information" ? "" : f.meetsTarget ? "meets" : "MISSES"]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const numeric = new Set([1, 2, 4]);
  return rows
    .map((row) => row.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join("  ").trimEnd())
    .join("\n");
}

const startedAt = new Date();
const host = machine();
// The machine is shared: the load average says how busy it was besides the bench.
const loadAverage = { start: os.loadavg() };
process.stderr.write(`xedge bench on ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, ${host.os}, Node ${host.node}, load ${loadAverage.start.map((load) => load.toFixed(2)).join(" ")}\n`);

const figures: Figure[] = [];
let memory: MemoryDetails | undefined;
let arm64: Arm64Details | undefined;
if (wants("insert")) {
  process.stderr.write("outbox insert vs the sqlite3 shell\n");
  figures.push(...(await insertFigures(REPETITIONS.insert, progress)));
}
if (wants("chart")) {
  process.stderr.write("a day's chart vs the text history of the same readings\n");
  figures.push(...(await chartFigures(progress)));
}
const [firstServer] = servers();
for (const kind of servers()) {
  const onFirst = kind === firstServer;
  if (!GROUPS.some((group) => group !== "insert" && group !== "chart" && wants(group) && (onFirst || !FIRST_SERVER_ONLY.includes(group)))) continue;
  process.stderr.write(`${kind} (${pubsubStorage()} pubsub storage)\n`);
  const server = await startServer(kind, {
    accounts: { [GATEWAY.user]: GATEWAY.password, [BARE.user]: BARE.password, [OPERATOR.user]: OPERATOR.password },
    pubsubAdmins: [`${GATEWAY.user}@localhost`, `${BARE.user}@localhost`],
    pubsubStorage: pubsubStorage(),
    streamManagement: false,
  });
  try {
    if (wants("publish")) figures.push(await publishFigure(server, REPETITIONS.publish, progress));
    if (wants("drain")) figures.push(await drainFigure(server, REPETITIONS.drain, progress));
    if (wants("readout")) figures.push(...(await readoutFigures(server, progress)));
    if (wants("login")) figures.push(...(await loginFigures(server, REPETITIONS.login, progress)));
    if (onFirst && wants("cold-start")) figures.push(...(await coldStartFigures(server, REPETITIONS.coldStart, progress)));
    if (onFirst && wants("memory")) {
      process.stderr.write(`memory and CPU over ${memoryMinutes} min vs an empty node process\n`);
      const measured = await memoryFigures(server, memoryMinutes, progress);
      figures.push(...measured.figures);
      memory = measured.details;
    }
    if (onFirst && wants("arm64")) {
      process.stderr.write(`emulated arm64 (qemu-user): cold start, CPU per reading and memory over ${memoryMinutes} min\n`);
      const measured = await arm64Figures(server, memoryMinutes, REPETITIONS.coldStart, progress);
      figures.push(...measured.figures);
      arm64 = measured.details;
    }
  } finally {
    await server.stop();
  }
}

console.log(`\nxedge bench, ${startedAt.toISOString()}: ${host.cpu}, ${host.cores} cores, Node ${host.node}, ${pubsubStorage()} pubsub storage`);
console.log(table(figures));
const resultsDir = join(import.meta.dirname, "results");
mkdirSync(resultsDir, { recursive: true });
const resultFile = join(resultsDir, `${startedAt.toISOString().replaceAll(":", "-")}.json`);
const result = {
  startedAt: startedAt.toISOString(),
  durationS: (Date.now() - startedAt.getTime()) / 1000,
  machine: host,
  loadAverage: { ...loadAverage, end: os.loadavg() },
  repetitions: REPETITIONS,
  pubsubStorage: pubsubStorage(),
  figures,
  ...(memory ? { memory } : {}),
  ...(arm64 ? { arm64 } : {}),
};
writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nsaved ${resultFile}`);

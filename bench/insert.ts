// Figure 1: committing readings to the outbox, against the sqlite3 shell inserting the same rows into the same
// schema with the same PRAGMAs in one transaction. The shell is timed as a whole process (start, parse, insert,
// commit, exit); nothing is subtracted, which favours xedge by the shell's start-up time.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MIGRATIONS, Store } from "../agent/store.ts";
import { Database } from "../agent/sqlite.ts";
import type { Reading, Sample } from "../lib/model.ts";
import { figure, perSecond, type Figure } from "./figures.ts";
import { bme280Samples, numbered } from "./readings.ts";

const SENSORS = 20;
const PER_SENSOR = 5000;
/** Rows per commit in the variant that mimics the agent's commit interval (1 s of a busy gateway). */
const ROWS_PER_COMMIT = 1000;

function sqlText(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The shell's script: the store's PRAGMAs and schema, then every row in ONE transaction. */
function insertScript(readings: Reading[]): string {
  const lastSeq = new Map<string, number>();
  for (const reading of readings) lastSeq.set(reading.sensorId, reading.seq);
  return [
    "PRAGMA journal_mode = WAL;",
    "PRAGMA synchronous = FULL;",
    // The store's schema as a fresh Store.open makes it: every migration, each in its own transaction.
    ...MIGRATIONS.flatMap((migration, i) => ["BEGIN IMMEDIATE;", migration, `PRAGMA user_version = ${i + 1};`, "COMMIT;"]),
    "BEGIN IMMEDIATE;",
    ...readings.map(
      (r) => `INSERT INTO readings (sensor_id, seq, ts, fields) VALUES (${sqlText(r.sensorId)}, ${r.seq}, ${r.timestamp.getTime()}, ${sqlText(JSON.stringify(r.fields))});`,
    ),
    ...[...lastSeq].map(([sensorId, seq]) => `INSERT INTO sensors (sensor_id, last_seq) VALUES (${sqlText(sensorId)}, ${seq});`),
    "COMMIT;",
    "",
  ].join("\n");
}

/** Runs `sqlite3 db < script`; resolves with the wall time of the whole process in ms. */
function runShell(dbPath: string, scriptPath: string): Promise<number> {
  const input = openSync(scriptPath, "r");
  const started = performance.now();
  return new Promise<number>((resolve, reject) => {
    const child = spawn("sqlite3", ["-bail", dbPath], { stdio: [input, "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", (code) => {
      const elapsed = performance.now() - started;
      closeSync(input);
      if (code === 0 && stderr === "") resolve(elapsed);
      else reject(new Error(`sqlite3 exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** Open a fresh store, append everything, commit every `rowsPerCommit` rows (all at once when undefined), close. */
async function runStore(dbPath: string, samples: Sample[], rowsPerCommit?: number): Promise<number> {
  const started = performance.now();
  // No timer commits during the run: the commits are the ones asked for here.
  const store = await Store.open(dbPath, { commitIntervalMs: 3_600_000 });
  const step = rowsPerCommit ?? samples.length;
  for (let start = 0; start < samples.length; start += step) {
    for (const sample of samples.slice(start, start + step)) store.append(sample);
    await store.flush();
  }
  await store.close();
  return performance.now() - started;
}

async function rowCount(dbPath: string): Promise<number> {
  const db = await Database.open(dbPath, { readonly: true });
  try {
    return (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings"))?.n ?? 0;
  } finally {
    await db.close();
  }
}

export async function insertFigures(repetitions: number, progress: (line: string) => void): Promise<Figure[]> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-insert-"));
  try {
    const samples = bme280Samples("s", SENSORS, PER_SENSOR);
    const scriptPath = join(work, "insert.sql");
    writeFileSync(scriptPath, insertScript(numbered(samples)));
    const oneCommit: number[] = [];
    const everyThousand: number[] = [];
    const shell: number[] = [];
    let run = 0;
    const timed = async (into: number[], measure: (dbPath: string) => Promise<number>) => {
      const dbPath = join(work, `run${run++}.db`);
      into.push(perSecond(samples.length, await measure(dbPath)));
      const rows = await rowCount(dbPath);
      if (rows !== samples.length) throw new Error(`${dbPath} holds ${rows} readings, expected ${samples.length}`);
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${dbPath}${suffix}`, { force: true });
    };
    // Interleaved, so that a slow moment of the machine does not land on one side only.
    for (let i = 0; i < repetitions; i++) {
      await timed(shell, (dbPath) => runShell(dbPath, scriptPath));
      await timed(oneCommit, (dbPath) => runStore(dbPath, samples));
      await timed(everyThousand, (dbPath) => runStore(dbPath, samples, ROWS_PER_COMMIT));
      progress(`insert ${i + 1}/${repetitions}: sqlite3 ${shell.at(-1)?.toFixed(0)}, xedge ${oneCommit.at(-1)?.toFixed(0)} (one commit), ${everyThousand.at(-1)?.toFixed(0)} (every ${ROWS_PER_COMMIT}) rows/s`);
    }
    const rows = `${(samples.length / 1000).toFixed(0)}k`;
    return [
      figure(`outbox insert, ${rows} rows, one commit`, "rows/s", { xedge: oneCommit, baseline: shell }, { atLeast: 0.5 }),
      figure(`outbox insert, ${rows} rows, commit every ${ROWS_PER_COMMIT}`, "rows/s", { xedge: everyThousand, baseline: shell }, { atLeast: 0.5 }),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// Power cut mid-commit. kill -9 is not one: the page cache survives it. Here a shim (test/support/power-cut/
// write-log.c, LD_PRELOAD) records every write, truncate and fsync the real Store makes to its folder, and every
// commit it acknowledged, in order; the folder is then rebuilt as a cut at many points would leave it, with the
// writes not yet fsynced lost, or only some of them on disk (test/support/power-cut/replay.ts). After each cut the
// store must open without needing a recovery, hold every reading acknowledged before the cut, and number the
// next reading of each sensor past every acknowledged one (so no item id is reused).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { acknowledged, materialize, readLog, Replay, type LogRecord, type Loss } from "../support/power-cut/replay.ts";
import { Store } from "../../agent/store.ts";
import { Database } from "../../agent/sqlite.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SHIM_SOURCE = join(ROOT, "test/support/power-cut/write-log.c");
const CACHE = join(ROOT, "node_modules/.cache/xedge-power-cut");

/** The shim, compiled once per source change. */
function shim(): string {
  const built = join(CACHE, "write-log.so");
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(SHIM_SOURCE).mtimeMs) return built;
  mkdirSync(CACHE, { recursive: true });
  const compiler = existsSync("/usr/bin/gcc-12") ? "gcc-12" : "cc";
  execFileSync(compiler, ["-shared", "-fPIC", "-O2", "-o", built, SHIM_SOURCE, "-ldl", "-lpthread"]);
  return built;
}

/** Runs a writer script under the shim with its folder watched; returns the log's records. */
function recordRun(dir: string, script: string, args: string[]): LogRecord[] {
  const folder = join(dir, "live");
  mkdirSync(folder, { recursive: true });
  const log = join(dir, "writes.log");
  execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "test/support/power-cut", script), folder, ...args], {
    cwd: ROOT,
    env: { ...process.env, LD_PRELOAD: shim(), POWER_CUT_DIR: folder, POWER_CUT_LOG: log },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return readLog(log);
}

/** A deterministic choice of which unsynced writes reached the disk. */
function seeded(seed: number): (index: number) => boolean {
  return (index) => ((index * 2654435761 + seed * 40503) >>> 0) % 3 !== 0;
}

/**
 * Where to cut: every record around each fsync of the database file and each truncate (the checkpoints), just
 * before and after a sample of the WAL's fsyncs (mid-commit and just committed), and evenly across the rest.
 */
function cutPoints(records: readonly LogRecord[], dbFile: number, walFile: number): number[] {
  const points = new Set<number>();
  records.forEach((record, i) => {
    if ((record.file === dbFile && record.kind === "S") || record.kind === "T") for (let d = -3; d <= 3; d++) points.add(i + d);
    if (record.file === walFile && record.kind === "S" && i % 7 === 0) for (const d of [-2, -1, 0, 1, 2]) points.add(i + d);
  });
  for (let i = 0; i < records.length; i += Math.ceil(records.length / 40)) points.add(i);
  points.add(records.length);
  return [...points].filter((i) => i > 0 && i <= records.length).sort((a, b) => a - b);
}

function fileNumber(records: readonly LogRecord[], suffix: string): number {
  return records.find((record) => record.kind === "O" && record.data.toString().endsWith(suffix))?.file ?? -1;
}

describe("power cut mid-commit", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-power-cut-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("after a cut at any of ~300 points, every acknowledged reading is there and no number is given twice", async () => {
    const started = Date.now();
    const records = recordRun(join(dir, "store"), "writer.ts", ["150", "40"]);
    const points = cutPoints(records, fileNumber(records, "/store.db"), fileNumber(records, "/store.db-wal"));
    assert.ok(points.length >= 100, `${points.length} cut points`);
    let checked = 0;
    const replay = new Replay(records);
    for (const cut of points) {
      replay.advanceTo(cut);
      const acked = acknowledged(records, cut);
      const losses: Loss[] = cut % 5 === 0 ? ["lost", "torn", "kept"] : ["lost", "torn"];
      for (const loss of losses) {
        const into = join(dir, "store", `cut-${cut}-${loss}`);
        replay.write(loss, into, seeded(cut));
        const store = await Store.open(join(into, "store.db"), { commitIntervalMs: 3_600_000 });
        try {
          // A cut during the very first open can leave an empty file, which the store recovers from like any
          // damage (its numbers then wait for the nodes' word); once a commit was acknowledged, never.
          if (acked.size > 0 || store.recovery?.reason !== "the store file is empty") {
            assert.equal(store.recovery, undefined, `cut ${cut} (${loss}): the store opens without a recovery`);
          }
          assert.equal(store.strayWalKept, undefined, `cut ${cut} (${loss}): the WAL is taken for SQLite's`);
          for (const [sensor, highest] of acked) {
            const seqs = new Set((await store.history(sensor)).map((reading) => reading.seq));
            const missing = Array.from({ length: highest }, (_, i) => i + 1).filter((seq) => !seqs.has(seq));
            assert.deepEqual(missing, [], `cut ${cut} (${loss}): ${sensor} acknowledged up to ${highest}`);
            assert.ok(store.append({ sensorId: sensor, timestamp: new Date(), fields: [] }).seq > highest, `cut ${cut} (${loss}): ${sensor} numbered past ${highest}`);
          }
        } finally {
          await store.close();
        }
        rmSync(into, { recursive: true, force: true });
        checked += 1;
      }
    }
    console.log(`power cut: ${records.length} records, ${checked} cuts checked at ${points.length} points in ${Date.now() - started} ms`);
  });

  it("the same replay finds the loss that synchronous=NORMAL allows (the test can fail)", async () => {
    const records = recordRun(join(dir, "control"), "normal-writer.ts", ["60"]);
    let lost = 0;
    for (let cut = 1; cut <= records.length; cut += 3) {
      const acked = acknowledged(records, cut).get("control") ?? 0;
      const into = join(dir, "control", `cut-${cut}`);
      materialize(records, cut, "lost", into);
      const db = await Database.open(join(into, "store.db"));
      const present = await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings").catch(() => ({ n: 0 }));
      await db.close();
      if ((present?.n ?? 0) < acked) lost += 1;
      rmSync(into, { recursive: true, force: true });
    }
    assert.ok(lost > 0, "with synchronous=NORMAL some cut loses acknowledged commits");
  });
});

// A damaged store at start: found, kept aside, and what SQLite can still read carried into a fresh store, so the
// agent starts instead of crash-looping under systemd. Damage is what a power cut on a cheap SD card leaves: a
// truncated, zero-filled or garbage file, a WAL that is not SQLite's, or one from another database (SQLite applies
// any WAL whose frames check out, and would then checkpoint the other database over ours).
//
// Detection at every start: open read-only (a read-only connection never checkpoints, so a stray WAL is not
// written into the file), PRAGMA quick_check (40 ms on a 100k-reading, 14 MB store here; integrity_check, which
// also matches every index against its table, took 110-150 ms and finds no damage that loses a reading), and a
// schema that is an xedge store's. Recovery copies table by table through the sqlite3 addon, seeking past rows it
// cannot read; Debian bookworm's sqlite3 CLI (3.40.1) fails its `.recover` even on an intact xedge store.
import { closeSync, copyFileSync, existsSync, linkSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { Database } from "./sqlite.ts";
import { errorText } from "./log.ts";

/** What was found at start and what became of it; kept in the new store's store_recoveries table. */
export interface StoreRecovery {
  at: Date;
  /** Why the store was judged damaged. */
  reason: string;
  /** The damaged store's new name, in the same folder; its -wal and -shm, if any, carry the same name. */
  keptAs: string;
  /** Readings copied into the new store, and how many of them had not been published. */
  readings: number;
  unpublished: number;
  /** The readings' row ids that could not be read ("none" when every row was): rows there, if any, are lost. */
  unreadable: string;
  /** Readings with a higher row id were sampled after the recovery. */
  lastRecoveredId: number;
  /** Set once every sensor's pubsub node was asked for its highest item id (no item id is then reused). */
  sequencesProvenAt?: Date;
}

/** A WAL file that SQLite would ignore (not a WAL, or a torn header), moved aside so it is not mistaken later. */
export interface StrayWal {
  keptAs: string;
}

/** Rows read per query while the pages read well. */
const COPY_BATCH = 500;

/**
 * Why the store at `path` cannot be used as it is, or undefined when it can (or does not exist yet). Opens it
 * read-only: nothing is written into the file, whatever its WAL holds.
 */
export async function findDamage(path: string, schemaVersion: number): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  // Only a cut during the store's very first open, or a filesystem that lost the file's data, leaves it so.
  if (statSync(path).size === 0) return "the store file is empty";
  let db: Database;
  try {
    // A rollback journal left by a cut during the store's first open (before it switched to WAL) is hot: only a
    // read-write connection rolls it back, and a read-only one then refuses to read.
    if (existsSync(`${path}-journal`) && statSync(`${path}-journal`).size > 0) {
      const rollback = await Database.open(path);
      await rollback.get("PRAGMA schema_version").finally(() => rollback.close());
    }
    db = await Database.open(path, { readonly: true });
  } catch (error) {
    if (isDamage(error)) return `it does not open: ${errorText(error)}`;
    throw error;
  }
  try {
    const check = await db.all<{ quick_check: string }>("PRAGMA quick_check");
    const problems = check.map((row) => row.quick_check).filter((line) => line !== "ok");
    if (problems.length > 0) return `quick_check: ${problems.join("; ").slice(0, 300)}`;
    const version = (await db.get<{ user_version: number }>("PRAGMA user_version"))?.user_version ?? 0;
    const tables = new Set((await db.all<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'")).map((row) => row.name));
    if (version === 0 && tables.size > 0) return `it is not an xedge store (no schema version; tables: ${[...tables].slice(0, 5).join(", ")}): a WAL from another database?`;
    if (version > 0 && version <= schemaVersion && !(tables.has("readings") && tables.has("sensors"))) {
      return `schema version ${version} but no readings or sensors table`;
    }
    return undefined;
  } catch (error) {
    if (isDamage(error)) return errorText(error);
    throw error;
  } finally {
    await db.close().catch(() => undefined);
  }
}

/**
 * SQLite's answers that the file itself is bad: not a database, malformed, or unreadable pages. Others (no
 * permission, a folder SQLite cannot write its -shm into) are no damage: the start fails with them as before.
 */
function isDamage(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT" || code === "SQLITE_IOERR";
}

/**
 * Whether the WAL beside `path` is one SQLite would use: its magic, format version and header checksum. One that
 * is not is ignored and then overwritten by SQLite; it is moved aside first, so what it was stays to be seen.
 */
export function setAsideStrayWal(path: string, now: Date): StrayWal | undefined {
  const wal = `${path}-wal`;
  if (!existsSync(wal) || statSync(wal).size === 0 || walHeaderValid(wal)) return undefined;
  const keptAs = `${path}.stray-${stamp(now)}-wal`;
  renameSync(wal, keptAs);
  return { keptAs };
}

function walHeaderValid(wal: string): boolean {
  const header = Buffer.alloc(32);
  const fd = openSync(wal, "r");
  try {
    if (readSync(fd, header, 0, 32, 0) < 32) return true; // shorter than a header: SQLite treats it as empty
  } finally {
    closeSync(fd);
  }
  const magic = header.readUInt32BE(0);
  if ((magic & 0xfffffffe) !== 0x377f0682 || header.readUInt32BE(4) !== 3007000) return false;
  // SQLite's WAL checksum over the first 24 bytes, in the byte order the magic's last bit names.
  const bigEndian = (magic & 1) === 1;
  const word = (offset: number) => (bigEndian ? header.readUInt32BE(offset) : header.readUInt32LE(offset));
  let s0 = 0;
  let s1 = 0;
  for (let offset = 0; offset < 24; offset += 8) {
    s0 = (s0 + word(offset) + s1) >>> 0;
    s1 = (s1 + word(offset + 4) + s0) >>> 0;
  }
  return s0 === header.readUInt32BE(24) && s1 === header.readUInt32BE(28);
}

/** 20261203T193045Z: sorts by time, and is a valid file name everywhere. */
function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Keeps the damaged store (and its -wal and -shm) aside under a timestamped name, builds a fresh store beside it
 * with `prepare` (the schema), copies into it what can be read, and puts it at `path`. Each sensor's sequence continues after the
 * higher of its recorded last number and the highest number among the rows read.
 */
export async function recoverStore(path: string, reason: string, now: Date, prepare: (db: Database) => Promise<void>): Promise<StoreRecovery> {
  const keptAs = `${path}.damaged-${stamp(now)}`;
  const building = `${path}.recovering`;
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${building}${suffix}`, { force: true });
  // The damaged file keeps its place until the new store replaces it in one rename: a cut during the recovery
  // leaves the damaged store (recovered again at the next start) or the new one with its record, never a store
  // that looks healthy and has forgotten what it could not prove.
  try {
    linkSync(path, keptAs);
  } catch {
    copyFileSync(path, keptAs);
  }
  for (const suffix of ["-wal", "-shm"]) if (existsSync(`${path}${suffix}`)) renameSync(`${path}${suffix}`, `${keptAs}${suffix}`);
  const recovery = await buildRecovered(building, keptAs, reason, now, prepare);
  // Closed, the new store has checkpointed its WAL into the file and deleted it: the file alone is the whole store.
  if (existsSync(`${building}-wal`) && statSync(`${building}-wal`).size > 0) throw new Error(`the recovered store ${building} kept a WAL after closing`);
  for (const suffix of ["-wal", "-shm"]) rmSync(`${building}${suffix}`, { force: true });
  renameSync(building, path);
  return recovery;
}

async function buildRecovered(building: string, keptAs: string, reason: string, now: Date, prepare: (db: Database) => Promise<void>): Promise<StoreRecovery> {
  const target = await Database.open(building);
  try {
    await target.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
    await prepare(target);
    const copied = await copyReadable(keptAs, target);
    const unpublished = (await target.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings WHERE published_at IS NULL AND set_aside_at IS NULL"))?.n ?? 0;
    const lastRecoveredId = (await target.get<{ id: number | null }>("SELECT MAX(id) AS id FROM readings"))?.id ?? 0;
    const recovery: StoreRecovery = {
      at: now,
      reason,
      keptAs,
      readings: copied.readings,
      unpublished,
      unreadable: copied.unreadable,
      lastRecoveredId,
    };
    await target.run(
      "INSERT INTO store_recoveries (at, reason, kept_as, readings, unpublished, unreadable, last_recovered_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
      [now.getTime(), reason, keptAs, recovery.readings, unpublished, recovery.unreadable, lastRecoveredId],
    );
    return recovery;
  } finally {
    await target.close();
  }
}

/**
 * Copies what can be read of the kept store into `target`, every table of its schema. Read with the WAL beside it first; when that shows no
 * xedge store (a WAL from another database replaced its pages), from the file alone.
 */
async function copyReadable(keptAs: string, target: Database): Promise<{ readings: number; unreadable: string }> {
  const withWal = await openDamaged(keptAs);
  if (withWal && (await hasTable(withWal, "readings"))) return copyFrom(withWal, target);
  await withWal?.close().catch(() => undefined);
  if (!existsSync(`${keptAs}-wal`)) return { readings: 0, unreadable: "all: nothing readable" };
  const fileAlone = `${keptAs}.without-wal`;
  copyFileSync(keptAs, fileAlone);
  try {
    const db = await openDamaged(fileAlone);
    if (db && (await hasTable(db, "readings"))) return await copyFrom(db, target);
    await db?.close().catch(() => undefined);
    return { readings: 0, unreadable: "all: nothing readable" };
  } finally {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${fileAlone}${suffix}`, { force: true });
  }
}

/** Opens a damaged file to read what it can; writable_schema lets SQLite read a file shorter than its header says. */
async function openDamaged(path: string): Promise<Database | undefined> {
  try {
    const db = await Database.open(path, { readonly: true });
    await db.exec("PRAGMA writable_schema = ON");
    return db;
  } catch {
    return undefined;
  }
}

async function hasTable(db: Database, table: string): Promise<boolean> {
  try {
    return (await db.get("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [table])) !== undefined;
  } catch {
    return false;
  }
}

async function copyFrom(source: Database, target: Database): Promise<{ readings: number; unreadable: string }> {
  try {
    let readings = 0;
    let unreadable = "none";
    await target.exec("BEGIN IMMEDIATE");
    // Every table of the schema is carried over (a migration's new table too), but the record of recoveries: the
    // new store starts its own.
    const tables = await target.all<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'store_recoveries'");
    for (const { name: table } of tables) {
      if (!(await hasTable(source, table))) continue;
      const copied = await copyTable(source, target, table);
      if (table === "readings") {
        readings = copied.rows;
        unreadable = copied.gaps.length > 0 ? copied.gaps.join(", ") : "none";
      }
    }
    // A sequence continues after the highest number anything read proves: the sensors table or the rows.
    await target.run(
      `INSERT INTO sensors (sensor_id, last_seq) SELECT sensor_id, MAX(seq) FROM readings WHERE true GROUP BY sensor_id
       ON CONFLICT (sensor_id) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)`,
    );
    await target.exec("COMMIT");
    return { readings, unreadable };
  } finally {
    await source.close().catch(() => undefined);
  }
}

async function columns(db: Database, table: string): Promise<string[]> {
  return (await db.all<{ name: string }>(`PRAGMA table_info(${table})`)).map((row) => row.name);
}

type Row = Record<string, string | number | null>;

/**
 * Copies a table by rowid, in batches while its pages read well. Where a read fails, it seeks for the next rowid
 * from which reading works again (doubling the step, then halving back), and names the rowids it passed over.
 */
async function copyTable(source: Database, target: Database, table: string): Promise<{ rows: number; gaps: string[] }> {
  const wanted = await columns(target, table);
  const present = new Set(await columns(source, table).catch(() => [] as string[]));
  const shared = wanted.filter((name) => present.has(name));
  if (shared.length === 0) return { rows: 0, gaps: [] };
  const select = `SELECT rowid AS rowid_, ${shared.join(", ")} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`;
  const rowValues = `(${shared.map(() => "?").join(", ")})`;
  // One statement per batch: the addon's cost per call would otherwise dominate (6 s for 46k rows, one by one).
  const insert = (count: number) => `INSERT OR IGNORE INTO ${table} (${shared.join(", ")}) VALUES ${Array<string>(count).fill(rowValues).join(", ")}`;
  const readable = (after: number) => source.all<Row>(select, [after, 1]).then(() => true, () => false);
  let after = 0;
  let rows = 0;
  let size = COPY_BATCH;
  const gaps: string[] = [];
  /** Seeks past damage at `after`; false when nothing further can be read. */
  const skipDamage = async (): Promise<boolean> => {
    const resume = await nextReadable(after, readable);
    if (resume === undefined) {
      gaps.push(`${after + 1} and above`);
      return false;
    }
    gaps.push(resume === after + 1 ? `${resume}` : `${after + 1}-${resume}`);
    after = resume;
    return true;
  };
  for (;;) {
    let batch: Row[];
    try {
      batch = await source.all<Row>(select, [after, size]);
    } catch {
      // Smaller batches up to the damage, then past it.
      if (size > 1) size = Math.max(1, Math.floor(size / 4));
      else if (!(await skipDamage())) break;
      continue;
    }
    if (batch.length === 0) break;
    const before = after;
    const taken: Row[] = [];
    for (const row of batch) {
      const rowid = Number(row.rowid_);
      if (rowid <= after) continue; // a damaged page may hand out rows out of order: each is taken once
      taken.push(row);
      after = rowid;
    }
    if (taken.length > 0) await target.run(insert(taken.length), taken.flatMap((row) => shared.map((name) => row[name] ?? null)));
    rows += taken.length;
    if (after === before && !(await skipDamage())) break;
    size = Math.min(COPY_BATCH, size * 2);
  }
  return { rows, gaps };
}

/** The smallest `after` past `failed` from which a read works, found by doubling then bisecting; undefined if none. */
async function nextReadable(failed: number, readable: (after: number) => Promise<boolean>): Promise<number | undefined> {
  let step = 1;
  while (!(await readable(failed + step))) {
    if (step > Number.MAX_SAFE_INTEGER / 4) return undefined;
    step *= 2;
  }
  let bad = failed + Math.floor(step / 2);
  let good = failed + step;
  while (good - bad > 1) {
    const middle = Math.floor((bad + good) / 2);
    if (await readable(middle)) good = middle;
    else bad = middle;
  }
  return good;
}

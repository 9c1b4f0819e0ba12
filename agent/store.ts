// The store is the truth: a reading exists once it is committed here, and only committed readings are
// published. Readings are grouped into one transaction per commit interval (an fsync per reading would wear
// out an SD card), written with multi-row statements (the async binding's per-call cost would dominate).
//
// Durability: WAL with synchronous=FULL, so a committed transaction survives a power cut. The loss window is
// the readings sampled since the last commit (at most one commit interval); they were never published, so
// their sequence numbers are given again after a restart without any id being reused on the wire
// (test/resilience/power-cut.test.ts cuts the power at hundreds of points of commits and checkpoints; NORMAL,
// which syncs only at checkpoints, loses acknowledged commits there). A file damaged anyway is handled at open by
// agent/store-recovery.ts.
//
// A store that cannot commit (disk full, a read-only remount: agent/write-faults.ts) keeps what it has and reads
// on: the outbox still drains, and acknowledgements wait in memory with the new readings. Those readings are held
// in memory within a bound and committed, in order, by the first commit that succeeds again (retried with
// backoff). Their sequence numbers are provisional until then: an item id is given to committed readings only, so
// a held reading dropped by the bound (the oldest go first, counted per sensor) or lost with the process takes no
// number with it, and nothing held was ever published.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Field, Reading, Sample } from "../lib/model.ts";
import type { AuditEntry } from "./control.ts";
import type { ConfigAuditEntry } from "./remote-config.ts";
import type { TimedAction } from "./timed-actions.ts";
import type { StoredWatch, WatchSpec } from "./operator/watches.ts";
import type { QueuedAlert } from "./operator/alert-delivery.ts";
import { Database } from "./sqlite.ts";
import { errorText } from "./log.ts";
import { findDamage, recoverStore, setAsideStrayWal, type StoreRecovery, type StrayWal } from "./store-recovery.ts";
import { diagnoseWriteFailure, spaceLeft, type WriteFault } from "./write-faults.ts";
import { trustedSystemClock, type ClockState } from "./clock-watch.ts";

export type { StoreRecovery } from "./store-recovery.ts";
export type { WriteFault } from "./write-faults.ts";

/** SQLite's page cache per connection, as PRAGMA cache_size takes it: a negative number is KiB. */
const PAGE_CACHE_KIB = -512;

/** Schema migrations, applied in order; PRAGMA user_version records how many have run. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE sensors (
     sensor_id TEXT PRIMARY KEY,
     last_seq  INTEGER NOT NULL
   );
   CREATE TABLE readings (
     id           INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order, the publisher's paging key
     sensor_id    TEXT    NOT NULL,
     seq          INTEGER NOT NULL,
     ts           INTEGER NOT NULL,                  -- ms since the epoch, UTC
     fields       TEXT    NOT NULL,                  -- JSON of Field[]
     published_at INTEGER,                           -- ms; NULL while in the outbox
     UNIQUE (sensor_id, seq)
   );
   CREATE INDEX readings_outbox ON readings (id) WHERE published_at IS NULL;
   CREATE TABLE counters (
     name  TEXT PRIMARY KEY,
     value INTEGER NOT NULL
   );`,
  // A failing sensor's error, so `xedge status` can tell it from the outside.
  `ALTER TABLE sensors ADD COLUMN error TEXT;
   ALTER TABLE sensors ADD COLUMN error_since INTEGER;`,
  // The audit trail of control actions (agent/control.ts), refusals included.
  `CREATE TABLE audit (
     id        INTEGER PRIMARY KEY AUTOINCREMENT,
     ts        INTEGER NOT NULL, -- ms since the epoch, UTC
     requester TEXT    NOT NULL, -- full JID
     via       TEXT    NOT NULL, -- the face: iq, message, chat, adhoc
     nodes     TEXT    NOT NULL, -- JSON string[]; empty = every actuator having the parameter
     params    TEXT    NOT NULL, -- JSON [{ name, type?, value }]
     result    TEXT    NOT NULL, -- ok, or the failure kind
     detail    TEXT
   );`,
  // Readings the pubsub service refuses for good (e.g. payload-too-big): out of the outbox, kept and counted.
  `ALTER TABLE readings ADD COLUMN set_aside TEXT;        -- why the service refused it
   ALTER TABLE readings ADD COLUMN set_aside_at INTEGER; -- ms; NULL unless set aside
   CREATE INDEX readings_set_aside ON readings (id) WHERE set_aside_at IS NOT NULL;`,
  // The audit trail of remote configuration (agent/remote-config.ts): every push, refusals and rollbacks included.
  `CREATE TABLE config_audit (
     id        INTEGER PRIMARY KEY AUTOINCREMENT,
     ts        INTEGER NOT NULL, -- ms since the epoch, UTC
     requester TEXT    NOT NULL, -- full JID
     via       TEXT    NOT NULL, -- the face: chat, adhoc
     summary   TEXT    NOT NULL, -- what changed, or the problems found
     result    TEXT    NOT NULL, -- applied, unchanged, rolled-back, refused, forbidden, failed
     detail    TEXT              -- e.g. why it was rolled back
   );`,
  // Timed actions (agent/timed-actions.ts): what to switch back, to what, when, and who set it; kept across restarts.
  `CREATE TABLE timed_actions (
     node_id      TEXT    NOT NULL,
     parameter    TEXT    NOT NULL,
     set_value    TEXT    NOT NULL,
     revert_value TEXT    NOT NULL,
     requester    TEXT    NOT NULL,
     via          TEXT    NOT NULL,
     set_at       INTEGER NOT NULL, -- ms since epoch
     due_at       INTEGER NOT NULL, -- ms since epoch
     PRIMARY KEY (node_id, parameter)
   );`,
  // Alerts (agent/operator/alert-delivery.ts, watches.ts): chat watches kept across restarts, and alert messages
  // waiting for the link, delivered in order once it is back.
  `CREATE TABLE watches (
     id         INTEGER PRIMARY KEY AUTOINCREMENT, -- what the operator types to unwatch it
     owner      TEXT    NOT NULL,                  -- bare JID of the operator who set it
     sensor_id  TEXT    NOT NULL,
     field      TEXT,                              -- NULL when it watches the sensor failing
     condition  TEXT    NOT NULL,                  -- JSON of the alert condition
     for_ms     INTEGER NOT NULL,
     created_at INTEGER NOT NULL                   -- ms since epoch
   );
   CREATE TABLE alert_outbox (
     id        INTEGER PRIMARY KEY AUTOINCREMENT, -- delivery order
     recipient TEXT    NOT NULL,                  -- bare JID
     body      TEXT    NOT NULL,
     queued_at INTEGER NOT NULL                   -- ms since epoch
   );`,
  // Damaged stores found at start (agent/store-recovery.ts): where the damaged file was kept, what was carried over.
  `CREATE TABLE store_recoveries (
     id                  INTEGER PRIMARY KEY AUTOINCREMENT,
     at                  INTEGER NOT NULL, -- ms since the epoch
     reason              TEXT    NOT NULL, -- why the store was judged damaged
     kept_as             TEXT    NOT NULL, -- the damaged file's new name (and of its -wal, -shm)
     readings            INTEGER NOT NULL, -- readings carried over
     unpublished         INTEGER NOT NULL, -- of which not yet published
     unreadable          TEXT    NOT NULL, -- readings row ids that could not be read, or "none"
     last_recovered_id   INTEGER NOT NULL, -- readings with a higher id were sampled after the recovery
     sequences_proven_at INTEGER           -- ms; set once each pubsub node was asked for its highest item id
   );`,
  // Readings taken before the wall clock was trusted (agent/clock-watch.ts): marked, and corrected from the
  // monotonic clock once it is, when they were taken in the same boot (the next migration keeps which boot).
  `ALTER TABLE readings ADD COLUMN clock TEXT;           -- NULL: clock trusted; 'unsynced': ts as the unsynchronized clock said; 'corrected'
   ALTER TABLE readings ADD COLUMN clock_offset INTEGER; -- 'unsynced' only: wall minus monotonic ms when it was taken`,
  // An unsynced reading's boot: an earlier process of the same boot took its offset on the same monotonic clock.
  `ALTER TABLE readings ADD COLUMN clock_boot TEXT;      -- 'unsynced' only: the kernel's boot id when it was taken`,
];

/** An unsent reading: in the outbox, neither accepted by the server nor set aside. */
const IN_OUTBOX = "published_at IS NULL AND set_aside_at IS NULL";

/**
 * Most readings held in memory while the store cannot commit (never more than store.maxReadings either: they are
 * unsent readings too). About 0.5 kB each: 10,000 is 5 MB, 17 minutes of 10 sensors sampled every second.
 */
export const MAX_HELD_READINGS = 10_000;

/**
 * Less free space than this and the store is not opened (an error with code ENOSPC): SQLite needs room for its
 * -shm (32 KiB), a WAL and the migrations (a new store's first open peaks at about 230 KiB: the -shm, 120 KiB of
 * WAL and the checkpoint into the file; with less, SQLite's own SQLITE_FULL says the same).
 * Its failures on a full disk would mislead too: the read-only check's SQLITE_IOERR would pass for a damaged file,
 * and its recovery would move the store's WAL aside.
 */
export const SPACE_TO_OPEN_BYTES = 256 * 1024;

/** Longest wait between two commit attempts while the store cannot commit. */
const MAX_COMMIT_RETRY_MS = 5_000;

/** Rows per INSERT statement: 7 parameters each, well under SQLite's 32766-variable limit. */
const ROWS_PER_STATEMENT = 500;

export interface StoredReading extends Reading {
  /** Commit-order key of the row. */
  id: number;
  /** When the server accepted it; absent while it is in the outbox. */
  publishedAt?: Date;
}

/** The newest reading the service refused for good. */
export interface SetAsideReading {
  sensorId: string;
  seq: number;
  reason: string;
  at: Date;
}

export interface StoreStatus {
  unsent: number;
  oldestUnsent?: Date;
  lastPublished?: Date;
  dropped: number;
  /** Readings lost because the store could not commit them (disk full, read-only) past memory's bound; absent when none. */
  lostUnwritable?: number;
  /** Readings the service refused for good, kept in the store out of the outbox. */
  setAside?: number;
  lastSetAside?: SetAsideReading;
  /** Readings whose timestamp is as an unsynchronized clock said (not corrected); absent when none. */
  unsyncedTimestamps?: number;
  sensors: { sensorId: string; lastSeq: number; lastReading?: Reading; error?: string; errorSince?: Date; setAside?: number }[];
  /** The newest damaged store found at a start and recovered from, if any ever was. */
  lastRecovery?: StoreRecovery;
}

interface AuditRow {
  ts: number;
  requester: string;
  via: string;
  nodes: string;
  params: string;
  result: string;
  detail: string | null;
}

interface TimedActionRow {
  node_id: string;
  parameter: string;
  set_value: string;
  revert_value: string;
  requester: string;
  via: string;
  set_at: number;
  due_at: number;
}

interface ConfigAuditRow {
  ts: number;
  requester: string;
  via: string;
  summary: string;
  result: string;
  detail: string | null;
}

interface ReadingRow {
  id: number;
  sensor_id: string;
  seq: number;
  ts: number;
  fields: string;
  clock: string | null;
  published_at?: number | null;
}

/** The columns of a reading row, as ReadingRow has them. */
const READING_COLUMNS = "id, sensor_id, seq, ts, fields, clock";

/**
 * A sample with the clock state it was taken under: one taken before the clock was trusted is marked `unsynced` and
 * keeps the clock's offset then, and its boot, to be corrected later (`correctedUnder`).
 */
export type ClockedSample = Sample & { clockOffsetMs?: number; clockBoot?: string };

/** The sample marked with the clock's state now, as it is taken. */
export function takenUnder(sample: Sample, clock: ClockState): ClockedSample {
  return clock.trusted ? sample : { ...sample, clock: "unsynced", clockOffsetMs: clock.offsetMs(), ...(clock.bootId ? { clockBoot: clock.bootId } : {}) };
}

/**
 * An `unsynced` sample set right for a clock synchronized `offsetMs` ahead of the monotonic clock: its monotonic
 * time (its timestamp less the offset it was taken under) plus that offset, marked `corrected`. Others as they are.
 */
function correctedUnder(sample: ClockedSample, offsetMs: number): ClockedSample {
  if (sample.clock !== "unsynced" || sample.clockOffsetMs === undefined) return sample;
  const { clockOffsetMs, clockBoot: _boot, ...rest } = sample;
  return { ...rest, timestamp: new Date(sample.timestamp.getTime() - clockOffsetMs + offsetMs), clock: "corrected" };
}

/** The bound on readings held in memory: store.maxReadings, and never more than MAX_HELD_READINGS. */
export function heldBound(maxReadings: number | undefined): number {
  return Math.min(maxReadings ?? MAX_HELD_READINGS, MAX_HELD_READINGS);
}

export interface StoreLimits {
  commitIntervalMs: number;
  /** Bound on unsent readings: past it the oldest unsent are dropped, and counted. Unbounded when absent. */
  maxReadings?: number;
  /** Published readings older than this are pruned in the background. Kept forever when absent. */
  retentionMs?: number;
}

/** The store cannot commit: why, since when, and what it holds in memory meanwhile. */
export interface StoreFault extends WriteFault {
  since: Date;
  /** Readings held in memory, waiting for a commit. */
  held: number;
  /** Their bound: past it the oldest held readings are dropped. */
  maxHeld: number;
  /** Held readings the bound dropped during this fault. */
  lost: number;
}

/** A fault that ended: the first commit that succeeded again. */
export interface StoreFaultEnd {
  fault: StoreFault;
  /** Readings that commit stored, held ones included. */
  committed: number;
  /** Held readings the bound dropped during the fault, per sensor. */
  lostBySensor: ReadonlyMap<string, number>;
}

export interface StoreOptions extends StoreLimits {
  /** Called after a commit that had to drop readings: how many now, how many in all, and now per sensor. */
  onDropped?: (dropped: number, total: number, bySensor: ReadonlyMap<string, number>) => void;
  /** Called when a commit fails after the last one succeeded: from now on new readings are held in memory. */
  onCommitFailing?: (fault: StoreFault) => void;
  /** Called when held readings are dropped by the bound (the oldest first), per sensor. */
  onHeldLost?: (bySensor: ReadonlyMap<string, number>) => void;
  /** Called when a commit succeeds again after failing. */
  onCommitRecovered?: (end: StoreFaultEnd) => void;
  /** Tests: run on the store's own connection once it is open (e.g. PRAGMA max_page_count to fill the "disk"). */
  onConnection?: (db: Database) => Promise<void>;
  /** Tells why a commit failed; agent/write-faults.ts asks the filesystem. */
  diagnose?: (error: unknown) => WriteFault;
  /** Whether the wall clock is trusted (agent/clock-watch.ts); trusted as it is when absent. */
  clock?: ClockState;
}

/** How often retention pruning runs, and how many rows one pruning transaction deletes at most. */
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 5_000;

type CommitListener = (readings: StoredReading[]) => void;

/** A sensor that started failing (`error` set, failing `since`) or works again (no `error`), as committed. */
export interface SensorErrorChange {
  sensorId: string;
  error?: string;
  since?: Date;
}

type SensorErrorListener = (changes: SensorErrorChange[]) => void;

export class Store {
  private pending: ClockedSample[] = [];
  private pendingSeqs: number[] = [];
  private acked: number[] = [];
  private refused: { id: number; reason: string; at: number }[] = [];
  /** Sensor error changes waiting for the next commit: undefined error = recovered. */
  private sensorErrors = new Map<string, { error?: string; since?: Date }>();
  private readonly lastSeq = new Map<string, number>();
  private readonly listeners = new Set<CommitListener>();
  private readonly errorListeners = new Set<SensorErrorListener>();
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Unsent rows on disk, kept in step with every commit so the bound costs no COUNT(*). */
  private unsentRows = 0;
  private droppedTotal = 0;
  private setAsideTotal = 0;
  /** The newest id the bound has deleted; committed readings up to it are not announced. */
  private lastDroppedId = 0;
  /** The damage this start found and recovered from, if any. */
  private recoveredNow: StoreRecovery | undefined;
  /** A WAL that SQLite would have ignored, moved aside at this start. */
  private strayWal: StrayWal | undefined;
  /** The newest recovery whose sequences the pubsub nodes have not yet confirmed, this start's or an earlier one's. */
  private unprovenRecovery: StoreRecovery | undefined;
  /** Set while commits fail; pending readings are then held within the bound. */
  private fault: (WriteFault & { since: Date }) | undefined;
  /** No commit is tried before this (monotonic ms), while commits fail. */
  private retryAt = 0;
  private failedCommits = 0;
  /** Held readings the bound dropped during the current fault, per sensor. */
  private lostNow = new Map<string, number>();
  /** Held readings the bound dropped and the store has not yet counted on disk. */
  private lostUncounted = 0;
  private lostTotal = 0;
  /** Readings of the commit under way: still held, until it succeeds. */
  private committing = 0;
  /** The highest reading id before this process: rows above it were taken by this process. */
  private idsBefore = 0;
  /** The previous pruning's cutoff, and the monotonic time it was taken at. */
  private lastPrune: { cutoff: number; monotonic: number } | undefined;

  private constructor(
    private readonly db: Database,
    private options: StoreOptions,
    private readonly diagnose: (error: unknown) => WriteFault,
  ) {}

  /**
   * Opens the store at `path`, creating it if needed. A damaged one (agent/store-recovery.ts) is kept aside and
   * replaced by a fresh store holding what could be read of it: `recoveredNow` then says what happened. On a disk
   * without SPACE_TO_OPEN_BYTES free it fails with ENOSPC before touching anything; SQLite's SQLITE_FULL says the
   * space ran out during the open (agent/store-open.ts waits for space in both cases).
   */
  static async open(path: string, options: StoreOptions): Promise<Store> {
    mkdirSync(dirname(path), { recursive: true });
    const space = spaceLeft(dirname(path));
    if (space < SPACE_TO_OPEN_BYTES) {
      throw Object.assign(new Error(`no space to open the store: ${space} bytes free in ${dirname(path)}, it needs ${SPACE_TO_OPEN_BYTES}`), { code: "ENOSPC" });
    }
    const now = new Date();
    const strayWal = setAsideStrayWal(path, now);
    const damage = await findDamage(path, MIGRATIONS.length);
    const recoveredNow = damage === undefined ? undefined : await recoverStore(path, damage, now, migrate);
    const db = await Database.open(path);
    try {
      // A 512 KiB page cache instead of SQLite's 2 MB: appends, the outbox and acknowledgements touch the tables'
      // last pages only, and the OS caches the file anyway (docs/benchmark-results.md: 1.6 MB less, same CPU).
      await db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = ${PAGE_CACHE_KIB};`);
      await migrate(db);
      await options.onConnection?.(db);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    const store = new Store(db, options, options.diagnose ?? ((error) => diagnoseWriteFailure(error, dirname(path))));
    store.strayWal = strayWal;
    store.recoveredNow = recoveredNow;
    store.unprovenRecovery = await latestRecovery(db, "AND sequences_proven_at IS NULL");
    for (const row of await db.all<{ sensor_id: string; last_seq: number }>("SELECT sensor_id, last_seq FROM sensors")) {
      store.lastSeq.set(row.sensor_id, row.last_seq);
    }
    store.unsentRows = (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM readings WHERE ${IN_OUTBOX}`))?.n ?? 0;
    store.setAsideTotal = (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings WHERE set_aside_at IS NOT NULL"))?.n ?? 0;
    store.droppedTotal = (await db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'dropped'"))?.value ?? 0;
    store.lostTotal = (await db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'lost_unwritable'"))?.value ?? 0;
    store.idsBefore = (await db.get<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'readings'"))?.seq ?? 0;
    store.startTimers();
    return store;
  }

  /** New bounds (a reloaded config): they apply from the next commit; nothing stored is touched until then. */
  reconfigure(limits: StoreLimits): void {
    this.options = { ...this.options, ...limits };
    this.startTimers();
  }

  private startTimers(): void {
    clearInterval(this.timer);
    clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    this.timer = setInterval(() => void this.commitIfDue(), this.options.commitIntervalMs);
    const retention = this.options.retentionMs;
    if (retention !== undefined) {
      this.pruneTimer = setInterval(() => void this.prune().catch(() => undefined), Math.min(PRUNE_EVERY_MS, retention));
      this.pruneTimer.unref();
    }
  }

  /**
   * Gives the sample its sequence number and queues it for the next commit. Taken while the clock is not trusted,
   * it is marked `unsynced`, and the clock's offset from the monotonic clock is kept to correct it later.
   */
  append(sample: Sample): Reading {
    return this.appendTaken(takenUnder(sample, this.options.clock ?? trustedSystemClock));
  }

  /**
   * Appends readings held in memory before the store opened (agent/held-before-open.ts), in the order given, each
   * under the clock state it was taken under; `lost` more were dropped by their bound, and are counted as held
   * readings lost while commits fail are (recorded with the next commit). Returns them numbered.
   */
  appendHeld(samples: readonly ClockedSample[], lost: number): Reading[] {
    if (this.closed) throw new Error("store is closed");
    this.lostUncounted += lost;
    this.lostTotal += lost;
    return samples.map((sample) => this.appendTaken(sample));
  }

  private appendTaken(sample: ClockedSample): Reading {
    if (this.closed) throw new Error("store is closed");
    const seq = (this.lastSeq.get(sample.sensorId) ?? 0) + 1;
    this.lastSeq.set(sample.sensorId, seq);
    this.pending.push(sample);
    this.pendingSeqs.push(seq);
    if (this.fault) this.holdWithinBound();
    return { ...withoutOffset(sample), seq };
  }

  /**
   * The clock is synchronized now, `offsetMs` ahead of the monotonic clock: every reading this process took
   * before, marked `unsynced`, gets its timestamp from the monotonic clock (its monotonic time plus that offset)
   * and is marked `corrected`. So is every reading an earlier process of the same boot took (the monotonic clock
   * counts from the boot). Readings of an earlier boot stay `unsynced`: the monotonic clock restarts with each
   * boot, so nothing relates their time to this one. Returns how many were corrected.
   */
  async correctClock(offsetMs: number): Promise<number> {
    if (this.closed) return 0;
    return this.db.exclusive(async () => {
      let corrected = 0;
      this.pending = this.pending.map((sample) => {
        const set = correctedUnder(sample, offsetMs);
        if (set !== sample) corrected += 1;
        return set;
      });
      const { changes } = await this.db.run(
        "UPDATE readings SET ts = ts - clock_offset + ?, clock = 'corrected', clock_offset = NULL, clock_boot = NULL WHERE clock = 'unsynced' AND clock_offset IS NOT NULL AND (id > ? OR clock_boot = ?)",
        [offsetMs, this.idsBefore, (this.options.clock ?? trustedSystemClock).bootId ?? null],
      );
      return corrected + changes;
    });
  }

  /** The bound on held readings: store.maxReadings, and never more than MAX_HELD_READINGS. */
  private get maxHeld(): number {
    return heldBound(this.options.maxReadings);
  }

  /**
   * Past the bound, drops the oldest held readings and counts them per sensor. Their numbers were provisional: the
   * sensor's later held readings move down into them, so that the numbers committed stay contiguous.
   */
  private holdWithinBound(): void {
    const excess = this.pending.length - this.maxHeld;
    if (excess <= 0) return;
    const lost = new Map<string, number>();
    for (const sample of this.pending.slice(0, excess)) lost.set(sample.sensorId, (lost.get(sample.sensorId) ?? 0) + 1);
    this.pending = this.pending.slice(excess);
    this.pendingSeqs = this.pendingSeqs.slice(excess).map((seq, i) => seq - (lost.get(this.pending[i]?.sensorId ?? "") ?? 0));
    for (const [sensorId, n] of lost) {
      this.lastSeq.set(sensorId, (this.lastSeq.get(sensorId) ?? n) - n);
      this.lostNow.set(sensorId, (this.lostNow.get(sensorId) ?? 0) + n);
    }
    this.lostUncounted += excess;
    this.lostTotal += excess;
    this.options.onHeldLost?.(lost);
  }

  /** Why the store cannot commit, with what it holds meanwhile; undefined while commits succeed. */
  get commitFault(): StoreFault | undefined {
    if (!this.fault) return undefined;
    return { ...this.fault, held: this.held, maxHeld: this.maxHeld, lost: sum(this.lostNow.values()) };
  }

  /** Readings lost because the store could not commit them, since the store was created. */
  get lostUnwritable(): number {
    return this.lostTotal;
  }

  /** Readings waiting in memory for a commit: a commit interval's worth, or all held while commits fail. */
  get held(): number {
    return this.pending.length + this.committing;
  }

  /**
   * Commits now unless commits are failing and the next attempt is not yet due; never throws (a failure is
   * recorded as the store's fault). The timer, and readers that want what was appended, call this.
   */
  private async commitIfDue(): Promise<void> {
    if (this.closed || (this.fault && performance.now() < this.retryAt)) return;
    await this.flush().catch(() => undefined);
  }

  /** Records that a sensor is failing (or, without `error`, works again); applied with the next commit. */
  setSensorError(sensorId: string, error?: string, since?: Date): void {
    this.sensorErrors.set(sensorId, { error, since });
  }

  /** Records that the server accepted this reading; applied with the next commit. */
  markPublished(id: number): void {
    this.acked.push(id);
  }

  /**
   * Records that the server refuses this reading for good: it leaves the outbox but stays in the store, marked
   * with the reason; applied with the next commit.
   */
  setAside(id: number, reason: string): void {
    this.refused.push({ id, reason, at: Date.now() });
  }

  onCommitted(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Told after each commit that changed sensors' errors, after the readings of the same commit. */
  onSensorErrorsCommitted(listener: SensorErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Commits everything appended or acknowledged so far, in one transaction. */
  flush(): Promise<void> {
    return this.db.exclusive(async () => {
      const samples = this.pending;
      const seqs = this.pendingSeqs;
      const acked = this.acked;
      const sensorErrors = this.sensorErrors;
      const refused = this.refused;
      if (samples.length === 0 && acked.length === 0 && refused.length === 0 && sensorErrors.size === 0) return;
      this.pending = [];
      this.pendingSeqs = [];
      this.acked = [];
      this.refused = [];
      this.sensorErrors = new Map();
      const committed: StoredReading[] = [];
      const lostCounted = this.lostUncounted;
      this.committing = samples.length;
      let dropped = new Map<string, number>();
      // Applied once the transaction committed: COMMIT itself fails when the WAL cannot grow (disk full).
      let unsentAfter = this.unsentRows;
      let lastDroppedId = this.lastDroppedId;
      let setAside = 0;
      try {
        await this.db.transaction(async () => {
          for (let start = 0; start < samples.length; start += ROWS_PER_STATEMENT) {
            const chunk = samples.slice(start, start + ROWS_PER_STATEMENT);
            const params = chunk.flatMap((sample, i) => [
              sample.sensorId,
              seqs[start + i] ?? 0,
              sample.timestamp.getTime(),
              JSON.stringify(sample.fields),
              sample.clock ?? null,
              sample.clockOffsetMs ?? null,
              sample.clockBoot ?? null,
            ]);
            const { lastID } = await this.db.run(
              `INSERT INTO readings (sensor_id, seq, ts, fields, clock, clock_offset, clock_boot) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
              params,
            );
            // Rows of one multi-row INSERT get consecutive ids ending at lastID.
            chunk.forEach((sample, i) =>
              committed.push({ ...withoutOffset(sample), seq: seqs[start + i] ?? 0, id: lastID - chunk.length + 1 + i }),
            );
          }
          const latest = new Map<string, number>();
          for (const reading of committed) latest.set(reading.sensorId, reading.seq);
          for (const [sensorId, seq] of latest) {
            await this.db.run(
              "INSERT INTO sensors (sensor_id, last_seq) VALUES (?, ?) ON CONFLICT (sensor_id) DO UPDATE SET last_seq = excluded.last_seq",
              [sensorId, seq],
            );
          }
          const now = Date.now();
          let unsent = this.unsentRows + committed.length;
          for (let start = 0; start < acked.length; start += ROWS_PER_STATEMENT) {
            const chunk = acked.slice(start, start + ROWS_PER_STATEMENT);
            const { changes } = await this.db.run(
              `UPDATE readings SET published_at = ? WHERE ${IN_OUTBOX} AND id IN (${chunk.map(() => "?").join(", ")})`,
              [now, ...chunk],
            );
            unsent -= changes;
          }
          for (const { id, reason, at } of refused) {
            const { changes } = await this.db.run(`UPDATE readings SET set_aside = ?, set_aside_at = ? WHERE ${IN_OUTBOX} AND id = ?`, [reason, at, id]);
            unsent -= changes;
            setAside += changes;
          }
          for (const [sensorId, { error, since }] of sensorErrors) {
            await this.db.run(
              `INSERT INTO sensors (sensor_id, last_seq, error, error_since) VALUES (?, 0, ?, ?)
               ON CONFLICT (sensor_id) DO UPDATE SET error = excluded.error, error_since = excluded.error_since`,
              [sensorId, error ?? null, since?.getTime() ?? null],
            );
          }
          if (lostCounted > 0) {
            await this.db.run(
              "INSERT INTO counters (name, value) VALUES ('lost_unwritable', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
              [lostCounted],
            );
          }
          ({ bySensor: dropped, lastId: lastDroppedId } = await this.enforceBound(unsent));
          unsentAfter = unsent - sum(dropped.values());
        });
      } catch (error) {
        // Put everything back so the next commit tries again; the bound on held readings applies from now on.
        this.committing = 0;
        this.pending = samples.concat(this.pending);
        this.pendingSeqs = seqs.concat(this.pendingSeqs);
        this.acked = acked.concat(this.acked);
        this.refused = refused.concat(this.refused);
        for (const [sensorId, change] of sensorErrors) if (!this.sensorErrors.has(sensorId)) this.sensorErrors.set(sensorId, change);
        this.commitFailed(error);
        throw error;
      }
      this.committing = 0;
      this.unsentRows = unsentAfter;
      this.lastDroppedId = lastDroppedId;
      this.lostUncounted -= lostCounted;
      if (this.fault) this.commitRecovered(committed.length);
      this.setAsideTotal += setAside;
      const droppedNow = sum(dropped.values());
      if (droppedNow > 0) {
        this.droppedTotal += droppedNow;
        this.options.onDropped?.(droppedNow, this.droppedTotal, dropped);
      }
      const kept = droppedNow > 0 ? committed.filter((reading) => reading.id > this.lastDroppedId) : committed;
      if (kept.length > 0) for (const listener of this.listeners) listener(kept);
      if (sensorErrors.size > 0) {
        const changes = [...sensorErrors].map(([sensorId, change]) => ({ sensorId, ...change }));
        for (const listener of this.errorListeners) listener(changes);
      }
    });
  }


  private commitFailed(error: unknown): void {
    this.failedCommits += 1;
    this.retryAt = performance.now() + Math.min(MAX_COMMIT_RETRY_MS, this.options.commitIntervalMs * 2 ** Math.min(this.failedCommits - 1, 16));
    const entering = !this.fault;
    this.fault ??= { ...this.diagnose(error), since: new Date() };
    this.holdWithinBound();
    if (entering) this.options.onCommitFailing?.({ ...this.fault, held: this.held, maxHeld: this.maxHeld, lost: sum(this.lostNow.values()) });
  }

  private commitRecovered(committed: number): void {
    const fault = this.commitFault;
    const lostBySensor = this.lostNow;
    this.fault = undefined;
    this.failedCommits = 0;
    this.retryAt = 0;
    this.lostNow = new Map();
    if (fault) this.options.onCommitRecovered?.({ fault: { ...fault, held: 0 }, committed, lostBySensor });
  }

  /** Past maxReadings unsent rows, deletes the oldest unsent ones and counts them, per sensor; inside the commit. */
  private async enforceBound(unsent: number): Promise<{ bySensor: Map<string, number>; lastId: number }> {
    const bySensor = new Map<string, number>();
    const max = this.options.maxReadings;
    if (max === undefined || unsent <= max) return { bySensor, lastId: this.lastDroppedId };
    const excess = unsent - max;
    const last = await this.db.get<{ id: number }>(
      `SELECT id FROM readings WHERE ${IN_OUTBOX} ORDER BY id LIMIT 1 OFFSET ?`,
      [excess - 1],
    );
    if (!last) return { bySensor, lastId: this.lastDroppedId };
    // Set-aside readings are no longer in the outbox: the bound never deletes them.
    const doomed = await this.db.all<{ sensor_id: string; n: number }>(
      `SELECT sensor_id, COUNT(*) AS n FROM readings WHERE ${IN_OUTBOX} AND id <= ? GROUP BY sensor_id`,
      [last.id],
    );
    for (const row of doomed) bySensor.set(row.sensor_id, row.n);
    const { changes } = await this.db.run(`DELETE FROM readings WHERE ${IN_OUTBOX} AND id <= ?`, [last.id]);
    await this.db.run(
      "INSERT INTO counters (name, value) VALUES ('dropped', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
      [changes],
    );
    return { bySensor, lastId: last.id };
  }

  /**
   * Deletes published readings older than the retention, a bounded batch per transaction. Nothing while the clock
   * is not trusted (an age on it means nothing), and the cutoff never moves on faster than the monotonic clock:
   * a wall clock jumping hours forward keeps those hours longer rather than deleting them at once.
   */
  async prune(now: number = Date.now()): Promise<number> {
    const retention = this.options.retentionMs;
    const clock = this.options.clock ?? trustedSystemClock;
    if (retention === undefined || this.closed || !clock.trusted) return 0;
    const monotonic = clock.monotonic();
    const last = this.lastPrune;
    const cutoff = last ? Math.min(now - retention, last.cutoff + (monotonic - last.monotonic)) : now - retention;
    this.lastPrune = { cutoff, monotonic };
    let total = 0;
    for (;;) {
      const { changes } = await this.db.exclusive(() =>
        this.db.run(
          "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE published_at IS NOT NULL AND ts < ? ORDER BY id LIMIT ?)",
          [cutoff, PRUNE_BATCH],
        ),
      );
      total += changes;
      if (changes < PRUNE_BATCH) return total;
    }
  }

  /** What this start found damaged and recovered from; undefined when the store opened as it was. */
  get recovery(): StoreRecovery | undefined {
    return this.recoveredNow;
  }

  /** A WAL file SQLite would have ignored (not a WAL, or torn), moved aside at this start. */
  get strayWalKept(): StrayWal | undefined {
    return this.strayWal;
  }

  /**
   * Whether the sequence numbers still need the pubsub nodes' word: after a recovery nothing in the store proves
   * which item ids were published (the lost part may have held later ones), until `continueAfter` ran for every
   * sensor and `sequencesProven` recorded it.
   */
  get sequencesUnproven(): boolean {
    return this.unprovenRecovery !== undefined;
  }

  /**
   * Makes a sensor's sequence continue after `published`, the highest item id its node holds. Readings sampled
   * since the recovery that got numbers at or below it (never published: the publisher waits for this) are
   * renumbered after it, in order; readings carried over keep theirs, being the very readings published under
   * those ids. Returns by how much the numbers moved (0 when nothing had to).
   */
  async continueAfter(sensorId: string, published: number): Promise<number> {
    const recovery = this.unprovenRecovery;
    if (recovery === undefined) return 0;
    await this.flush();
    return this.db.exclusive(async () => {
      const newer = await this.db.get<{ first: number | null }>("SELECT MIN(seq) AS first FROM readings WHERE sensor_id = ? AND id > ?", [
        sensorId,
        recovery.lastRecoveredId,
      ]);
      const pendingFirst = this.pending.findIndex((sample) => sample.sensorId === sensorId);
      const firstNew = newer?.first ?? (pendingFirst >= 0 ? this.pendingSeqs[pendingFirst] : undefined) ?? (this.lastSeq.get(sensorId) ?? 0) + 1;
      const shift = Math.max(0, published + 1 - firstNew);
      if (shift === 0) return 0;
      await this.db.transaction(async () => {
        // Through negative numbers, so that no row meets another's old number on the way (UNIQUE (sensor_id, seq)).
        await this.db.run("UPDATE readings SET seq = -(seq + ?) WHERE sensor_id = ? AND id > ?", [shift, sensorId, recovery.lastRecoveredId]);
        await this.db.run("UPDATE readings SET seq = -seq WHERE sensor_id = ? AND seq < 0", [sensorId]);
        await this.db.run(
          "INSERT INTO sensors (sensor_id, last_seq) VALUES (?, ?) ON CONFLICT (sensor_id) DO UPDATE SET last_seq = last_seq + ?",
          [sensorId, published, shift],
        );
      });
      // Readings appended meanwhile were numbered from the old last number: they move with the rest.
      this.pending.forEach((sample, i) => {
        if (sample.sensorId === sensorId) this.pendingSeqs[i] = (this.pendingSeqs[i] ?? 0) + shift;
      });
      this.lastSeq.set(sensorId, (this.lastSeq.get(sensorId) ?? 0) + shift);
      return shift;
    });
  }

  /** Every sensor the store has numbered readings for. */
  get sensorIds(): string[] {
    return [...this.lastSeq.keys()];
  }

  /** Records that every sensor's sequence was checked against its node (`continueAfter`): item ids are safe again. */
  async sequencesProven(at: Date = new Date()): Promise<void> {
    if (this.unprovenRecovery === undefined) return;
    await this.db.exclusive(() => this.db.run("UPDATE store_recoveries SET sequences_proven_at = ? WHERE sequences_proven_at IS NULL", [at.getTime()]));
    this.unprovenRecovery = undefined;
  }

  /** Readings dropped by the bound since the store was created. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Readings the service refused for good, set aside in the store (applied ones only). */
  get setAsideCount(): number {
    return this.setAsideTotal;
  }

  /** Unsent readings on disk plus those waiting for the next commit, less those published but not yet recorded. */
  get buffered(): number {
    return this.unsentRows - this.acked.length - this.refused.length + this.pending.length;
  }

  /**
   * Unpublished readings in commit order with id > afterId; pending acknowledgements are committed first. While
   * commits fail, those not yet recorded are left out all the same: a reading is never sent twice for that.
   */
  async unsent(afterId: number, limit: number): Promise<StoredReading[]> {
    await this.commitIfDue();
    const leftOut = new Set([...this.acked, ...this.refused.map((refusal) => refusal.id)].filter((id) => id > afterId));
    const rows = await this.db.exclusive(() =>
      this.db.all<ReadingRow>(
        `SELECT ${READING_COLUMNS} FROM readings WHERE ${IN_OUTBOX} AND id > ? ORDER BY id LIMIT ?`,
        [afterId, limit + leftOut.size],
      ),
    );
    return rows.filter((row) => !leftOut.has(row.id)).slice(0, limit).map(toReading);
  }

  /**
   * A sensor's stored readings (published or not) with from <= timestamp < to, in sequence order: the first `limit`
   * of them, or with `newest` the last `limit`.
   */
  async history(sensorId: string, range: { from?: Date; to?: Date; limit?: number; newest?: boolean } = {}): Promise<StoredReading[]> {
    await this.commitIfDue();
    const inRange = `SELECT ${READING_COLUMNS}, published_at FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ?`;
    const sql = range.newest ? `SELECT * FROM (${inRange} ORDER BY seq DESC LIMIT ?) ORDER BY seq` : `${inRange} ORDER BY seq LIMIT ?`;
    const rows = await this.db.exclusive(() =>
      this.db.all<ReadingRow>(sql, [sensorId, range.from?.getTime() ?? 0, range.to?.getTime() ?? Number.MAX_SAFE_INTEGER, range.limit ?? -1]),
    );
    return rows.map(toReading);
  }

  /**
   * Appends to the audit trail and commits at once, not with the next reading commit: control actions are rare,
   * and a trail that can lose its last second is no audit trail.
   */
  async audit(entry: AuditEntry): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() =>
      this.db.run("INSERT INTO audit (ts, requester, via, nodes, params, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        entry.at.getTime(),
        entry.requester,
        entry.via,
        JSON.stringify(entry.nodeIds),
        JSON.stringify(entry.values),
        entry.result,
        entry.detail ?? null,
      ]),
    );
  }

  /** The newest `limit` audit entries, newest first. */
  async auditLog(limit: number): Promise<AuditEntry[]> {
    const rows = await this.db.exclusive(() =>
      this.db.all<AuditRow>("SELECT ts, requester, via, nodes, params, result, detail FROM audit ORDER BY id DESC LIMIT ?", [limit]),
    );
    return rows.map((row) => ({
      at: new Date(row.ts),
      requester: row.requester,
      via: row.via,
      nodeIds: JSON.parse(row.nodes) as string[],
      values: JSON.parse(row.params) as AuditEntry["values"],
      result: row.result as AuditEntry["result"],
      ...(row.detail !== null ? { detail: row.detail } : {}),
    }));
  }

  /** Appends to the remote configuration's audit trail, committed at once like `audit`. */
  async auditConfig(entry: ConfigAuditEntry): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() =>
      this.db.run("INSERT INTO config_audit (ts, requester, via, summary, result, detail) VALUES (?, ?, ?, ?, ?, ?)", [
        entry.at.getTime(),
        entry.requester,
        entry.via,
        entry.summary,
        entry.result,
        entry.detail ?? null,
      ]),
    );
  }

  /** The newest `limit` entries of the remote configuration's audit trail, newest first. */
  async configAuditLog(limit: number): Promise<ConfigAuditEntry[]> {
    const rows = await this.db.exclusive(() =>
      this.db.all<ConfigAuditRow>("SELECT ts, requester, via, summary, result, detail FROM config_audit ORDER BY id DESC LIMIT ?", [limit]),
    );
    return rows.map((row) => ({
      at: new Date(row.ts),
      requester: row.requester,
      via: row.via,
      summary: row.summary,
      result: row.result as ConfigAuditEntry["result"],
      ...(row.detail !== null ? { detail: row.detail } : {}),
    }));
  }

  /** Keeps a timed action (replacing one on the same parameter), committed at once like `audit`. */
  async saveTimedAction(action: TimedAction): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() =>
      this.db.run(
        "INSERT OR REPLACE INTO timed_actions (node_id, parameter, set_value, revert_value, requester, via, set_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [action.nodeId, action.parameter, action.setValue, action.revertValue, action.requester, action.via, action.setAt, action.dueAt],
      ),
    );
  }

  /** Forgets the timed action on one parameter, if any. */
  async deleteTimedAction(nodeId: string, parameter: string): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() => this.db.run("DELETE FROM timed_actions WHERE node_id = ? AND parameter = ?", [nodeId, parameter]));
  }

  /** Every kept timed action, soonest due first. */
  async timedActions(): Promise<TimedAction[]> {
    const rows = await this.db.exclusive(() =>
      this.db.all<TimedActionRow>(
        "SELECT node_id, parameter, set_value, revert_value, requester, via, set_at, due_at FROM timed_actions ORDER BY due_at, node_id, parameter",
      ),
    );
    return rows.map((row) => ({
      nodeId: row.node_id,
      parameter: row.parameter,
      setValue: row.set_value,
      revertValue: row.revert_value,
      requester: row.requester,
      via: row.via,
      setAt: row.set_at,
      dueAt: row.due_at,
    }));
  }

  /** Keeps a watch and returns its id, committed at once like `audit`. */
  async saveWatch(watch: WatchSpec): Promise<number> {
    if (this.closed) throw new Error("store is closed");
    const { lastID } = await this.db.exclusive(() =>
      this.db.run("INSERT INTO watches (owner, sensor_id, field, condition, for_ms, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
        watch.owner,
        watch.sensorId,
        watch.field ?? null,
        JSON.stringify(watch.condition),
        watch.forMs,
        watch.createdAt,
      ]),
    );
    return lastID;
  }

  async deleteWatch(id: number): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() => this.db.run("DELETE FROM watches WHERE id = ?", [id]));
  }

  /** Every kept watch, oldest first. */
  async watches(): Promise<StoredWatch[]> {
    const rows = await this.db.exclusive(() =>
      this.db.all<{ id: number; owner: string; sensor_id: string; field: string | null; condition: string; for_ms: number; created_at: number }>(
        "SELECT id, owner, sensor_id, field, condition, for_ms, created_at FROM watches ORDER BY id",
      ),
    );
    return rows.map((row) => ({
      id: row.id,
      owner: row.owner,
      sensorId: row.sensor_id,
      ...(row.field !== null ? { field: row.field } : {}),
      condition: JSON.parse(row.condition) as StoredWatch["condition"],
      forMs: row.for_ms,
      createdAt: row.created_at,
    }));
  }

  /** Queues an alert message for when the link is back; past `max` queued, the oldest go. Returns how many went. */
  async queueAlert(alert: Omit<QueuedAlert, "id">, max: number): Promise<number> {
    if (this.closed) throw new Error("store is closed");
    return this.db.exclusive(() =>
      this.db.transaction(async () => {
        await this.db.run("INSERT INTO alert_outbox (recipient, body, queued_at) VALUES (?, ?, ?)", [alert.recipient, alert.body, alert.queuedAt]);
        const { changes } = await this.db.run("DELETE FROM alert_outbox WHERE id NOT IN (SELECT id FROM alert_outbox ORDER BY id DESC LIMIT ?)", [max]);
        return changes;
      }),
    );
  }

  /** The queued alert messages, in the order they were queued. */
  async queuedAlerts(): Promise<QueuedAlert[]> {
    const rows = await this.db.exclusive(() =>
      this.db.all<{ id: number; recipient: string; body: string; queued_at: number }>("SELECT id, recipient, body, queued_at FROM alert_outbox ORDER BY id"),
    );
    return rows.map((row) => ({ id: row.id, recipient: row.recipient, body: row.body, queuedAt: row.queued_at }));
  }

  async deleteQueuedAlert(id: number): Promise<void> {
    if (this.closed) throw new Error("store is closed");
    await this.db.exclusive(() => this.db.run("DELETE FROM alert_outbox WHERE id = ?", [id]));
  }

  async status(): Promise<StoreStatus> {
    await this.commitIfDue();
    return this.db.exclusive(() => readStatus(this.db));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    clearInterval(this.pruneTimer);
    try {
      await this.flush();
    } catch (error) {
      const held = this.pending.length;
      this.closed = true;
      await this.db.close().catch(() => undefined);
      throw new Error(`${held} readings held in memory could not be committed and are lost: ${errorText(error)}`, { cause: error });
    }
    this.closed = true;
    await this.db.close();
  }
}

async function migrate(db: Database): Promise<void> {
  const row = await db.get<{ user_version: number }>("PRAGMA user_version");
  const version = row?.user_version ?? 0;
  if (version > MIGRATIONS.length) {
    throw new Error(`store schema version ${version} is newer than this xedge understands (${MIGRATIONS.length}); upgrade xedge`);
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    await db.exclusive(() =>
      db.transaction(async () => {
        await db.exec(MIGRATIONS[next] ?? "");
        await db.exec(`PRAGMA user_version = ${next + 1}`);
      }),
    );
  }
}

function toReading(row: ReadingRow): StoredReading {
  const reading: StoredReading = { id: row.id, sensorId: row.sensor_id, seq: row.seq, timestamp: new Date(row.ts), fields: JSON.parse(row.fields) as Field[] };
  if (row.clock === "unsynced" || row.clock === "corrected") reading.clock = row.clock;
  if (row.published_at != null) reading.publishedAt = new Date(row.published_at);
  return reading;
}

/** The sample as a reading shows it: the offset and boot kept for a correction stay in the store. */
function withoutOffset(sample: ClockedSample): Sample {
  const { clockOffsetMs: _kept, clockBoot: _boot, ...reading } = sample;
  return reading;
}

/** Status straight from a database file; `xedge status` uses it while the agent runs (WAL allows the reader). */
export async function readStatus(db: Database): Promise<StoreStatus> {
  const outbox = await db.get<{ n: number; oldest: number | null }>(
    `SELECT COUNT(*) AS n, MIN(ts) AS oldest FROM readings WHERE ${IN_OUTBOX}`,
  );
  const published = await db.get<{ last: number | null }>("SELECT MAX(published_at) AS last FROM readings");
  const dropped = await db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'dropped'");
  const lost = await db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'lost_unwritable'");
  const sensors = await db.all<{ sensor_id: string; last_seq: number; error: string | null; error_since: number | null }>(
    "SELECT sensor_id, last_seq, error, error_since FROM sensors ORDER BY sensor_id",
  );
  const setAside = await db.all<{ sensor_id: string; n: number }>(
    "SELECT sensor_id, COUNT(*) AS n FROM readings WHERE set_aside_at IS NOT NULL GROUP BY sensor_id",
  );
  const setAsideBySensor = new Map(setAside.map((row) => [row.sensor_id, row.n]));
  const lastSetAside = await db.get<{ sensor_id: string; seq: number; set_aside: string; set_aside_at: number }>(
    "SELECT sensor_id, seq, set_aside, set_aside_at FROM readings WHERE set_aside_at IS NOT NULL ORDER BY id DESC LIMIT 1",
  );
  // A store not yet migrated by this xedge has no clock column.
  const marked = await db.get("SELECT 1 FROM pragma_table_info('readings') WHERE name = 'clock'");
  const unsynced = marked ? await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings WHERE clock = 'unsynced'") : undefined;
  const columns = marked ? READING_COLUMNS : "id, sensor_id, seq, ts, fields, NULL AS clock";
  const result: StoreStatus = {
    unsent: outbox?.n ?? 0,
    dropped: dropped?.value ?? 0,
    ...(lost?.value ? { lostUnwritable: lost.value } : {}),
    ...(unsynced?.n ? { unsyncedTimestamps: unsynced.n } : {}),
    setAside: setAside.reduce((sum, row) => sum + row.n, 0),
    ...(lastSetAside
      ? { lastSetAside: { sensorId: lastSetAside.sensor_id, seq: lastSetAside.seq, reason: lastSetAside.set_aside, at: new Date(lastSetAside.set_aside_at) } }
      : {}),
    sensors: [],
  };
  // A store not yet migrated by this xedge has no such table.
  const recorded = await db.get("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'store_recoveries'");
  const lastRecovery = recorded ? await latestRecovery(db) : undefined;
  if (lastRecovery) result.lastRecovery = lastRecovery;
  if (outbox?.oldest != null) result.oldestUnsent = new Date(outbox.oldest);
  if (published?.last != null) result.lastPublished = new Date(published.last);
  for (const sensor of sensors) {
    const last = await db.get<ReadingRow>(
      `SELECT ${columns} FROM readings WHERE sensor_id = ? ORDER BY seq DESC LIMIT 1`,
      [sensor.sensor_id],
    );
    result.sensors.push({
      sensorId: sensor.sensor_id,
      lastSeq: sensor.last_seq,
      ...(last ? { lastReading: toReading(last) } : {}),
      ...(sensor.error !== null ? { error: sensor.error } : {}),
      ...(sensor.error_since !== null ? { errorSince: new Date(sensor.error_since) } : {}),
      ...(setAsideBySensor.has(sensor.sensor_id) ? { setAside: setAsideBySensor.get(sensor.sensor_id) } : {}),
    });
  }
  return result;
}

interface RecoveryRow {
  at: number;
  reason: string;
  kept_as: string;
  readings: number;
  unpublished: number;
  unreadable: string;
  last_recovered_id: number;
  sequences_proven_at: number | null;
}

/** The newest recorded recovery (matching `where`, an AND clause), if any. */
async function latestRecovery(db: Database, where = ""): Promise<StoreRecovery | undefined> {
  const row = await db.get<RecoveryRow>(
    `SELECT at, reason, kept_as, readings, unpublished, unreadable, last_recovered_id, sequences_proven_at FROM store_recoveries WHERE true ${where} ORDER BY id DESC LIMIT 1`,
  );
  if (!row) return undefined;
  return {
    at: new Date(row.at),
    reason: row.reason,
    keptAs: row.kept_as,
    readings: row.readings,
    unpublished: row.unpublished,
    unreadable: row.unreadable,
    lastRecoveredId: row.last_recovered_id,
    ...(row.sequences_proven_at !== null ? { sequencesProvenAt: new Date(row.sequences_proven_at) } : {}),
  };
}

export async function openForStatus(path: string): Promise<{ status: StoreStatus; close: () => Promise<void> }> {
  const db = await Database.open(path, { readonly: true });
  await db.exec("PRAGMA busy_timeout = 5000;");
  return { status: await readStatus(db), close: () => db.close() };
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

// A store whose commits fail, against a real SQLite file: SQLite itself refuses the writes, through limits set on
// the store's own connection. `PRAGMA max_page_count` makes the database "full" (SQLITE_FULL, what a full disk
// gives) and `PRAGMA query_only` refuses every write (SQLITE_READONLY); lifting them is the space freed, the mount
// made writable again. test/resilience/disk-full.test.ts does the same with a real full and a real read-only
// filesystem under the agent.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Sample } from "../lib/model.ts";
import type { Database } from "./sqlite.ts";
import { MAX_HELD_READINGS, Store, type StoreFault, type StoreFaultEnd, type StoreOptions } from "./store.ts";

const NO_AUTO_COMMIT = { commitIntervalMs: 3_600_000 };
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);

function sample(sensorId: string, n: number): Sample {
  // A long string field: a few readings fill a page, so a full database shows within a few commits.
  return { sensorId, timestamp: new Date(T0 + n * 1000), fields: [{ name: "note", type: "string", value: `${n} `.padEnd(400, "x") }] };
}

/** A store with its connection at hand, recording what it reports. */
async function openStore(path: string, options: Partial<StoreOptions> = {}) {
  let connection: Database | undefined;
  const failing: StoreFault[] = [];
  const lost: [string, number][][] = [];
  const recovered: StoreFaultEnd[] = [];
  const store = await Store.open(path, {
    ...NO_AUTO_COMMIT,
    onConnection: async (db) => {
      connection = db;
    },
    onCommitFailing: (fault) => failing.push(fault),
    onHeldLost: (bySensor) => lost.push([...bySensor].sort()),
    onCommitRecovered: (end) => recovered.push(end),
    ...options,
  });
  if (!connection) throw new Error("the store never opened its connection");
  const db = connection;
  const pragma = (sql: string) => db.exclusive(() => db.exec(sql));
  /** Makes the database full: it may not grow past the pages it has. */
  const fill = async () => {
    const pages = await db.exclusive(() => db.get<{ page_count: number }>("PRAGMA page_count"));
    await pragma(`PRAGMA max_page_count = ${pages?.page_count ?? 0}`);
  };
  return { store, pragma, fill, failing, lost, recovered };
}

describe("store: commits that fail (disk full, read-only)", () => {
  let dir: string;
  let count = 0;
  const newPath = () => join(dir, `store-${++count}.db`);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-commit-faults-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a full database: the outbox still drains, new readings are held, and all are committed in order once it has room", async () => {
    const { store, pragma, fill, failing, recovered } = await openStore(newPath());
    try {
      for (let n = 0; n < 5; n++) store.append(sample("boiler", n));
      await store.flush();
      await fill();
      for (let n = 5; n < 40; n++) store.append(sample("boiler", n));
      await assert.rejects(store.flush(), /SQLITE_FULL/);
      assert.equal(failing.length, 1, "one report on entering");
      assert.equal(failing[0]?.cause, "disk-full");
      assert.equal(store.commitFault?.cause, "disk-full");
      assert.equal(store.held, 35);

      // What was committed before still goes out, and its acknowledgements wait in memory without it going out twice.
      const outbox = await store.unsent(0, 100);
      assert.deepEqual(outbox.map((reading) => reading.seq), [1, 2, 3, 4, 5]);
      for (const reading of outbox.slice(0, 3)) store.markPublished(reading.id);
      assert.deepEqual((await store.unsent(0, 100)).map((reading) => reading.seq), [4, 5]);
      assert.deepEqual((await store.unsent(0, 1)).map((reading) => reading.seq), [4], "a page is full even with acknowledgements left out");
      assert.equal(store.buffered, 2 + 35);
      await assert.rejects(store.flush(), /SQLITE_FULL/);
      assert.equal(failing.length, 1, "still one report");

      await pragma("PRAGMA max_page_count = 1073741823");
      await store.flush();
      assert.equal(store.commitFault, undefined);
      assert.equal(recovered.length, 1);
      assert.equal(recovered[0]?.committed, 35);
      assert.equal(recovered[0]?.fault.lost, 0);
      assert.deepEqual((await store.history("boiler")).map((reading) => reading.seq), Array.from({ length: 40 }, (_, i) => i + 1));
      assert.deepEqual((await store.unsent(0, 100)).map((reading) => reading.seq).slice(0, 3), [4, 5, 6], "the acknowledgements were committed with them");
      const status = await store.status();
      assert.equal(status.unsent, 37);
      assert.equal(status.lostUnwritable, undefined);
    } finally {
      await store.close();
    }
  });

  it("past the bound the oldest held readings go, counted per sensor; the numbers committed stay contiguous", async () => {
    const path = newPath();
    const { store, pragma, fill, lost, recovered } = await openStore(path, { maxReadings: 10 });
    try {
      store.append(sample("boiler", 0));
      store.append(sample("gps", 0));
      await store.flush();
      // Published, so that the outbox's own bound (also 10) has nothing to drop once the held ones are in.
      store.markPublished(1);
      store.markPublished(2);
      await store.flush();
      await fill();
      // 15 held, boiler and gps interleaved: 5 past the bound of 10.
      for (let n = 1; n < 8; n++) {
        store.append(sample("boiler", n));
        store.append(sample("gps", n));
      }
      store.append(sample("boiler", 8));
      await assert.rejects(store.flush(), /SQLITE_FULL/);
      assert.equal(store.held, 10);
      assert.deepEqual(lost.flat().reduce((total, [, n]) => total + n, 0), 5);
      store.append(sample("boiler", 9));
      assert.equal(store.held, 10);
      assert.equal(store.commitFault?.lost, 6);
      assert.equal(store.lostUnwritable, 6);

      await pragma("PRAGMA max_page_count = 1073741823");
      await store.flush();
      const lostBySensor = Object.fromEntries(recovered[0]?.lostBySensor ?? []);
      assert.deepEqual(lostBySensor, { boiler: 3, gps: 3 });
      const boiler = await store.history("boiler");
      const gps = await store.history("gps");
      assert.deepEqual(boiler.map((reading) => reading.seq), [1, 2, 3, 4, 5, 6, 7], "10 boiler readings, 3 lost: numbered 1..7 without a gap");
      assert.deepEqual(gps.map((reading) => reading.seq), [1, 2, 3, 4, 5]);
      // The newest were kept: the held ones from the oldest kept on, in order.
      assert.deepEqual(boiler.map((reading) => reading.timestamp.getTime() - T0), [0, 4, 5, 6, 7, 8, 9].map((n) => n * 1000));
      assert.deepEqual(gps.map((reading) => reading.timestamp.getTime() - T0), [0, 4, 5, 6, 7].map((n) => n * 1000));
      assert.equal((await store.status()).lostUnwritable, 6);
    } finally {
      await store.close();
    }
    const reopened = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.equal(reopened.lostUnwritable, 6, "the count survives a restart");
      assert.equal(reopened.append(sample("boiler", 10)).seq, 8);
    } finally {
      await reopened.close();
    }
  });

  it("a store that refuses writes: reported as read-only, retried until it takes them; closing while it refuses says what is lost", async () => {
    const path = newPath();
    const { store, pragma, failing, recovered } = await openStore(path);
    store.append(sample("boiler", 0));
    await store.flush();
    await pragma("PRAGMA query_only = 1");
    store.append(sample("boiler", 1));
    await assert.rejects(store.flush(), /SQLITE_READONLY/);
    assert.equal(failing[0]?.cause, "read-only");
    assert.match(failing[0]?.fix ?? "", /remount,rw/);
    assert.ok(failing[0]?.mount.startsWith("/"), "names the mount point");
    await pragma("PRAGMA query_only = 0");
    store.append(sample("boiler", 2));
    await store.flush();
    assert.equal(recovered[0]?.committed, 2);
    await pragma("PRAGMA query_only = 1");
    store.append(sample("boiler", 3));
    store.append(sample("boiler", 4));
    await assert.rejects(store.close(), /^Error: 2 readings held in memory could not be committed and are lost: SQLITE_READONLY/);
    const reopened = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.deepEqual((await reopened.history("boiler")).map((reading) => reading.seq), [1, 2, 3]);
      assert.equal(reopened.append(sample("boiler", 5)).seq, 4, "the lost readings were never published: their numbers are free");
    } finally {
      await reopened.close();
    }
  });

  it("holds at most MAX_HELD_READINGS whatever store.maxReadings says", async () => {
    const { store, pragma, fill } = await openStore(newPath(), { maxReadings: 1_000_000 });
    try {
      await fill();
      for (let n = 0; n < MAX_HELD_READINGS + 10; n++) store.append(sample("fast", n));
      await assert.rejects(store.flush(), /SQLITE_FULL/);
      assert.equal(store.held, MAX_HELD_READINGS);
      assert.equal(store.lostUnwritable, 10);
    } finally {
      await pragma("PRAGMA max_page_count = 1073741823");
      await store.close();
    }
  });
});

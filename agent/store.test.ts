// The store against a real SQLite file in a temp folder.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatFieldValue, type Field, type Sample } from "../lib/model.ts";
import { Database } from "./sqlite.ts";
import { openForStatus, Store, type StoredReading } from "./store.ts";

/** Long enough that the store's own commit timer never fires during a test: commits happen when the test says. */
const NO_AUTO_COMMIT = { commitIntervalMs: 3_600_000 };
/** The store has one schema migration so far. */
const MIGRATION_COUNT = 10;

let dir: string;
let dbCount = 0;
const newPath = () => join(dir, `store-${++dbCount}.db`);

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);

function sample(sensorId: string, n: number, fields?: Field[]): Sample {
  return {
    sensorId,
    timestamp: new Date(T0 + n * 1000),
    fields: fields ?? [{ name: "temperature", type: "numeric", value: 20 + n / 100, unit: "°C", decimals: 2 }],
  };
}

async function countRows(path: string): Promise<number> {
  const db = await Database.open(path, { readonly: true });
  try {
    return (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings"))?.n ?? -1;
  } finally {
    await db.close();
  }
}

describe("Store", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-store-test-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("numbers each sensor's readings 1, 2, 3 independently", async () => {
    const store = await Store.open(newPath(), NO_AUTO_COMMIT);
    try {
      const seqs = ["a", "b", "a", "a", "b", "c"].map((id, n) => [id, store.append(sample(id, n)).seq]);
      assert.deepEqual(seqs, [
        ["a", 1],
        ["b", 1],
        ["a", 2],
        ["a", 3],
        ["b", 2],
        ["c", 1],
      ]);
    } finally {
      await store.close();
    }
  });

  it("history gives the first `limit` readings in a range, or with `newest` the last, both in sequence order", async () => {
    const store = await Store.open(newPath(), NO_AUTO_COMMIT);
    try {
      for (let n = 0; n < 6; n++) store.append(sample("a", n));
      store.append(sample("b", 9));
      const seqs = async (range: Parameters<Store["history"]>[1]) => (await store.history("a", range)).map((r) => r.seq);
      assert.deepEqual(await seqs({ limit: 3 }), [1, 2, 3]);
      assert.deepEqual(await seqs({ limit: 3, newest: true }), [4, 5, 6]);
      assert.deepEqual(await seqs({ newest: true }), [1, 2, 3, 4, 5, 6]);
    } finally {
      await store.close();
    }
  });

  it("continues each sequence after close and reopen, never reusing a number", async () => {
    const path = newPath();
    const first = await Store.open(path, NO_AUTO_COMMIT);
    for (let n = 0; n < 3; n++) first.append(sample("boiler", n));
    first.append(sample("attic", 0));
    await first.flush();
    await first.close();

    const second = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.equal(second.append(sample("boiler", 3)).seq, 4);
      assert.equal(second.append(sample("attic", 1)).seq, 2);
      assert.equal(second.append(sample("new", 0)).seq, 1);
      await second.flush();
      const all = await second.unsent(0, 100);
      assert.deepEqual(
        all.map((r) => `${r.sensorId}#${r.seq}`),
        ["boiler#1", "boiler#2", "boiler#3", "attic#1", "boiler#4", "attic#2", "new#1"],
      );
      const status = await second.status();
      assert.deepEqual(
        status.sensors.map((s) => [s.sensorId, s.lastSeq]),
        [
          ["attic", 2],
          ["boiler", 4],
          ["new", 1],
        ],
      );
    } finally {
      await second.close();
    }
  });

  it("close() commits what was appended", async () => {
    const path = newPath();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    store.append(sample("boiler", 0));
    store.append(sample("boiler", 1));
    await store.close();
    assert.equal(await countRows(path), 2);
    assert.throws(() => store.append(sample("boiler", 2)), /store is closed/);
  });

  it("keeps appended readings out of the database until a commit, then tells listeners in commit order", async () => {
    const path = newPath();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      const heard: StoredReading[][] = [];
      const unsubscribe = store.onCommitted((readings) => heard.push(readings));
      store.append(sample("boiler", 0));
      store.append(sample("attic", 0));
      store.append(sample("boiler", 1));

      assert.equal(await countRows(path), 0, "nothing is in the file before a commit");
      assert.equal(heard.length, 0, "no listener is told before a commit");

      await store.flush();
      assert.equal(await countRows(path), 3);
      assert.equal(heard.length, 1);
      assert.deepEqual(
        heard[0]?.map((r) => [r.id, r.sensorId, r.seq]),
        [
          [1, "boiler", 1],
          [2, "attic", 1],
          [3, "boiler", 2],
        ],
      );

      // A second commit continues the ids; an empty flush tells nobody.
      store.append(sample("attic", 1));
      await store.flush();
      await store.flush();
      assert.equal(heard.length, 2);
      assert.deepEqual(heard[1]?.map((r) => [r.id, r.sensorId, r.seq]), [[4, "attic", 2]]);

      const unsent = await store.unsent(0, 100);
      assert.deepEqual(
        unsent.map((r) => r.id),
        [1, 2, 3, 4],
      );
      assert.deepEqual(
        unsent.map((r) => [r.sensorId, r.seq]),
        heard.flat().map((r) => [r.sensorId, r.seq]),
      );

      unsubscribe();
      store.append(sample("attic", 2));
      await store.flush();
      assert.equal(heard.length, 2, "an unsubscribed listener is not told");
    } finally {
      await store.close();
    }
  });

  it("unsent(afterId, limit) commits pending readings first, then pages in id order", async () => {
    const store = await Store.open(newPath(), NO_AUTO_COMMIT);
    try {
      for (let n = 0; n < 7; n++) store.append(sample(n % 2 === 0 ? "even" : "odd", n));
      const page1 = await store.unsent(0, 3);
      assert.deepEqual(
        page1.map((r) => r.id),
        [1, 2, 3],
      );
      const page2 = await store.unsent(page1.at(-1)?.id ?? 0, 3);
      assert.deepEqual(
        page2.map((r) => r.id),
        [4, 5, 6],
      );
      const page3 = await store.unsent(page2.at(-1)?.id ?? 0, 3);
      assert.deepEqual(
        page3.map((r) => r.id),
        [7],
      );
      assert.deepEqual(await store.unsent(7, 3), []);
      assert.deepEqual(
        (await store.unsent(2, 100)).map((r) => r.id),
        [3, 4, 5, 6, 7],
      );
    } finally {
      await store.close();
    }
  });

  it("markPublished takes readings out of the outbox with the next commit", async () => {
    const store = await Store.open(newPath(), NO_AUTO_COMMIT);
    try {
      for (let n = 0; n < 5; n++) store.append(sample("boiler", n));
      await store.flush();
      let status = await store.status();
      assert.equal(status.unsent, 5);
      assert.equal(status.lastPublished, undefined);
      assert.deepEqual(status.oldestUnsent, new Date(T0));

      const before = Date.now();
      store.markPublished(1);
      store.markPublished(3);
      await store.flush();
      const afterFlush = Date.now();

      assert.deepEqual(
        (await store.unsent(0, 100)).map((r) => r.id),
        [2, 4, 5],
      );
      status = await store.status();
      assert.equal(status.unsent, 3);
      assert.deepEqual(status.oldestUnsent, new Date(T0 + 1000));
      assert.ok(status.lastPublished instanceof Date);
      assert.ok(status.lastPublished.getTime() >= before && status.lastPublished.getTime() <= afterFlush);
      assert.equal(status.dropped, 0);
      assert.equal(status.sensors[0]?.lastSeq, 5);
      assert.equal(status.sensors[0]?.lastReading?.seq, 5);

      // unsent() and status() commit pending acknowledgements themselves.
      store.markPublished(2);
      store.markPublished(4);
      store.markPublished(5);
      assert.deepEqual(await store.unsent(0, 100), []);
      status = await store.status();
      assert.equal(status.unsent, 0);
      assert.equal(status.oldestUnsent, undefined);
    } finally {
      await store.close();
    }
  });

  it("setAside takes a reading out of the outbox but keeps it, marked, counted and out of the bound's reach", async () => {
    const path = newPath();
    const store = await Store.open(path, { ...NO_AUTO_COMMIT, maxReadings: 4 });
    try {
      for (let n = 0; n < 3; n++) store.append(sample("gps", n));
      store.append(sample("boiler", 3));
      await store.flush();
      store.setAside(2, "payload-too-big");
      store.setAside(2, "refused twice: counted once");
      await store.flush();
      assert.deepEqual((await store.unsent(0, 100)).map((r) => r.id), [1, 3, 4]);
      assert.equal(store.setAsideCount, 1);
      assert.equal(store.buffered, 3);
      // Six unsent readings pass the bound of 4: the two oldest unsent go, the set-aside one stays.
      for (let n = 4; n < 7; n++) store.append(sample("boiler", n));
      await store.flush();
      assert.equal(store.dropped, 2);
      assert.deepEqual((await store.history("gps")).map((r) => r.seq), [2]);
    } finally {
      await store.close();
    }
    const reopened = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.equal(reopened.setAsideCount, 1, "the count survives a restart");
      const status = await reopened.status();
      assert.equal(status.unsent, 4);
      assert.equal(status.setAside, 1);
      assert.deepEqual(status.lastSetAside && { ...status.lastSetAside, at: undefined }, { sensorId: "gps", seq: 2, reason: "payload-too-big", at: undefined });
      assert.deepEqual(status.sensors.map((s) => [s.sensorId, s.setAside]), [["boiler", undefined], ["gps", 1]]);
    } finally {
      await reopened.close();
    }
  });

  it("tells onDropped how many readings the bound dropped, in all and per sensor", async () => {
    const calls: [number, number, [string, number][]][] = [];
    const store = await Store.open(newPath(), {
      ...NO_AUTO_COMMIT,
      maxReadings: 3,
      onDropped: (dropped, total, bySensor) => calls.push([dropped, total, [...bySensor].sort()]),
    });
    try {
      store.append(sample("gps", 0));
      store.append(sample("boiler", 1));
      store.append(sample("gps", 2));
      await store.flush();
      assert.deepEqual(calls, [], "at the bound nothing is dropped");
      for (let n = 3; n < 6; n++) store.append(sample("boiler", n));
      await store.flush();
      assert.deepEqual(calls, [[3, 3, [["boiler", 1], ["gps", 2]]]]);
    } finally {
      await store.close();
    }
  });

  it("round-trips fields, keeping numeric decimals, units and flags", async () => {
    const path = newPath();
    const fields: Field[] = [
      { name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2, flags: { momentary: true } },
      { name: "pressure", type: "numeric", value: 1013, unit: "hPa", decimals: 1 },
      { name: "count", type: "int", value: 42, unit: "pulses" },
      { name: "open", type: "boolean", value: false, flags: { status: true } },
      { name: "firmware", type: "string", value: "v1.2 \"β\"" },
    ];
    const timestamp = new Date(Date.UTC(2024, 5, 1, 8, 30, 15, 123));
    const first = await Store.open(path, NO_AUTO_COMMIT);
    first.append({ sensorId: "boiler", timestamp, fields });
    await first.close();

    const second = await Store.open(path, NO_AUTO_COMMIT);
    try {
      const [reading] = await second.unsent(0, 10);
      assert.ok(reading);
      assert.deepEqual(reading, { id: 1, sensorId: "boiler", seq: 1, timestamp, fields });
      assert.deepEqual(
        reading.fields.map(formatFieldValue),
        ["21.50", "1013.0", "42", "false", "v1.2 \"β\""],
      );
    } finally {
      await second.close();
    }
  });

  it("stores more than 500 readings of one commit (several INSERT statements) with the right ids and seqs", async () => {
    const path = newPath();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      const committed: StoredReading[] = [];
      store.onCommitted((readings) => committed.push(...readings));
      const total = 1203;
      const sensors = ["s0", "s1", "s2"];
      for (let n = 0; n < total; n++) store.append(sample(sensors[n % 3] ?? "s0", n));
      await store.flush();

      assert.equal(committed.length, total);
      const rows = await store.unsent(0, 10_000);
      assert.equal(rows.length, total);
      rows.forEach((row, n) => {
        assert.equal(row.id, n + 1);
        assert.equal(row.sensorId, sensors[n % 3]);
        assert.equal(row.seq, Math.floor(n / 3) + 1);
        assert.equal(row.timestamp.getTime(), T0 + n * 1000);
      });
      // What the listeners were told matches what is stored, id for id.
      assert.deepEqual(committed, rows);

      // Acknowledging more than 500 at once (chunked UPDATE) works too.
      for (let id = 1; id <= 1100; id++) store.markPublished(id);
      await store.flush();
      assert.equal((await store.status()).unsent, total - 1100);
      assert.equal((await store.unsent(0, 10_000))[0]?.id, 1101);
      assert.deepEqual(
        (await store.status()).sensors.map((s) => s.lastSeq),
        [401, 401, 401],
      );
    } finally {
      await store.close();
    }
  });

  it("keeps timed actions across a reopen, one per parameter, soonest due first", async () => {
    const path = newPath();
    const first = await Store.open(path, NO_AUTO_COMMIT);
    const action = { nodeId: "pump", parameter: "state", setValue: "true", revertValue: "false", requester: "ops@example.org/phone", via: "chat", setAt: 1_000, dueAt: 601_000 };
    await first.saveTimedAction(action);
    await first.saveTimedAction({ ...action, dueAt: 301_000 });
    await first.saveTimedAction({ ...action, nodeId: "fan", dueAt: 201_000 });
    await first.close();
    const second = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.deepEqual(await second.timedActions(), [
        { ...action, nodeId: "fan", dueAt: 201_000 },
        { ...action, dueAt: 301_000 },
      ]);
      await second.deleteTimedAction("fan", "state");
      assert.deepEqual(await second.timedActions(), [{ ...action, dueAt: 301_000 }]);
    } finally {
      await second.close();
    }
  });

  it("runs its connection with a 512 KiB page cache", async () => {
    let cacheSize: unknown;
    const store = await Store.open(newPath(), { ...NO_AUTO_COMMIT, onConnection: async (db) => void (cacheSize = await db.get("PRAGMA cache_size")) });
    await store.close();
    assert.deepEqual(cacheSize, { cache_size: -512 });
  });

  it("records its schema in user_version and runs in WAL mode", async () => {
    const path = newPath();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    const db = await Database.open(path, { readonly: true });
    try {
      assert.deepEqual(await db.get("PRAGMA user_version"), { user_version: MIGRATION_COUNT });
      assert.deepEqual(await db.get("PRAGMA journal_mode"), { journal_mode: "wal" });
    } finally {
      await db.close();
      await store.close();
    }
    // Reopening an up-to-date file migrates nothing and keeps the version.
    const again = await Store.open(path, NO_AUTO_COMMIT);
    await again.close();
    const check = await Database.open(path, { readonly: true });
    try {
      assert.deepEqual(await check.get("PRAGMA user_version"), { user_version: MIGRATION_COUNT });
    } finally {
      await check.close();
    }
  });

  it("openForStatus reads the file while a Store has it open", async () => {
    const path = newPath();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      store.append(sample("boiler", 0));
      store.append(sample("boiler", 1));
      store.append(sample("attic", 0));
      await store.flush();
      store.markPublished(1);
      await store.flush();

      const view = await openForStatus(path);
      try {
        assert.equal(view.status.unsent, 2);
        assert.ok(view.status.lastPublished instanceof Date);
        assert.deepEqual(
          view.status.sensors.map((s) => [s.sensorId, s.lastSeq, s.lastReading?.seq]),
          [
            ["attic", 1, 1],
            ["boiler", 2, 2],
          ],
        );
      } finally {
        await view.close();
      }

      // The store keeps working after the reader is gone.
      store.append(sample("boiler", 2));
      assert.equal((await store.status()).unsent, 3);
    } finally {
      await store.close();
    }
  });

  it("refuses a database from a newer xedge, saying to upgrade", async () => {
    const path = newPath();
    const db = await Database.open(path);
    await db.exec("PRAGMA user_version = 99");
    await db.close();
    await assert.rejects(Store.open(path, NO_AUTO_COMMIT), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.message, `store schema version 99 is newer than this xedge understands (${MIGRATION_COUNT}); upgrade xedge`);
      return true;
    });
  });
});

describe("store: retention, sensor errors and migration of an older database", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-store-more-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prunes published readings older than the retention, and never unsent ones", async () => {
    const store = await Store.open(join(dir, "prune.db"), { commitIntervalMs: 60_000, retentionMs: 60_000 });
    try {
      const now = Date.now();
      const fields = [{ type: "int" as const, name: "n", value: 1 }];
      for (const age of [300_000, 200_000, 100_000, 30_000]) store.append({ sensorId: "a", timestamp: new Date(now - age), fields });
      await store.flush();
      const [old1, old2] = await store.unsent(0, 10);
      store.markPublished(old1!.id);
      store.markPublished(old2!.id);
      await store.flush();
      assert.equal(await store.prune(now), 2, "the two old published readings");
      assert.deepEqual((await store.history("a")).map((r) => r.seq), [3, 4], "the old unsent one and the recent one stay");
      assert.equal((await store.status()).sensors[0]?.lastSeq, 4, "pruning keeps the sequence");
    } finally {
      await store.close();
    }
  });

  it("records a failing sensor's error for status, and clears it on recovery", async () => {
    const path = join(dir, "errors.db");
    const store = await Store.open(path, { commitIntervalMs: 60_000 });
    const since = new Date("2026-01-02T03:04:05Z");
    store.setSensorError("never-read", "bme280 at 0x76 on I2C bus 1: no answer", since);
    await store.close();
    const first = await openForStatus(path);
    await first.close();
    assert.deepEqual(first.status.sensors, [{ sensorId: "never-read", lastSeq: 0, error: "bme280 at 0x76 on I2C bus 1: no answer", errorSince: since }]);
    const again = await Store.open(path, { commitIntervalMs: 60_000 });
    again.setSensorError("never-read");
    await again.close();
    const second = await openForStatus(path);
    await second.close();
    assert.deepEqual(second.status.sensors, [{ sensorId: "never-read", lastSeq: 0 }]);
  });

  it("tells its listeners of sensor errors once committed, after the readings of the same commit", async () => {
    const store = await Store.open(join(dir, "error-listeners.db"), { commitIntervalMs: 60_000 });
    try {
      const heard: string[] = [];
      store.onCommitted((readings) => heard.push(...readings.map((reading) => `reading ${reading.sensorId}`)));
      store.onSensorErrorsCommitted((changes) => heard.push(...changes.map((change) => `${change.sensorId}: ${change.error ?? "works"}`)));
      const since = new Date("2026-01-02T03:04:05Z");
      store.append({ sensorId: "boiler", timestamp: since, fields: [] });
      store.setSensorError("boiler", "EIO", since);
      store.setSensorError("attic", "EIO", since);
      store.setSensorError("attic");
      assert.deepEqual(heard, [], "nothing before the commit");
      await store.flush();
      assert.deepEqual(heard, ["reading boiler", "boiler: EIO", "attic: works"]);
      await store.flush();
      assert.equal(heard.length, 3, "a commit without changes tells nobody");
    } finally {
      await store.close();
    }
  });

  it("migrates a version-1 database without losing its readings or sequence numbers", async () => {
    const path = join(dir, "v1.db");
    const db = await Database.open(path);
    await db.exec(`CREATE TABLE sensors (sensor_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
      CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor_id TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
        fields TEXT NOT NULL, published_at INTEGER, UNIQUE (sensor_id, seq));
      CREATE INDEX readings_outbox ON readings (id) WHERE published_at IS NULL;
      CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO sensors VALUES ('a', 7);
      INSERT INTO readings (sensor_id, seq, ts, fields) VALUES ('a', 7, 1000, '[]');
      PRAGMA user_version = 1;`);
    await db.close();
    const store = await Store.open(path, { commitIntervalMs: 60_000 });
    try {
      assert.equal(store.append({ sensorId: "a", timestamp: new Date(), fields: [] }).seq, 8);
      await store.flush();
      assert.deepEqual((await store.history("a")).map((r) => r.seq), [7, 8]);
    } finally {
      await store.close();
    }
  });
});

describe("store: a damaged file at start is kept aside and what can be read carried over", () => {
  let dir: string;
  let count = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-store-damage-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A closed store: sensors a, b, c with `perSensor` readings each, the first half of each published. */
  async function filledStore(perSensor: number): Promise<string> {
    const path = join(dir, `damaged-${++count}.db`);
    const store = await Store.open(path, NO_AUTO_COMMIT);
    for (let n = 0; n < perSensor; n++) for (const id of ["a", "b", "c"]) store.append(sample(id, n));
    await store.flush();
    for (let id = 1; id <= (perSensor * 3) / 2; id++) store.markPublished(id);
    await store.close();
    return path;
  }

  const keptFiles = (path: string) => readdirSync(dir).filter((name) => name.startsWith(`${path.split("/").pop() ?? ""}.damaged-`));

  it("a truncated file: the rows before the cut and every sensor's last number survive", async () => {
    const path = await filledStore(2000);
    const size = statSync(path).size;
    truncateSync(path, Math.floor(size / 2));
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      const recovery = store.recovery;
      assert.ok(recovery, "the damage is reported");
      assert.match(recovery.reason, /malformed|quick_check/);
      assert.equal(statSync(recovery.keptAs).size, Math.floor(size / 2), "the damaged file is kept as it was found");
      assert.ok(recovery.readings > 1000 && recovery.readings < 6000, `${recovery.readings} readings recovered`);
      assert.notEqual(recovery.unreadable, "none");
      // The sensors table sits before the cut: each sequence continues after its last number, not after its last row.
      assert.deepEqual(["a", "b", "c"].map((id) => store.append(sample(id, 9999)).seq), [2001, 2001, 2001]);
      assert.ok(store.sequencesUnproven);
    } finally {
      await store.close();
    }
  });

  for (const [name, bytes] of [
    ["zero-filled", (size: number) => Buffer.alloc(size)],
    ["garbage", (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919 + 13) % 251))],
    ["empty", () => Buffer.alloc(0)],
  ] as const) {
    it(`a ${name} file: kept aside, a fresh store starts, its numbers unproven until the nodes are asked`, async () => {
      const path = await filledStore(10);
      writeFileSync(path, bytes(statSync(path).size));
      const store = await Store.open(path, NO_AUTO_COMMIT);
      try {
        const recovery = store.recovery;
        assert.ok(recovery);
        assert.equal(recovery.readings, 0);
        assert.equal(keptFiles(path).length, 1);
        assert.ok(store.sequencesUnproven);
        assert.equal(store.append(sample("a", 20)).seq, 1, "nothing in the file proves a number");
        await store.flush();
        // The node says 10 was published: what was sampled since moves after it, and the sequence goes on from there.
        assert.equal(await store.continueAfter("a", 10), 10);
        assert.equal(await store.continueAfter("b", 10), 10);
        assert.equal(store.append(sample("a", 21)).seq, 12);
        assert.equal(store.append(sample("b", 21)).seq, 11);
        await store.sequencesProven();
        assert.equal(store.sequencesUnproven, false);
        assert.deepEqual((await store.history("a")).map((r) => r.seq), [11, 12]);
      } finally {
        await store.close();
      }
      const view = await openForStatus(path);
      await view.close();
      assert.equal(view.status.lastRecovery?.keptAs, store.recovery?.keptAs);
      assert.ok(view.status.lastRecovery?.sequencesProvenAt instanceof Date);
    });
  }

  it("a restart before the nodes were asked keeps the numbers unproven, and renumbers only what came after the recovery", async () => {
    const path = await filledStore(1000);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const first = await Store.open(path, NO_AUTO_COMMIT);
    const recovered = await first.history("a");
    assert.ok(recovered.length > 0);
    assert.equal(first.append(sample("a", 3000)).seq, 1001, "the sensors table proved 1000");
    await first.close();
    const again = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.equal(again.recovery, undefined, "no new damage");
      assert.ok(again.sequencesUnproven, "the earlier recovery still waits for the nodes");
      // The node holds up to 1005: the reading numbered 1001 after the recovery moves to 1006; the recovered ones stay.
      assert.equal(await again.continueAfter("a", 1005), 5);
      assert.deepEqual((await again.history("a")).map((r) => r.seq), [...recovered.map((r) => r.seq), 1006]);
      assert.equal(again.append(sample("a", 3001)).seq, 1007);
    } finally {
      await again.close();
    }
  });

  it("a damaged page in the middle: the rows around it are carried over, the unreadable ids named", async () => {
    const path = await filledStore(2000);
    const size = statSync(path).size;
    const damaged = Buffer.alloc(4096 * 3, 0xa5);
    const file = await import("node:fs/promises").then((fs) => fs.open(path, "r+"));
    await file.write(damaged, 0, damaged.length, Math.floor(size / 4096 / 2) * 4096);
    await file.close();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      const recovery = store.recovery;
      assert.ok(recovery);
      assert.ok(recovery.readings > 5000 && recovery.readings < 6000, `${recovery.readings} readings recovered`);
      assert.match(recovery.unreadable, /^\d+-\d+/);
      const unsent = await store.unsent(0, 10_000);
      assert.equal(unsent.length, recovery.unpublished);
      assert.ok(unsent.every((reading) => reading.id > 3000), "published readings stay published");
    } finally {
      await store.close();
    }
  });

  it("a WAL from another database: the store's own file is read alone, nothing of it lost", async () => {
    const path = await filledStore(100);
    const other = join(dir, "other.db");
    const db = await Database.open(other);
    await db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    copyFileSync(`${other}-wal`, `${path}-wal`);
    await db.close();
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.match(store.recovery?.reason ?? "", /not an xedge store/);
      assert.equal(store.recovery?.readings, 300);
      assert.equal(store.recovery?.unreadable, "none");
      assert.equal(store.append(sample("a", 100)).seq, 101);
      assert.ok(existsSync(`${store.recovery?.keptAs ?? ""}-wal`), "the stray WAL is kept beside the damaged file");
    } finally {
      await store.close();
    }
  });

  it("a garbage WAL is moved aside; a garbage SHM is rebuilt; the store opens as it was", async () => {
    const path = await filledStore(50);
    writeFileSync(`${path}-wal`, Buffer.alloc(8192, 0x5a));
    writeFileSync(`${path}-shm`, Buffer.alloc(32768, 0x5a));
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.equal(store.recovery, undefined);
      assert.ok(store.strayWalKept && statSync(store.strayWalKept.keptAs).size === 8192);
      assert.equal((await store.status()).unsent, 75);
      assert.equal(store.append(sample("a", 50)).seq, 51);
      assert.equal(store.sequencesUnproven, false);
    } finally {
      await store.close();
    }
  });

  it("a recovery cut short leaves the damaged store in place: the next start recovers again over the half-built one", async () => {
    const path = await filledStore(100);
    writeFileSync(path, Buffer.alloc(statSync(path).size));
    writeFileSync(`${path}.recovering`, "half built");
    const store = await Store.open(path, NO_AUTO_COMMIT);
    try {
      assert.ok(store.recovery);
      assert.ok(store.sequencesUnproven);
      assert.equal(existsSync(`${path}.recovering`), false);
      assert.ok(readFileSync(store.recovery.keptAs).every((byte) => byte === 0), "the kept file is the damaged one");
    } finally {
      await store.close();
    }
  });

  it("an intact store passes the check at every start and is not touched", async () => {
    const path = await filledStore(20);
    const store = await Store.open(path, NO_AUTO_COMMIT);
    await store.close();
    assert.equal(store.recovery, undefined);
    assert.deepEqual(keptFiles(path), []);
  });
});

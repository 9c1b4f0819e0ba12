// The store's side of an untrusted clock, on a real SQLite file: readings marked, corrected from the monotonic
// clock once it is synchronized (this process's and those of earlier processes of the same boot), and retention that does not follow a jumping clock.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openForStatus, Store } from "./store.ts";
import { HandClock } from "./testing.ts";

const NO_AUTO_COMMIT = { commitIntervalMs: 3_600_000 };
const HOUR = 3_600_000;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "xedge-store-clock-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("readings taken before the clock is trusted", () => {
  it("are marked, then corrected from the monotonic clock at sync, committed or not; the numbers stay", async () => {
    const clock = new HandClock();
    const store = await Store.open(join(dir, "correct.db"), { ...NO_AUTO_COMMIT, clock });
    try {
      const takenAt: number[] = [];
      for (const n of [1, 2, 3]) {
        takenAt.push(clock.mono);
        assert.equal(store.append(clock.sample(n)).clock, "unsynced");
        clock.pass(1_000);
      }
      await store.flush();
      takenAt.push(clock.mono);
      store.append(clock.sample(4)); // still waiting for its commit at the sync
      // NTP steps the clock 26 hours forward: the true time at this moment.
      clock.pass(500);
      clock.wall += 26 * HOUR;
      clock.trusted = true;
      assert.equal(await store.correctClock(clock.offsetMs()), 4);
      store.append(clock.sample(5));
      await store.flush();
      const history = await store.history("boiler");
      assert.deepEqual(history.map((reading) => reading.seq), [1, 2, 3, 4, 5]);
      assert.deepEqual(
        history.slice(0, 4).map((reading) => reading.timestamp.getTime()),
        takenAt.map((mono) => mono + clock.offsetMs()),
        "each one's monotonic time plus the synchronized clock's offset",
      );
      assert.deepEqual(history.map((reading) => reading.clock), ["corrected", "corrected", "corrected", "corrected", undefined]);
      assert.equal((await store.status()).unsyncedTimestamps, undefined);
    } finally {
      await store.close();
    }
  });

  it("from an earlier process of the same boot are corrected too: the monotonic clock counts from the boot", async () => {
    const path = join(dir, "same-boot.db");
    const first = new HandClock("boot-1");
    const before = await Store.open(path, { ...NO_AUTO_COMMIT, clock: first });
    const takenAt = [first.mono];
    before.append(first.sample(1));
    first.pass(1_000);
    takenAt.push(first.mono);
    before.append(first.sample(2));
    await before.close();
    // The agent restarts 20 s later in the same boot: both clocks ran on, the monotonic one from the same origin.
    const second = new HandClock("boot-1");
    second.wall = first.wall + 20_000;
    second.mono = first.mono + 20_000;
    const store = await Store.open(path, { ...NO_AUTO_COMMIT, clock: second });
    try {
      takenAt.push(second.mono);
      store.append(second.sample(3));
      await store.flush();
      second.wall += 5 * HOUR;
      second.trusted = true;
      assert.equal(await store.correctClock(second.offsetMs()), 3);
      const history = await store.history("boiler");
      assert.deepEqual(
        history.map((reading) => [reading.seq, reading.clock, reading.timestamp.getTime()]),
        takenAt.map((mono, i) => [i + 1, "corrected", mono + second.offsetMs()]),
      );
    } finally {
      await store.close();
    }
    const opened = await openForStatus(path);
    await opened.close();
    assert.equal(opened.status.unsyncedTimestamps, undefined);
  });

  it("from an earlier boot stay marked unsynced: nothing relates their time to this boot's", async () => {
    const path = join(dir, "restart.db");
    const first = new HandClock("boot-1");
    const before = await Store.open(path, { ...NO_AUTO_COMMIT, clock: first });
    before.append(first.sample(1));
    before.append(first.sample(2));
    await before.close();
    const second = new HandClock("boot-2");
    second.mono = 3_000; // a new boot
    const store = await Store.open(path, { ...NO_AUTO_COMMIT, clock: second });
    try {
      store.append(second.sample(3));
      await store.flush();
      second.wall += 5 * HOUR;
      second.trusted = true;
      assert.equal(await store.correctClock(second.offsetMs()), 1);
      const history = await store.history("boiler");
      assert.deepEqual(
        history.map((reading) => [reading.seq, reading.clock, reading.timestamp.getTime()]),
        [
          [1, "unsynced", first.wall],
          [2, "unsynced", first.wall],
          [3, "corrected", second.wall],
        ],
      );
    } finally {
      await store.close();
    }
    const opened = await openForStatus(path);
    await opened.close();
    assert.equal(opened.status.unsyncedTimestamps, 2, "xedge status counts them");
  });

  it("are not marked when the clock is trusted", async () => {
    const clock = new HandClock();
    clock.trusted = true;
    const store = await Store.open(join(dir, "trusted.db"), { ...NO_AUTO_COMMIT, clock });
    try {
      assert.equal(store.append(clock.sample(1)).clock, undefined);
      await store.flush();
      assert.equal((await store.history("boiler"))[0]?.clock, undefined);
    } finally {
      await store.close();
    }
  });
});

describe("retention across clock jumps", () => {
  /** A store holding one published reading per hour for the last 48 hours of `clock`. */
  async function twoDays(name: string, clock: HandClock): Promise<Store> {
    const store = await Store.open(join(dir, name), { ...NO_AUTO_COMMIT, retentionMs: 24 * HOUR, clock });
    for (let hoursAgo = 48; hoursAgo >= 1; hoursAgo--) {
      store.append({ sensorId: "boiler", timestamp: new Date(clock.wall - hoursAgo * HOUR), fields: [] });
    }
    await store.flush();
    for (const reading of await store.unsent(0, 100)) store.markPublished(reading.id);
    await store.flush();
    return store;
  }

  it("prunes nothing while the clock is not trusted", async () => {
    const clock = new HandClock();
    clock.trusted = true;
    const store = await twoDays("untrusted.db", clock);
    try {
      clock.trusted = false;
      assert.equal(await store.prune(clock.wall), 0);
      assert.equal((await store.history("boiler")).length, 48);
    } finally {
      await store.close();
    }
  });

  it("after a jump forward of hours, the cutoff moves on only as far as the monotonic clock did", async () => {
    const clock = new HandClock();
    clock.trusted = true;
    const store = await twoDays("jump.db", clock);
    try {
      assert.equal(await store.prune(clock.wall), 24, "a day past the retention");
      clock.pass(HOUR);
      clock.wall += 20 * HOUR;
      assert.equal(await store.prune(clock.wall), 1, "one hour passed, so one more hour goes, not 21");
      clock.wall -= 30 * 60_000;
      assert.equal(await store.prune(clock.wall), 0, "a jump back deletes nothing");
      assert.equal((await store.history("boiler")).length, 23);
    } finally {
      await store.close();
    }
  });
});

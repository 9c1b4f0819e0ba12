// Readings held while the store cannot open: the bound, the oldest dropped and counted per sensor, the order, the
// clock state each was taken under, and the hand-over to a real store (SQLite file), which numbers them after what
// it already holds and corrects them like its own readings once the clock is synchronized.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Sample } from "../lib/model.ts";
import { HeldBeforeOpen, MAX_HELD_AUDITS } from "./held-before-open.ts";
import { heldBound, MAX_HELD_READINGS, Store, type ClockedSample } from "./store.ts";
import { HandClock } from "./testing.ts";

const NO_AUTO_COMMIT = { commitIntervalMs: 3_600_000 };
const HOUR = 3_600_000;

function trustedClock(): HandClock {
  const clock = new HandClock("boot-1");
  clock.trusted = true;
  return clock;
}

/** Takes what a hand-over gives, as the store would be given it. */
function recordingStore() {
  const given: { samples: ClockedSample[]; lost: number }[] = [];
  const errors: [string, string | undefined, Date | undefined][] = [];
  return {
    given,
    errors,
    appendHeld: (samples: readonly ClockedSample[], lost: number) => {
      given.push({ samples: [...samples], lost });
      return [];
    },
    setSensorError: (sensorId: string, error?: string, since?: Date) => void errors.push([sensorId, error, since]),
  };
}

const valueOf = (sample: Sample) => `${sample.sensorId}:${String(sample.fields[0]?.value)}`;

describe("readings held before the store opens", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-held-before-open-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("are bounded like the store's held readings: store.maxReadings, never more than MAX_HELD_READINGS", () => {
    assert.equal(heldBound(60), 60);
    assert.equal(heldBound(50_000), MAX_HELD_READINGS);
    assert.equal(heldBound(undefined), MAX_HELD_READINGS);
  });

  it("keep the order taken; past the bound the oldest go first, counted per sensor; nothing is numbered before the hand-over", () => {
    const clock = trustedClock();
    const lostEvents: [string, number][][] = [];
    const held = new HeldBeforeOpen({ maxHeld: 4, clock, onLost: (bySensor) => lostEvents.push([...bySensor].sort()) });
    const taken = ["a:1", "b:1", "a:2", "c:1", "a:3", "b:2", "a:4"];
    for (const name of taken) {
      const [sensorId = "", n = "0"] = name.split(":");
      assert.equal(held.append(clock.sample(Number(n), sensorId)), undefined, "no sequence number before the store opens");
      clock.pass(1_000);
    }
    assert.equal(held.held, 4);
    assert.equal(held.lost, 3);
    assert.deepEqual(lostEvents, [[["a", 1]], [["b", 1]], [["a", 1]]], "one reading dropped at each append past the bound, the oldest");
    held.setSensorError("c", "cannot open: ENOENT", new Date(clock.wall));
    const store = recordingStore();
    const handed = held.handTo(store);
    assert.deepEqual(store.given.map(({ samples }) => samples.map(valueOf)), [["c:1", "a:3", "b:2", "a:4"]], "the newest four, in the order taken");
    assert.equal(store.given[0]?.lost, 3, "the store counts the lost ones");
    assert.deepEqual(store.errors, [["c", "cannot open: ENOENT", new Date(clock.wall)]], "the sensor's error reaches the store");
    assert.equal(handed.readings, 4);
    assert.deepEqual([...handed.lostBySensor].sort(), [["a", 2], ["b", 1]]);
    assert.equal(held.held, 0, "nothing held after the hand-over");
    assert.equal(held.lost, 0);
  });

  it("keep the clock state each was taken under", () => {
    const clock = new HandClock("boot-1");
    const held = new HeldBeforeOpen({ maxHeld: 10, clock });
    held.append(clock.sample(1, "a"));
    const offsetAtFirst = clock.offsetMs();
    clock.pass(1_000);
    // NTP steps the clock 26 hours forward and it is synchronized from now on.
    clock.wall += 26 * HOUR;
    clock.trusted = true;
    held.append(clock.sample(2, "a"));
    const store = recordingStore();
    held.handTo(store);
    const [first, second] = store.given[0]?.samples ?? [];
    assert.equal(first?.clock, "unsynced");
    assert.equal(first?.clockOffsetMs, offsetAtFirst, "the offset when it was taken, not when it is appended");
    assert.equal(first?.clockBoot, "boot-1");
    assert.equal(second?.clock, undefined, "taken once the clock was trusted: not marked");
    assert.equal(second?.clockOffsetMs, undefined);
  });

  it("go to the store in the order taken, numbered after what it holds, contiguous, with their own timestamps; the loss is recorded", async () => {
    const clock = trustedClock();
    const path = join(dir, "handed.db");
    const earlier = await Store.open(path, NO_AUTO_COMMIT);
    for (const n of [1, 2, 3]) earlier.append(clock.sample(n, "a"));
    earlier.append(clock.sample(1, "b"));
    await earlier.close();

    const held = new HeldBeforeOpen({ maxHeld: 5, clock });
    const takenAt = new Map<string, number>();
    for (const name of ["a:4", "b:2", "a:5", "b:3", "a:6", "b:4", "a:7"]) {
      const [sensorId = "", n = "0"] = name.split(":");
      takenAt.set(name, clock.wall);
      held.append(clock.sample(Number(n), sensorId));
      clock.pass(1_000);
    }
    clock.pass(60_000); // the store opens a minute later
    const store = await Store.open(path, { ...NO_AUTO_COMMIT, clock });
    try {
      held.handTo(store);
      store.append(clock.sample(8, "a")); // the sampler's first reading into the store
      await store.flush();
      const committed = [...(await store.history("a")), ...(await store.history("b"))].sort((x, y) => x.id - y.id);
      // a:4 and b:2 were dropped by the bound; each sensor's numbers continue without a gap all the same.
      assert.deepEqual(
        committed.filter((reading) => reading.seq > (reading.sensorId === "a" ? 3 : 1)).map((reading) => `${valueOf(reading)}#${reading.seq}`),
        ["a:5#4", "b:3#2", "a:6#5", "b:4#3", "a:7#6", "a:8#7"],
      );
      const handedOver = committed.filter((reading) => takenAt.has(valueOf(reading)));
      assert.equal(handedOver.length, 5);
      for (const reading of handedOver) {
        assert.equal(reading.timestamp.getTime(), takenAt.get(valueOf(reading)), `${valueOf(reading)} keeps the time it was taken`);
      }
      assert.equal((await store.status()).lostUnwritable, 2, "the readings the bound dropped are counted in the store");
    } finally {
      await store.close();
    }
  });

  it("taken before the clock is trusted are corrected by the store once it is, though appended after NTP stepped the clock", async () => {
    const clock = new HandClock("boot-1");
    const held = new HeldBeforeOpen({ maxHeld: 10, clock });
    const takenAtMono: number[] = [];
    for (const n of [1, 2]) {
      takenAtMono.push(clock.mono);
      held.append(clock.sample(n, "a"));
      clock.pass(1_000);
    }
    // NTP steps the clock 3 hours forward while the store still cannot open: the next reading has the true time
    // but is taken before the agent looked at the clock again, so it is marked too, under the new offset.
    clock.wall += 3 * HOUR;
    takenAtMono.push(clock.mono);
    held.append(clock.sample(3, "a"));
    clock.pass(1_000);
    const store = await Store.open(join(dir, "clock.db"), { ...NO_AUTO_COMMIT, clock });
    try {
      held.handTo(store);
      await store.flush();
      store.append(clock.sample(4, "a")); // still waiting for its commit when the clock is found synchronized
      clock.trusted = true;
      assert.equal(await store.correctClock(clock.offsetMs()), 4);
      const history = await store.history("a");
      assert.deepEqual(history.map((reading) => reading.seq), [1, 2, 3, 4]);
      assert.deepEqual(history.map((reading) => reading.clock), ["corrected", "corrected", "corrected", "corrected"]);
      assert.deepEqual(
        history.slice(0, 3).map((reading) => reading.timestamp.getTime()),
        takenAtMono.map((mono) => mono + clock.offsetMs()),
        "each one's monotonic time plus the synchronized clock's offset",
      );
      assert.equal((await store.status()).unsyncedTimestamps, undefined);
    } finally {
      await store.close();
    }
  });

  it("hold control requests' audit entries for the store, oldest first; past their bound the oldest go, counted", async () => {
    const held = new HeldBeforeOpen({ maxHeld: 4, clock: trustedClock() });
    const refused = (n: number) => ({ at: new Date(n), requester: "ops@example.net/x", via: "iq", nodeIds: ["pump"], values: [{ name: "state", value: String(n) }], result: "unavailable" as const });
    for (let n = 1; n <= MAX_HELD_AUDITS + 2; n++) await held.holdAudit(refused(n));
    const handed = held.handTo(recordingStore());
    assert.equal(handed.auditsLost, 2);
    assert.equal(handed.audits.length, MAX_HELD_AUDITS);
    assert.deepEqual([handed.audits[0]?.values[0]?.value, handed.audits.at(-1)?.values[0]?.value], ["3", String(MAX_HELD_AUDITS + 2)]);
    const again = held.handTo(recordingStore());
    assert.deepEqual([again.audits, again.auditsLost], [[], 0], "nothing held after a hand-over");
  });
});

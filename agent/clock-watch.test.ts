// The clock watch alone, on clocks and a flag file moved by hand: trust, synchronization, jumps.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import { bootMonotonicMs, ClockWatch, readBootId, type ClockJump } from "./clock-watch.ts";

const SYNC_FILE = "/run/systemd/timesync/synchronized";

/** A watch over a wall clock, a monotonic clock and the files that exist, each set by the test. */
function harness(files: string[]) {
  const clocks = { wall: Date.UTC(2026, 0, 1), monotonic: 5_000 };
  const present = new Set(files);
  const jumps: ClockJump[] = [];
  const synchronized: number[] = [];
  const watch = new ClockWatch({
    syncFile: SYNC_FILE,
    jumpThresholdMs: 1_000,
    wall: () => clocks.wall,
    monotonic: () => clocks.monotonic,
    exists: (path) => present.has(path),
    onJump: (jump) => jumps.push(jump),
    onSynchronized: (offset) => synchronized.push(offset),
  });
  /** Real time passes: both clocks move together. */
  const pass = (ms: number) => {
    clocks.wall += ms;
    clocks.monotonic += ms;
  };
  return { clocks, present, jumps, synchronized, watch, pass };
}

describe("ClockWatch trust", () => {
  it("trusts the clock when timesyncd's flag file exists", () => {
    const { watch } = harness(["/run/systemd/timesync", SYNC_FILE]);
    assert.equal(watch.trusted, true);
    assert.equal(watch.source, "timesyncd");
  });

  it("does not trust it while timesyncd runs without having synchronized, and does once the file appears", () => {
    const { watch, present, synchronized, clocks, pass } = harness(["/run/systemd/timesync"]);
    assert.equal(watch.trusted, false);
    pass(1_000);
    watch.check();
    assert.equal(watch.trusted, false);
    assert.deepEqual(synchronized, []);
    clocks.wall += 3 * 3_600_000;
    present.add(SYNC_FILE);
    watch.check();
    assert.equal(watch.trusted, true);
    assert.deepEqual(synchronized, [clocks.wall - clocks.monotonic], "the offset of the synchronized clock");
    present.delete(SYNC_FILE);
    watch.check();
    assert.equal(watch.trusted, true, "trusted for the rest of the process");
    assert.equal(synchronized.length, 1);
  });

  it("trusts the clock as it is when no timesyncd runs (nothing to watch)", () => {
    const { watch } = harness([]);
    assert.equal(watch.trusted, true);
    assert.equal(watch.source, "assumed");
  });
});

describe("ClockWatch jumps", () => {
  it("reports a step forward or back beyond the threshold, with its size and the clock before and after", () => {
    const { watch, jumps, clocks, pass } = harness(["/run/systemd/timesync"]);
    pass(1_000);
    clocks.wall += 3 * 3_600_000;
    watch.check();
    pass(1_000);
    watch.check();
    clocks.wall -= 120_000;
    watch.check();
    assert.deepEqual(
      jumps.map((jump) => [jump.byMs, jump.to.getTime() - jump.from.getTime(), jump.trusted]),
      [
        [3 * 3_600_000, 3 * 3_600_000, false],
        [-120_000, -120_000, false],
      ],
    );
    assert.equal(jumps[0]?.to.getTime(), Date.UTC(2026, 0, 1) + 1_000 + 3 * 3_600_000);
    assert.equal(watch.jumps, 2);
  });

  it("sees no jump in time passing, a busy event loop, or a drift under the threshold", () => {
    const { watch, jumps, clocks, pass } = harness([SYNC_FILE, "/run/systemd/timesync"]);
    pass(60_000);
    watch.check();
    clocks.wall += 900;
    watch.check();
    pass(1);
    clocks.wall -= 900;
    watch.check();
    assert.deepEqual(jumps, []);
  });
});

describe("the monotonic clock's origin", () => {
  it("is the boot: another process reads the same clock, and the watch knows the boot's id", () => {
    const before = bootMonotonicMs();
    const child = execFileSync(process.execPath, ["--input-type=module", "-e", "process.stdout.write(String(Number(process.hrtime.bigint() / 1000n) / 1000))"], { encoding: "utf8" });
    const after = bootMonotonicMs();
    const inChild = Number(child);
    assert.ok(before <= inChild && inChild <= after, `the child's ${inChild} ms lies between ${before} and ${after}`);
    const bootId = readBootId();
    assert.match(bootId ?? "", /^[0-9a-f-]{36}$/, "Linux's boot id");
    assert.equal(new ClockWatch({ syncFile: SYNC_FILE, jumpThresholdMs: 1_000 }).bootId, bootId);
    assert.equal(readBootId("/nonexistent/boot_id"), undefined);
  });
});

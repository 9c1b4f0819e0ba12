// An averaged chart's tail read: where it starts, and how its answer replaces the points it covers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { tailReadStart, withTail } from "../../console/chart-tail.ts";

const MINUTE_MS = 60_000;

describe("console: an averaged chart's tail read", () => {
  it("starts at the period of the newest point, or the one before now without any", () => {
    assert.equal(tailReadStart(660, MINUTE_MS, 700_000), 660_000, "a per-minute point: its own start");
    assert.equal(tailReadStart(undefined, MINUTE_MS, 1_000_000), 900_000);
    assert.equal(tailReadStart(7_300, 3_600_000, 7_400_000), 7_200_000, "per hour, on the UTC hour");
  });

  it("replaces the newest period's average with the new one, and adds the periods begun since", () => {
    const chart = { times: [600, 660], values: [20, 21] };
    const from = tailReadStart(660, MINUTE_MS, 725_000);
    assert.deepEqual(withTail(chart, from, { times: [660, 720], values: [21.5, 22] }), { times: [600, 660, 720], values: [20, 21.5, 22] });
    assert.deepEqual(chart, { times: [600, 660], values: [20, 21] }, "the points given are left as they were");
  });

  it("started from a raw reading while the range changed, still replaces that period's average: no point twice", () => {
    // The operator switched from 1 h to 24 h: a live reading asked for a tail read while the chart still held the
    // raw points (the newest at 679.5 s); the per-minute history came first, then the tail's answer.
    const from = tailReadStart(679.5, MINUTE_MS, 680_000);
    const perMinute = { times: [600, 660], values: [20, 21] };
    assert.deepEqual(withTail(perMinute, from, { times: [660], values: [21.2] }), { times: [600, 660], values: [20, 21.2] });
  });
});

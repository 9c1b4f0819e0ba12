import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("reads each unit as milliseconds", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("1s"), 1000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("2h"), 7_200_000);
    assert.equal(parseDuration("7d"), 604_800_000);
    assert.equal(parseDuration("0s"), 0);
  });

  it("ignores surrounding whitespace", () => {
    assert.equal(parseDuration(" 10s "), 10_000);
  });

  it("rejects junk with undefined", () => {
    for (const junk of ["", "fast", "10", "s", "1.5", "-1s", "1 s", "1sec", "1S", "1.s", ".5s", "1e3ms", "1s2", "10y"]) {
      assert.equal(parseDuration(junk), undefined, `"${junk}"`);
    }
  });
});

describe("formatDuration", () => {
  it("renders the shortest exact form", () => {
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(1000), "1s");
    assert.equal(formatDuration(1500), "1.5s");
    assert.equal(formatDuration(300_000), "5m");
    assert.equal(formatDuration(90_000), "1.5m");
    assert.equal(formatDuration(604_800_000), "7d");
    assert.equal(formatDuration(0), "0ms");
  });

  it("falls back to a smaller unit when the larger is not exact to a tenth", () => {
    assert.equal(formatDuration(1250), "1250ms");
    assert.equal(formatDuration(61_000), "61s");
  });

  it("round-trips through parseDuration", () => {
    for (const text of ["250ms", "1s", "1.5s", "5m", "7d"]) {
      assert.equal(formatDuration(parseDuration(text) ?? -1), text);
    }
  });
});

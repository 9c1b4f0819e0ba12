// The console's reconnect delays: exponential, capped, with half of each delay random.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FIRST_RETRY_MS, MAX_RETRY_MS, retryDelay } from "../../console/backoff.ts";

describe("console: reconnect backoff", () => {
  it("doubles from one second up to the cap", () => {
    const highest = (attempt: number) => retryDelay(attempt, () => 1);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(highest), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    assert.equal(highest(10_000), MAX_RETRY_MS, "no overflow however long the server stays away");
  });

  it("keeps half of each delay fixed and draws the other half", () => {
    assert.equal(retryDelay(0, () => 0), FIRST_RETRY_MS / 2);
    assert.equal(retryDelay(3, () => 0.5), 6_000);
    const drawn = new Set(Array.from({ length: 50 }, () => retryDelay(4)));
    assert.ok(drawn.size > 40, "consoles that lost the same server spread out");
    for (const delay of drawn) assert.ok(delay >= 8_000 && delay < 16_000, `${delay}`);
  });
});

// A sensor's `sim:` block, parsed and resolved on its own, as the agent's config does it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { scheduledFaults, sensorSimSchema } from "./settings.ts";

describe("sim settings", () => {
  test("faults resolve to ms; what is not given stays absent; no block means no faults", () => {
    const block = sensorSimSchema.parse({ faults: [{ kind: "eio", at: "30s", for: "10s" }, { kind: "slow", delay: "2s" }] });
    assert.deepEqual(scheduledFaults(block), [
      { kind: "eio", atMs: 30_000, forMs: 10_000 },
      { kind: "slow", atMs: 0, delayMs: 2_000 },
    ]);
    assert.deepEqual(scheduledFaults(sensorSimSchema.parse({})), []);
    assert.deepEqual(scheduledFaults(undefined), []);
  });

  test("an unknown key names the keys the block accepts", () => {
    const result = sensorSimSchema.safeParse({ fault: [] });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues.map((issue) => issue.message), ["unknown key; expected one of: faults"]);
  });
});

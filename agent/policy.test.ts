import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { changedBeyondBand, shouldKeep } from "./policy.ts";
import type { Field } from "../lib/model.ts";

const t = (value: number): Field => ({ type: "numeric", name: "temperature", value, unit: "°C", decimals: 2 });
const door = (value: boolean): Field => ({ type: "boolean", name: "open", value });

describe("report policy", () => {
  it("keeps every sample without a deadband", () => {
    assert.equal(shouldKeep(undefined, { fields: [t(20)], at: 0 }, [t(20)], 1), true);
  });

  it("drops a numeric move within the band and keeps one beyond it", () => {
    const policy = { deadband: 0.5, maxSilenceMs: 60_000 };
    assert.equal(changedBeyondBand(policy, [t(20)], [t(20.5)]), false, "exactly the band is inside it");
    assert.equal(changedBeyondBand(policy, [t(20)], [t(19.6)]), false);
    assert.equal(changedBeyondBand(policy, [t(20)], [t(20.51)]), true);
    assert.equal(changedBeyondBand(policy, [t(20)], [t(19.4)]), true);
  });

  it("applies per-field bands, and any change to fields without one", () => {
    const policy = { deadband: { temperature: 1 }, maxSilenceMs: 60_000 };
    assert.equal(changedBeyondBand(policy, [t(20), door(false)], [t(20.9), door(false)]), false);
    assert.equal(changedBeyondBand(policy, [t(20), door(false)], [t(20.9), door(true)]), true);
  });

  it("keeps the first sample and one after maxSilence even without change", () => {
    const policy = { deadband: 5, maxSilenceMs: 1000 };
    assert.equal(shouldKeep(policy, undefined, [t(20)], 0), true);
    assert.equal(shouldKeep(policy, { fields: [t(20)], at: 0 }, [t(20)], 999), false);
    assert.equal(shouldKeep(policy, { fields: [t(20)], at: 0 }, [t(20)], 1000), true);
  });

  it("counts a field that appears or disappears as a change", () => {
    const policy = { deadband: 5, maxSilenceMs: 60_000 };
    assert.equal(changedBeyondBand(policy, [t(20)], [t(20), door(false)]), true);
    assert.equal(changedBeyondBand(policy, [t(20), door(false)], [t(20)]), true);
  });
});

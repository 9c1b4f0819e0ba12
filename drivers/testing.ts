// Helpers for driver tests.
import assert from "node:assert/strict";
import type { Field, NumericField } from "../lib/model.ts";
import type { SensorDevice } from "./driver.ts";

/** The numeric field `name` of a sample; fails the test when there is none. */
export function numericField(fields: Field[], name: string): NumericField {
  const found = fields.find((f) => f.name === name);
  assert.ok(found !== undefined, `no field ${name}`);
  assert.equal(found.type, "numeric");
  return found;
}

/** Runs `run`, then closes `device` however `run` ended. */
export async function withDevice<T>(device: SensorDevice, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } finally {
    await device.close();
  }
}

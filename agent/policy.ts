// When a sample becomes a stored (and so published) reading. Without a deadband every sample is kept. With one,
// a sample is kept when some field moved beyond its band since the last kept reading (change of value), or
// when nothing has been kept for maxSilence, so consumers can tell a steady value from a dead sensor.
import type { Field } from "../lib/model.ts";

export interface ReportPolicy {
  /** A band for every numeric field, or per field name; fields without a band report any change. */
  deadband?: number | Record<string, number>;
  /** Longest time without a kept reading while values stay inside their bands. */
  maxSilenceMs: number;
}

function band(policy: ReportPolicy, name: string): number {
  const { deadband } = policy;
  if (deadband === undefined) return 0;
  return typeof deadband === "number" ? deadband : (deadband[name] ?? 0);
}

/** Whether `next` moved outside its band relative to `last` (the last kept fields). */
export function changedBeyondBand(policy: ReportPolicy, last: Field[], next: Field[]): boolean {
  if (last.length !== next.length) return true;
  return next.some((field) => {
    const before = last.find((f) => f.name === field.name);
    if (!before || before.type !== field.type) return true;
    if ((field.type === "numeric" || field.type === "int") && typeof before.value === "number") {
      return Math.abs(field.value - before.value) > band(policy, field.name);
    }
    return field.value !== before.value;
  });
}

/** `last.at` and `now` are ms on one clock; the sampler uses the monotonic one, so a step of the wall clock moves nothing. */
export function shouldKeep(
  policy: ReportPolicy | undefined,
  last: { fields: Field[]; at: number } | undefined,
  next: Field[],
  now: number,
): boolean {
  if (policy === undefined || last === undefined) return true;
  return now - last.at >= policy.maxSilenceMs || changedBeyondBand(policy, last.fields, next);
}

// An averaged chart (per minute, per hour) keeps its newest period current by reading it again from the agent: the
// live readings that came since are in the new average. Where that read starts, and how its answer replaces the
// points it covers. Times are in seconds, as uPlot takes them; periods start on UTC multiples of their length.

export interface Points {
  times: number[];
  values: number[];
}

/**
 * Where a tail read starts: the start of the period that holds the newest point, or of the one before now when
 * there is none. Aligned whatever the newest point is: a raw reading (the range just changed and its own points
 * have not come yet) must not start a read mid-period, whose answer would then be drawn beside that period's point.
 */
export function tailReadStart(newest: number | undefined, periodMs: number, nowMs: number): number {
  const from = newest === undefined ? nowMs - periodMs : newest * 1000;
  return Math.floor(from / periodMs) * periodMs;
}

/** The points with every one from `fromMs` on replaced by the tail read's answer. */
export function withTail(points: Points, fromMs: number, tail: Readonly<Points>): Points {
  const kept = points.times.findIndex((time) => time >= fromMs / 1000);
  const end = kept === -1 ? points.times.length : kept;
  return { times: [...points.times.slice(0, end), ...tail.times], values: [...points.values.slice(0, end), ...tail.values] };
}

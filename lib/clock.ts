// Time and timers for whatever waits on the wall clock (timed actions, alert `for:`, event subscription intervals,
// the alert rate limit), injectable so that tests move a clock by hand.

export interface Clock {
  now(): number;
  /**
   * Milliseconds that only move forward, at the rate of real time, whatever is done to the wall clock (NTP
   * stepping it, a clock set by hand): for durations such as an alert's `for:`. A clock moved by hand in a test
   * leaves it out, and its `now` serves.
   */
  monotonic?(): number;
  /** Runs `run` after `ms`; the returned function cancels it. */
  after(ms: number, run: () => void): () => void;
}

/** The clock's monotonic time, or its `now` when it has none (a clock moved by hand). */
export function monotonicOf(clock: Clock): number {
  return clock.monotonic?.() ?? clock.now();
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // performance.now() reads CLOCK_MONOTONIC (libuv's hrtime), which a step of the wall clock does not move.
  monotonic: () => performance.now(),
  after: (ms, run) => {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
};

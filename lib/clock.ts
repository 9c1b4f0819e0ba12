// Time and timers for whatever waits on the wall clock (timed actions, alert `for:`, event subscription intervals,
// the alert rate limit), injectable so that tests move a clock by hand.

export interface Clock {
  now(): number;
  /** Runs `run` after `ms`; the returned function cancels it. */
  after(ms: number, run: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, run) => {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
};

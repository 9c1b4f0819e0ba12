// A Clock that moves only when a test moves it, for the unit tests of whatever waits on a Clock (timed actions,
// alert `for:`, event subscription intervals, the alert rate limit). Its wall clock can also be stepped, as NTP
// steps a real one, without time passing.
import type { Clock } from "./clock.ts";

export class ManualClock implements Clock {
  private wall: number;
  private elapsed = 0;
  private timers: { at: number; run: () => void }[] = [];

  constructor(startMs = 0) {
    this.wall = startMs;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.elapsed;
  }

  after(ms: number, run: () => void): () => void {
    const timer = { at: this.elapsed + ms, run };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((other) => other !== timer);
    };
  }

  /** Lets `ms` pass on both clocks; each timer due on the way runs at its own time, in the order they fall due. */
  advance(ms: number): void {
    const end = this.elapsed + ms;
    for (;;) {
      const next = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.moveTo(next.at);
      next.run();
    }
    this.moveTo(end);
  }

  /** Steps the wall clock by `ms`, forward or back; no time passes and no timer runs. */
  step(ms: number): void {
    this.wall += ms;
  }

  private moveTo(elapsed: number): void {
    this.wall += elapsed - this.elapsed;
    this.elapsed = elapsed;
  }
}

// Helpers for the agent's unit tests.
import type { Sample } from "../lib/model.ts";
import type { ClockState } from "./clock-watch.ts";

/** Clocks set by hand: `wall` and `monotonic` move together as time passes; an NTP step moves `wall` alone. */
export class HandClock implements ClockState {
  trusted = false;
  wall = Date.UTC(2025, 5, 1, 8, 0, 0); // the last shutdown's time, as fake-hwclock restores it
  mono = 10_000;
  constructor(readonly bootId?: string) {}
  offsetMs(): number {
    return this.wall - this.mono;
  }
  monotonic(): number {
    return this.mono;
  }
  pass(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
  /** A one-field reading taken now, by this clock. */
  sample(n: number, sensorId = "boiler"): Sample {
    return { sensorId, timestamp: new Date(this.wall), fields: [{ name: "n", type: "int", value: n }] };
  }
}

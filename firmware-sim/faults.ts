// Injecting faults into simulated devices: what a device that takes faults offers, and the scheduler that
// applies the faults a config asks for (the vocabulary is in settings.ts, where config reads it).
import type { Fault, FaultKind, ScheduledFault } from "./settings.ts";

/** A simulated device that faults can be injected into. */
export interface Faultable {
  readonly supportedFaults: readonly FaultKind[];
  /** Sets (or with null clears) the active fault. */
  setFault(fault: Fault | null): void;
}

/** Applies scheduled faults to a device; returns a function that cancels what has not happened yet. */
export function scheduleFaults(target: Faultable, faults: ScheduledFault[]): () => void {
  const timers: NodeJS.Timeout[] = [];
  for (const fault of faults) {
    const { atMs, forMs, ...active } = fault;
    timers.push(setTimeout(() => target.setFault(active), atMs));
    if (forMs !== undefined) timers.push(setTimeout(() => target.setFault(null), atMs + forMs));
  }
  for (const timer of timers) timer.unref();
  return () => timers.forEach((timer) => clearTimeout(timer));
}

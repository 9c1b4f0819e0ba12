// The fault vocabulary of firmware-sim, shared by config (`sensors[].sim.faults`), the test API and the
// simulated buses. Each simulated device says which kinds make sense for it.
export const FAULT_KINDS = [
  "eio", // bus error: the transfer fails with EIO
  "nack", // the device does not acknowledge its address (EREMOTEIO)
  "crc", // the device answers with a wrong checksum (SHT3x, DS18B20, Modbus, NMEA)
  "stuck", // the device keeps returning the same value
  "unplug", // the device is gone (until the fault clears: replugged)
  "garbage", // serial: random bytes instead of data
  "truncated", // serial: lines or frames cut short
  "slow", // the device answers late (delayMs)
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** For "slow": how late the device answers. */
  delayMs?: number;
}

/** A simulated device that faults can be injected into. */
export interface Faultable {
  readonly supportedFaults: readonly FaultKind[];
  /** Sets (or with null clears) the active fault. */
  setFault(fault: Fault | null): void;
}

/** A fault scheduled from config: active from `atMs` after start, for `forMs` (forever when absent). */
export interface ScheduledFault extends Fault {
  atMs: number;
  forMs?: number;
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

// What a config may say to firmware-sim: the fault vocabulary and a sensor entry's `sim:` block (faults to inject
// into its simulated device). The agent's config validates the block with this schema and resolves it here, so
// the config needs nothing else from the simulation. Imports only zod and lib/: loading it loads no simulation.
import * as z from "../lib/zod.ts";
import { duration, positiveDuration, strict } from "../lib/config-schema.ts";

/** Shared by config (`sensors[].sim.faults`), the test API and the simulated buses; each device says which it fakes. */
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

/** A fault scheduled from config: active from `atMs` after start, for `forMs` (forever when absent). */
export interface ScheduledFault extends Fault {
  atMs: number;
  forMs?: number;
}

/** A sensor entry's `sim:` block (hardware: sim only). */
export const sensorSimSchema = strict({
  faults: z._default(
    z.array(
      strict({
        kind: z.enum(FAULT_KINDS),
        at: z._default(duration("30s"), 0),
        for: z.optional(positiveDuration("10s")),
        delay: z.optional(positiveDuration("2s")),
      }),
    ),
    [],
  ),
});

export type SensorSimBlock = z.output<typeof sensorSimSchema>;

/** The faults a sensor's `sim:` block schedules, in ms; none when the entry has no block. */
export function scheduledFaults(sim: SensorSimBlock | undefined): ScheduledFault[] {
  return (sim?.faults ?? []).map(({ kind, at, for: forMs, delay }) => ({
    kind,
    atMs: at,
    ...(forMs !== undefined ? { forMs } : {}),
    ...(delay !== undefined ? { delayMs: delay } : {}),
  }));
}

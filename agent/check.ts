// `xedge check`, a test mode like `telegraf --test`: each item of a config is checked once and gets one line
// marked ✓ or ✗. Here, the protocol-free part: the config, every sensor opened and read once (its values with
// units, or its error), every actuator with the safe state it would be driven to (listed, never opened), the
// lines' format and the exit code, and the store, opened read-only (it is never recovered nor migrated here, so a
// check leaves the state directory as it found it). The login and the pubsub nodes are checked in
// agent/xmpp/server-check.ts.
import { existsSync } from "node:fs";
import { setTimeout as nextTimers } from "node:timers/promises";
import type { AgentConfig } from "./config.ts";
import type { OpenHal } from "./hardware.ts";
import { errorText } from "./log.ts";
import { Database } from "./sqlite.ts";
import { MIGRATIONS } from "./store.ts";
import { findDamage } from "./store-recovery.ts";
import { valueText } from "./operator/render.ts";
import { HardwareAccessError } from "../drivers/hal.ts";
import type { ActuatorDriver, SensorDriver } from "../drivers/driver.ts";

/** One checked item: what it is (a config path, a node), whether it passed, and what was found. */
export interface CheckLine {
  ok: boolean;
  item: string;
  detail: string;
}

export const CHECK_PASSED = 0;
export const CHECK_FAILED = 1;

/** How long one sensor may take to open and give its first sample (a GPS waits for its next sentence). */
const READ_TIMEOUT_MS = 10_000;

export function formatCheckLine(line: CheckLine): string {
  return `${line.ok ? "✓" : "✗"} ${line.item}: ${line.detail}`;
}

/** 0 when every item passed, 1 when any failed. */
export function checkExitCode(lines: readonly CheckLine[]): typeof CHECK_PASSED | typeof CHECK_FAILED {
  return lines.every((line) => line.ok) ? CHECK_PASSED : CHECK_FAILED;
}

/** The first line: the file was read and is valid (a bad one never gets here: it exits 2 with its problems). */
export function configLine(file: string, config: Pick<AgentConfig, "sensors" | "hardware">): CheckLine {
  return { ok: true, item: file, detail: `config is valid (${config.sensors.length} sensors, hardware: ${config.hardware})` };
}

/**
 * The store's line: whether it opens and passes SQLite's quick_check, its schema version and its unpublished
 * readings. A damaged store fails it, saying that the agent will keep it aside and recover at its next start.
 */
export async function checkStore(path: string): Promise<CheckLine> {
  const item = `store.path (${path})`;
  if (!existsSync(path)) return { ok: true, item, detail: "no store yet: the agent creates it at its first start" };
  const damage = await findDamage(path, MIGRATIONS.length);
  if (damage !== undefined) return { ok: false, item, detail: `damaged: ${damage}; the agent keeps it aside and recovers what it can at its next start` };
  const db = await Database.open(path, { readonly: true });
  try {
    const version = (await db.get<{ user_version: number }>("PRAGMA user_version"))?.user_version ?? 0;
    const unpublished = version > 0 ? ((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM readings WHERE published_at IS NULL"))?.n ?? 0) : 0;
    const schema =
      version > MIGRATIONS.length
        ? `schema version ${version} is newer than this xedge (${MIGRATIONS.length}): upgrade xedge`
        : `schema version ${version}${version < MIGRATIONS.length ? ` (migrated to ${MIGRATIONS.length} at the next start)` : ""}`;
    return { ok: version <= MIGRATIONS.length, item, detail: `opens, quick_check ok, ${schema}, ${unpublished} unpublished readings` };
  } catch (error) {
    return { ok: false, item, detail: errorText(error) };
  } finally {
    await db.close().catch(() => undefined);
  }
}

export interface CheckDrivers {
  sensors: Record<string, SensorDriver>;
  actuators: Record<string, ActuatorDriver>;
}

/**
 * One line per sensor, then one per actuator, in config order. Sensors are opened together, read once and
 * closed. Actuators are not opened: opening one drives its safe state, which would switch a load the running
 * agent holds in another state; the line says from the config which state that is.
 */
export async function checkDevices(
  config: Pick<AgentConfig, "sensors" | "actuators">,
  hardware: Pick<OpenHal, "hal">,
  drivers: CheckDrivers,
  readTimeoutMs = READ_TIMEOUT_MS,
): Promise<CheckLine[]> {
  // The simulation applies faults scheduled from the start (at: 0s) on its timers: let them run first.
  await nextTimers(0);
  const sensorLines = await Promise.all(
    config.sensors.map(async (sensor, index): Promise<CheckLine> => {
      const item = `sensors[${index}] (${sensor.id})`;
      const driver = drivers.sensors[sensor.driver];
      if (!driver) return { ok: false, item, detail: `no driver named ${sensor.driver}` };
      try {
        const fields = await withTimeout(readOnce(driver, hardware, sensor.options), readTimeoutMs, `no sample within ${readTimeoutMs / 1000} s`);
        return { ok: true, item, detail: `${sensor.driver}: ${fields.map((field) => `${field.name} ${valueText(field)}`).join(", ") || "no fields"}` };
      } catch (error) {
        return { ok: false, item, detail: error instanceof HardwareAccessError ? error.message : errorText(error) };
      }
    }),
  );
  const actuatorLines = config.actuators.map((actuator, index): CheckLine => {
    const safeState = drivers.actuators[actuator.driver]?.safeState?.(actuator.options) ?? "not described by its driver";
    return { ok: true, item: `actuators[${index}] (${actuator.id})`, detail: `${actuator.driver}: safe state ${safeState}; not opened, since opening drives it` };
  });
  return [...sensorLines, ...actuatorLines];
}

async function readOnce(driver: SensorDriver, hardware: Pick<OpenHal, "hal">, options: Record<string, unknown>) {
  const device = await driver.open(hardware.hal, options);
  try {
    return await device.read();
  } finally {
    await device.close().catch(() => undefined);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
}

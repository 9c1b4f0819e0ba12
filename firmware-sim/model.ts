// What firmware-sim knows of a config: the devices it places models for, and what placing one gives back.
// The agent's resolved config is one such description; firmware-sim needs nothing else from it.
import * as z from "../lib/zod.ts";
import { once } from "../lib/once.ts";
import type { Faultable } from "./faults.ts";
import type { SimHal } from "./index.ts";
import type { ScheduledFault } from "./settings.ts";

/** A configured device as the simulation sees it. */
export interface SimDevice {
  id: string;
  driver: string;
  /** The driver's own keys, as config validated them against the driver's schema. */
  options: Record<string, unknown>;
}

/** A configured sensor: its device, and the faults its `sim:` block schedules. */
export interface SimSensor extends SimDevice {
  faults: ScheduledFault[];
}

/** The devices a world is built from: a config's sensors and actuators. */
export interface SimDevices {
  sensors: readonly SimSensor[];
  actuators: readonly SimDevice[];
}

/** What placing a model gave: how to move its environment, and where its faults go. */
export interface Placement {
  /** Called about once a second with the wall clock in ms. */
  drive?: (nowMs: number) => void;
  faults?: Faultable;
  /** Releases what the model holds (timers, pseudo-terminals, temporary folders). */
  close?: () => void | Promise<void>;
}

/** Places a simulated device where the configured one is wired; `index` is its place in the config's list. */
export type DeviceModel = (hal: SimHal, device: SimDevice, index: number) => Placement | Promise<Placement>;

/** How one driver's devices are simulated: the model gets a device's options as that driver's schema reads them. */
export type DriverModel<Options> = (hal: SimHal, options: Options, index: number) => Placement | Promise<Placement>;

/**
 * The model-table entry for one driver, keyed by its name. Config validated a device's options against this
 * driver's schema; reading them again with it gives them their static type, as the driver's own `open` does.
 */
export function simulate<Shape extends z.core.$ZodShape>(
  driver: { name: string; options: Shape },
  model: DriverModel<z.output<z.ZodMiniObject<Shape>>>,
): Record<string, DeviceModel> {
  // Built when a device of this driver is placed, not for every model in the table.
  const schema = once(() => z.object(driver.options));
  return { [driver.name]: (hal, device, index) => model(hal, schema().parse(device.options), index) };
}

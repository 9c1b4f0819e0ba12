// The simulated world behind `hardware: sim`: a device model wherever the config says one is wired, an
// environment that moves plausibly over time, and the faults the config asks for.
// Each driver with a simulation has one entry in `sensorModels` (or `actuatorModels`).
import type { ActuatorConfig, SensorConfig } from "../agent/config.ts";
import type { SimHal } from "./index.ts";
import { SimBme280 } from "./chips/bme280.ts";
import { scheduleFaults, type Faultable } from "./faults.ts";

/** What placing a model gave: how to move its environment, and where its faults go. */
export interface Placement {
  /** Called about once a second with the wall clock in ms. */
  drive?: (nowMs: number) => void;
  faults?: Faultable;
  /** Releases what the model holds (timers, pseudo-terminals, temporary folders). */
  close?: () => void | Promise<void>;
}

export type SensorModel = (hal: SimHal, sensor: SensorConfig, index: number) => Placement | Promise<Placement>;
export type ActuatorModel = (hal: SimHal, actuator: ActuatorConfig, index: number) => Placement | Promise<Placement>;

interface I2cPlacement {
  bus: number;
  address: number;
}

/** Faults the I2C bus applies in front of a chip model at one address. */
export function i2cFaults(hal: SimHal, { bus, address }: I2cPlacement): Faultable {
  return {
    supportedFaults: ["eio", "nack"],
    setFault: (fault) => {
      if (fault === null) hal.i2cBus(bus).injectFault(address, null);
      else if (fault.kind === "eio" || fault.kind === "nack") hal.i2cBus(bus).injectFault(address, { kind: fault.kind });
    },
  };
}

export const sensorModels: Record<string, SensorModel> = {
  bme280: (hal, sensor, index) => {
    const placement = sensor.options.i2c as I2cPlacement;
    const chip = new SimBme280();
    hal.i2cBus(placement.bus).attach(placement.address, chip);
    const phase = index * 1.7;
    return {
      faults: i2cFaults(hal, placement),
      drive: (nowMs) => {
        const t = nowMs / 60_000 + phase; // one swing every ~6 minutes, so a demo shows movement
        chip.setEnvironment({
          temperature: 21 + 3 * Math.sin(t) + (Math.random() - 0.5) * 0.1,
          humidity: 45 + 10 * Math.sin(t / 2 + 1),
          pressure: 101_325 + 300 * Math.sin(t / 3),
        });
      },
    };
  },
};

export const actuatorModels: Record<string, ActuatorModel> = {};

export interface World {
  /** Sensors and actuators whose driver has no simulation: their devices will not be found. */
  unsimulated: string[];
  close(): Promise<void>;
}

/** Places a model for every configured device the simulation knows, starts the environment and the faults. */
export async function populate(
  hal: SimHal,
  config: { sensors: SensorConfig[]; actuators: ActuatorConfig[] },
  now: () => number = Date.now,
): Promise<World> {
  const placements: Placement[] = [];
  const cancels: (() => void)[] = [];
  const unsimulated: string[] = [];
  for (const [index, sensor] of config.sensors.entries()) {
    const model = sensorModels[sensor.driver];
    if (!model) {
      unsimulated.push(sensor.id);
      continue;
    }
    const placement = await model(hal, sensor, index);
    placements.push(placement);
    if (sensor.faults.length > 0) {
      const unsupported = sensor.faults.filter((f) => !placement.faults?.supportedFaults.includes(f.kind)).map((f) => f.kind);
      if (unsupported.length > 0 || !placement.faults) {
        throw new Error(`sensors[${index}].sim.faults: the ${sensor.driver} simulation cannot inject ${unsupported.join(", ")}`);
      }
      cancels.push(scheduleFaults(placement.faults, sensor.faults));
    }
  }
  for (const [index, actuator] of config.actuators.entries()) {
    const model = actuatorModels[actuator.driver];
    if (model) placements.push(await model(hal, actuator, index));
    else unsimulated.push(actuator.id);
  }
  const step = () => placements.forEach((placement) => placement.drive?.(now()));
  step();
  const timer = setInterval(step, 1000);
  timer.unref();
  return {
    unsimulated,
    close: async () => {
      clearInterval(timer);
      cancels.forEach((cancel) => cancel());
      await Promise.all(placements.map((placement) => placement.close?.()));
    },
  };
}

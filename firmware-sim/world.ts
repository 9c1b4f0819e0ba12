// The simulated world behind `hardware: sim`: a device model wherever the config says one is wired, an
// environment that moves plausibly over time, and the faults the config asks for.
// Each driver with a simulation has one entry in `sensorModels` (or `actuatorModels`), made by `simulate`.
import { isDeepStrictEqual } from "node:util";
import type { SimHal } from "./index.ts";
import { simulate, type DeviceModel, type DriverModel, type Placement, type SimDevice, type SimDevices, type SimSensor } from "./model.ts";
import { SimBme280 } from "./chips/bme280.ts";
import { serialSensorModels } from "./serial/models.ts";
import { headerActuatorModels, headerSensorModels } from "./header-models.ts";
import { SimSht3x } from "./chips/sht3x.ts";
import { SimAds1115 } from "./chips/ads1115.ts";
import { SimPca9685 } from "./chips/pca9685.ts";
import { scheduleFaults, type Faultable } from "./faults.ts";
import type { Fault, FaultKind } from "./settings.ts";
import type { SimI2cDevice, SimI2cFault } from "./i2c.ts";
import { ads1115 } from "../drivers/ads1115/index.ts";
import { bme280 } from "../drivers/bme280/index.ts";
import { sht3x } from "../drivers/sht3x/index.ts";
import { pca9685 } from "../drivers/pca9685/index.ts";

interface I2cPlacement {
  bus: number;
  address: number;
}

const I2C_BUS_FAULTS: readonly FaultKind[] = ["eio", "nack", "unplug", "slow"];
/** "slow" without a configured delay: late, yet within the kernel's 1 s I2C adapter timeout. */
const DEFAULT_SLOW_MS = 500;

/**
 * Faults at one I2C address: the bus's own (eio, nack, unplug, slow) in front of the chip model, plus the
 * ones only the model can fake because they depend on what the bytes mean (stuck values, wrong CRCs).
 * One fault is active at a time: setting one clears the other.
 */
export function i2cFaults(hal: SimHal, { bus, address }: I2cPlacement, chip?: Faultable): Faultable {
  return {
    supportedFaults: [...I2C_BUS_FAULTS, ...(chip?.supportedFaults ?? [])],
    setFault: (fault) => {
      const onChip = fault !== null && chip !== undefined && chip.supportedFaults.includes(fault.kind);
      chip?.setFault(onChip ? fault : null);
      hal.i2cBus(bus).injectFault(address, fault === null || onChip ? null : busFault(fault));
    },
  };
}

function busFault(fault: Fault): SimI2cFault | null {
  switch (fault.kind) {
    case "eio":
    case "nack":
    case "unplug":
      return { kind: fault.kind };
    case "slow":
      return { kind: "slow", delayMs: fault.delayMs ?? DEFAULT_SLOW_MS };
    default:
      return null;
  }
}

/**
 * A chip model attached where the sensor's config says it is wired, moved by `drive` once a second (each sensor
 * out of phase with the others), with the bus's faults and the chip's own, and unplugged when it is removed.
 */
function i2cChipModel<Chip extends Faultable & SimI2cDevice>(
  create: () => Chip,
  drive: (chip: Chip, t: number) => void,
): DriverModel<{ i2c: I2cPlacement }> {
  return (hal, { i2c }, index) => {
    const chip = create();
    hal.i2cBus(i2c.bus).attach(i2c.address, chip);
    const phase = index * 1.7;
    return {
      faults: i2cFaults(hal, i2c, chip),
      // One swing every ~6 minutes, so a demo shows movement.
      drive: (nowMs) => drive(chip, nowMs / 60_000 + phase),
      close: () => hal.i2cBus(i2c.bus).detach(i2c.address),
    };
  };
}

export const sensorModels: Record<string, DeviceModel> = {
  ...serialSensorModels,
  ...headerSensorModels,
  ...simulate(
    bme280,
    i2cChipModel(
      () => new SimBme280(),
      (chip, t) =>
        chip.setEnvironment({
          temperature: 21 + 3 * Math.sin(t) + (Math.random() - 0.5) * 0.1,
          humidity: 45 + 10 * Math.sin(t / 2 + 1),
          pressure: 101_325 + 300 * Math.sin(t / 3),
        }),
    ),
  ),
  ...simulate(
    sht3x,
    i2cChipModel(
      () => new SimSht3x(),
      (chip, t) =>
        chip.setEnvironment({
          temperature: 22 + 2.5 * Math.sin(t) + (Math.random() - 0.5) * 0.05,
          humidity: 50 + 12 * Math.sin(t / 2 + 2) + (Math.random() - 0.5) * 0.2,
        }),
    ),
  ),
  ...simulate(
    ads1115,
    i2cChipModel(
      () => new SimAds1115(),
      (chip, t) => {
        const loopMilliamps = 12 + 8 * Math.sin(t / 3); // a 4–20 mA transmitter's full span
        const noise = () => (Math.random() - 0.5) * 0.002;
        chip.setInputs([
          1.5 + Math.sin(t) + noise(), // a potentiometer or sensor output wandering over 0.5–2.5 V
          (loopMilliamps / 1000) * 150 + noise(), // that loop across a 150 Ω shunt: 0.6–3.0 V
          noise(), // unconnected, pulled to GND
          2.5 + noise(), // a 5 V rail through a 1:1 divider
        ]);
      },
    ),
  ),
};
/** The PCA9685s placed so far, per simulated HAL, by "bus:address", with how many entries use each. */
const sharedPwmChips = new WeakMap<SimHal, Map<string, { chip: SimPca9685; users: number }>>();

export const actuatorModels: Record<string, DeviceModel> = {
  ...headerActuatorModels,
  // One entry is one channel: the entries on one bus and address share one chip, attached while any uses it.
  ...simulate(pca9685, (hal, { i2c }) => {
    const chips = sharedPwmChips.get(hal) ?? new Map<string, { chip: SimPca9685; users: number }>();
    sharedPwmChips.set(hal, chips);
    const key = `${i2c.bus}:${i2c.address}`;
    let placed = chips.get(key);
    if (placed === undefined) {
      placed = { chip: new SimPca9685(), users: 0 };
      hal.i2cBus(i2c.bus).attach(i2c.address, placed.chip);
      chips.set(key, placed);
    }
    const shared = placed;
    shared.users += 1;
    let closed = false;
    return {
      faults: i2cFaults(hal, i2c, shared.chip),
      close: () => {
        if (closed) return;
        closed = true;
        shared.users -= 1;
        if (shared.users > 0) return;
        chips.delete(key);
        hal.i2cBus(i2c.bus).detach(i2c.address);
      },
    };
  }),
};

export interface World {
  /** Sensors and actuators whose driver has no simulation: their devices will not be found. */
  readonly unsimulated: string[];
  /**
   * Makes the world match a new config (a reload): models of devices that left or changed are removed (as if
   * unplugged), models of devices that arrived or changed are placed; unchanged devices are not touched.
   */
  update(devices: SimDevices): Promise<void>;
  close(): Promise<void>;
}

interface Placed {
  /** The configured device as it was placed: a device whose entry changes in any way is placed anew. */
  device: SimDevice;
  placement: Placement;
  cancelFaults?: () => void;
}

async function placeSensor(hal: SimHal, sensor: SimSensor, index: number): Promise<Placed | undefined> {
  const model = sensorModels[sensor.driver];
  if (!model) return undefined;
  const placement = await model(hal, sensor, index);
  if (sensor.faults.length === 0) return { device: sensor, placement };
  const unsupported = sensor.faults.filter((f) => !placement.faults?.supportedFaults.includes(f.kind)).map((f) => f.kind);
  if (unsupported.length > 0 || !placement.faults) {
    await placement.close?.();
    throw new Error(`sensors[${index}].sim.faults: the ${sensor.driver} simulation cannot inject ${unsupported.join(", ")}`);
  }
  return { device: sensor, placement, cancelFaults: scheduleFaults(placement.faults, sensor.faults) };
}

async function placeActuator(hal: SimHal, actuator: SimDevice, index: number): Promise<Placed | undefined> {
  const model = actuatorModels[actuator.driver];
  return model ? { device: actuator, placement: await model(hal, actuator, index) } : undefined;
}

async function remove(placed: Placed): Promise<void> {
  placed.cancelFaults?.();
  await placed.placement.close?.();
}

/** Places a model for every configured device the simulation knows, starts the environment and the faults. */
export async function populate(hal: SimHal, devices: SimDevices, now: () => number = Date.now): Promise<World> {
  // Keyed "sensor:<id>" / "actuator:<id>": a sensor and an actuator may share an id.
  const placed = new Map<string, Placed>();
  let unsimulated: string[] = [];

  const update = async (next: SimDevices) => {
    const wanted = new Map<string, SimDevice>([
      ...next.sensors.map((sensor) => [`sensor:${sensor.id}`, sensor] as const),
      ...next.actuators.map((actuator) => [`actuator:${actuator.id}`, actuator] as const),
    ]);
    // Remove first: a changed device may take the address its old self held.
    for (const [key, entry] of placed) {
      const device = wanted.get(key);
      if (device === undefined || !isDeepStrictEqual(device, entry.device)) {
        placed.delete(key);
        await remove(entry);
      }
    }
    unsimulated = [];
    for (const [index, sensor] of next.sensors.entries()) {
      const key = `sensor:${sensor.id}`;
      if (placed.has(key)) continue;
      const entry = await placeSensor(hal, sensor, index);
      if (entry) placed.set(key, entry);
      else unsimulated.push(sensor.id);
    }
    for (const [index, actuator] of next.actuators.entries()) {
      const key = `actuator:${actuator.id}`;
      if (placed.has(key)) continue;
      const entry = await placeActuator(hal, actuator, index);
      if (entry) placed.set(key, entry);
      else unsimulated.push(actuator.id);
    }
    step();
  };

  const step = () => placed.forEach((entry) => entry.placement.drive?.(now()));
  await update(devices);
  const timer = setInterval(step, 1000);
  timer.unref();
  return {
    get unsimulated() {
      return unsimulated;
    },
    update,
    close: async () => {
      clearInterval(timer);
      const entries = [...placed.values()];
      placed.clear();
      await Promise.all(entries.map(remove));
    },
  };
}

// Every device driver, registered by name. Config validates `sensors[].driver` and `actuators[].driver`
// against these tables; a new driver is one folder and one line here.
import type { ActuatorDriver, SensorDriver } from "./driver.ts";
import { bme280 } from "./bme280/index.ts";

function byName<Driver extends { name: string }>(drivers: Driver[]): Record<string, Driver> {
  return Object.fromEntries(drivers.map((driver) => [driver.name, driver]));
}

export const sensorDrivers: Record<string, SensorDriver> = byName([bme280]);

export const actuatorDrivers: Record<string, ActuatorDriver> = byName<ActuatorDriver>([]);

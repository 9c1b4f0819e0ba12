// Every device driver, registered by name. Config validates `sensors[].driver` against this table.
import type { SensorDriver } from "./driver.ts";
import { bme280 } from "./bme280/index.ts";

export const sensorDrivers: Record<string, SensorDriver> = Object.fromEntries(
  [bme280].map((driver) => [driver.name, driver]),
);

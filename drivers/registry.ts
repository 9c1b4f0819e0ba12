// Every device driver, registered by name. Config validates `sensors[].driver` and `actuators[].driver`
// against these tables; a new driver is one folder and one line here. The tables hold each driver's card
// (index.ts); its device code (device.ts) is loaded by the card's `open`, so only when a config names the driver.
import type { ActuatorDriver, SensorDriver } from "./driver.ts";
import { bme280 } from "./bme280/index.ts";
import { nmea } from "./nmea/index.ts";
import { modbus } from "./modbus/index.ts";
import { serialLines } from "./serial-lines/index.ts";
import { sht3x } from "./sht3x/index.ts";
import { ads1115 } from "./ads1115/index.ts";
import { ds18b20 } from "./ds18b20/index.ts";
import { gpioInput } from "./gpio-input/index.ts";
import { gpioOutput } from "./gpio-output/index.ts";
import { pca9685 } from "./pca9685/index.ts";

function byName<Driver extends { name: string }>(drivers: Driver[]): Record<string, Driver> {
  return Object.fromEntries(drivers.map((driver) => [driver.name, driver]));
}

export const sensorDrivers: Record<string, SensorDriver> = byName([bme280, sht3x, ads1115, nmea, modbus, serialLines, ds18b20, gpioInput]);

export const actuatorDrivers: Record<string, ActuatorDriver> = byName<ActuatorDriver>([gpioOutput, pca9685]);

// The simulated hardware behind `hardware: sim`: a Hal whose buses reach chip models instead of
// device nodes. Drivers get the same interfaces as on a Pi and cannot tell the difference.
import type { Hal, I2cBus } from "../drivers/hal.ts";
import { SimI2cBus } from "./i2c.ts";
import { openSimSerial } from "./serial/pty.ts";
import { SimGpioChip } from "./gpio.ts";
import { SimOneWireBus } from "./onewire.ts";

export interface SimHal extends Hal {
  readonly kind: "sim";
  /** The simulated bus `n`, created on first use and shared: attach chip models here. */
  i2cBus(busNumber: number): SimI2cBus;
  /** The simulated 40-pin header: the world drives inputs and reads outputs (relay coils) here. */
  readonly gpioChip: SimGpioChip;
  /** The simulated w1 sysfs tree, created on first use: attach DS18B20 models here. */
  oneWireBus(): SimOneWireBus;
}

export function createSimHal(): SimHal {
  const buses = new Map<number, SimI2cBus>();
  const i2cBus = (busNumber: number): SimI2cBus => {
    if (!Number.isInteger(busNumber) || busNumber < 0) throw new Error(`invalid I2C bus number ${busNumber}`);
    let bus = buses.get(busNumber);
    if (bus === undefined) {
      bus = new SimI2cBus(busNumber);
      buses.set(busNumber, bus);
    }
    return bus;
  };
  const gpioChip = new SimGpioChip();
  let w1: SimOneWireBus | undefined;
  const oneWireBus = (): SimOneWireBus => (w1 ??= new SimOneWireBus());
  return {
    kind: "sim",
    i2cBus,
    gpioChip,
    oneWireBus,
    // Each caller gets its own handle, so closing one driver's bus does not cut off the others.
    i2c: async (busNumber: number): Promise<I2cBus> => i2cBus(busNumber).open(),
    gpio: (pin, options) => gpioChip.open(pin, options),
    // Each configured serial path is a pty pair with firmware on the far end (serial/pty.ts).
    serial: (options) => openSimSerial(options),
    oneWire: () => oneWireBus().open(),
  };
}

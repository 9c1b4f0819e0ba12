// The simulated hardware behind `hardware: sim`: a Hal whose buses reach chip models instead of
// device nodes. Drivers get the same interfaces as on a Pi and cannot tell the difference.
import type { GpioLine, Hal, I2cBus, OneWire, SerialLink } from "../drivers/hal.ts";
import { SimI2cBus } from "./i2c.ts";

export interface SimHal extends Hal {
  readonly kind: "sim";
  /** The simulated bus `n`, created on first use and shared: attach chip models here. */
  i2cBus(busNumber: number): SimI2cBus;
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
  return {
    kind: "sim",
    i2cBus,
    // Each caller gets its own handle, so closing one driver's bus does not cut off the others.
    i2c: async (busNumber: number): Promise<I2cBus> => i2cBus(busNumber).open(),
    // GPIO, serial and 1-Wire simulation are built by a later task; until then they say so.
    gpio: async (pin: number): Promise<GpioLine> => {
      throw new Error(`GPIO ${pin}: GPIO is not simulated yet`);
    },
    serial: async (options): Promise<SerialLink> => {
      throw new Error(`${options.path}: serial links are not simulated yet`);
    },
    oneWire: (): OneWire => {
      throw new Error("1-Wire is not simulated yet");
    },
  };
}

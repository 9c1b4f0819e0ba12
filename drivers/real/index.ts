// The real hardware behind `hardware: real`: Linux device nodes on a Raspberry Pi class gateway.
import type { GpioLine, Hal, OneWire, SerialLink } from "../hal.ts";
import { openI2cBus } from "./i2c.ts";

export function createRealHal(): Hal {
  return {
    kind: "real",
    i2c: (busNumber: number) => openI2cBus(busNumber),
    // GPIO (onoff), serial (serialport) and 1-Wire (w1 sysfs) backends are built by a later task.
    gpio: async (pin: number): Promise<GpioLine> => {
      throw new Error(`GPIO ${pin}: the real GPIO backend is not implemented yet`);
    },
    serial: async (options): Promise<SerialLink> => {
      throw new Error(`${options.path}: the real serial backend is not implemented yet`);
    },
    oneWire: (): OneWire => {
      throw new Error("the real 1-Wire backend is not implemented yet");
    },
  };
}

// The real hardware behind `hardware: real`: Linux device nodes on a Raspberry Pi class gateway.
import type { Hal } from "../hal.ts";
import { openGpioLine } from "./gpio.ts";
import { openI2cBus } from "./i2c.ts";
import { openW1Sysfs } from "./onewire.ts";
import { openSerialLink } from "./serial.ts";

export function createRealHal(): Hal {
  return {
    kind: "real",
    i2c: (busNumber: number) => openI2cBus(busNumber),
    gpio: (pin, options) => openGpioLine(pin, options),
    serial: (options) => openSerialLink(options),
    oneWire: () => openW1Sysfs(),
  };
}

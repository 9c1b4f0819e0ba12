// The real hardware behind `hardware: real`: Linux device nodes on a Raspberry Pi class gateway.
import { sysfsPullFix } from "../gpio-line.ts";
import type { GpioLine, GpioOptions, Hal } from "../hal.ts";
import { openGpioLine } from "./gpio.ts";
import { chooseGpioBackend, openCdevLine } from "./gpio-cdev.ts";
import { openI2cBus } from "./i2c.ts";
import { openW1Sysfs } from "./onewire.ts";
import { openSerialLink } from "./serial.ts";

export function createRealHal(): Hal {
  return {
    kind: "real",
    i2c: (busNumber: number) => openI2cBus(busNumber),
    gpio: (pin, options) => openGpio(pin, options),
    serial: (options) => openSerialLink(options),
    oneWire: () => openW1Sysfs(),
  };
}

/** The character device when there is one (gpio-cdev.ts), else sysfs, which cannot set a pull resistor. */
async function openGpio(pin: number, options: GpioOptions): Promise<GpioLine> {
  const route = await chooseGpioBackend(options.backend ?? "auto");
  if (route.backend === "cdev") return openCdevLine(pin, options, route.chip);
  if (options.bias !== undefined) throw biasNeedsCdev(pin, options, route.why);
  return openGpioLine(pin, options);
}

/** Config validation refuses bias with backend: sysfs; this is the same mistake found at open, with backend: auto. */
export function biasNeedsCdev(pin: number, options: Pick<GpioOptions, "direction" | "bias">, why: string): Error {
  return new Error(
    `GPIO ${pin}: gpio.bias: ${options.bias} needs the GPIO character device, and this line would open through sysfs ` +
      `(${why}), which cannot set pull resistors: ${sysfsPullFix(pin, options)}`,
  );
}

// Places a chip model wherever the config says a simulated sensor is wired, and drives its environment so
// values move plausibly over time (a slow daily-like temperature swing with a little noise).
import type { SensorConfig } from "../agent/config.ts";
import type { SimHal } from "./index.ts";
import { SimBme280 } from "./chips/bme280.ts";

interface I2cPlacement {
  bus: number;
  address: number;
}

/** Attaches a model for every configured sensor the simulation knows; returns a function that stops the drift. */
export function populate(hal: SimHal, sensors: SensorConfig[], now: () => number = Date.now): () => void {
  const drivers: (() => void)[] = [];
  sensors.forEach((sensor, index) => {
    if (sensor.driver === "bme280") {
      const { bus, address } = sensor.options.i2c as I2cPlacement;
      const chip = new SimBme280();
      hal.i2cBus(bus).attach(address, chip);
      const phase = index * 1.7;
      drivers.push(() => {
        const t = now() / 60_000 + phase; // one swing every ~6 minutes, so a demo shows movement
        chip.setEnvironment({
          temperature: 21 + 3 * Math.sin(t) + (Math.random() - 0.5) * 0.1,
          humidity: 45 + 10 * Math.sin(t / 2 + 1),
          pressure: 101_325 + 300 * Math.sin(t / 3),
        });
      });
    }
  });
  const step = () => drivers.forEach((drive) => drive());
  step();
  const timer = setInterval(step, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

// The simulated world for devices on the 40-pin header itself: DS18B20s on the 1-Wire bus, contacts and
// pulse sources on GPIO inputs, relays on GPIO outputs. world.ts spreads these into its model tables.
import type { FaultKind } from "./settings.ts";
import type { SimGpioPin } from "./gpio.ts";
import { SimDs18b20 } from "./onewire.ts";
import { simulate, type DeviceModel, type Placement } from "./model.ts";
import { ds18b20 } from "../drivers/ds18b20/index.ts";
import { gpioInput } from "../drivers/gpio-input/index.ts";
import { gpioOutput } from "../drivers/gpio-output/index.ts";

/** A sysfs id for a DS18B20 whose config names none: the driver then takes the only one on the bus. */
function simulatedDs18b20Id(index: number): string {
  return `28-${(0x0316a2790000 + index).toString(16).padStart(12, "0")}`;
}

export const headerSensorModels: Record<string, DeviceModel> = {
  ...simulate(ds18b20, (hal, { onewire }, index) => {
    const sensorModel = new SimDs18b20({ id: onewire.device ?? simulatedDs18b20Id(index), temperature: 19 });
    hal.oneWireBus().attach(sensorModel);
    const phase = index * 2.3;
    return {
      faults: sensorModel,
      drive: (nowMs) => {
        const t = nowMs / 90_000 + phase; // a slow swing, like water in a tank
        sensorModel.setTemperature(19 + 3 * Math.sin(t) + (Math.random() - 0.5) * 0.1);
      },
      close: () => hal.oneWireBus().detach(sensorModel.id),
    };
  }),
  ...simulate(gpioInput, (hal, { gpio, mode, counter }, index) => {
    const active = gpio.activeLow ? 0 : 1;
    const wire = hal.gpioChip.pin(gpio.pin);
    // Active low: a contact (or open collector) to GND, which lets go when inactive, so the line needs a pull-up
    // (bias: up, or GPIO 0–8's reset pull) as on a board. Active high: a sensor's push-pull output.
    wire.openDrain = active === 0;
    wire.setLevel(active === 1 ? 0 : 1);
    // A rain gauge (counting millimetres) tips a few times a minute at most; a flow meter pulses at a few hertz.
    const maxHertz = counter?.unit === "mm" ? 0.1 : 3;
    return mode === "counter" ? pulseSource(wire, active, index, maxHertz) : contact(wire, active, index);
  }),
};

export const headerActuatorModels: Record<string, DeviceModel> = {
  // The relay coil is the simulated output pin itself: its level is hal.gpioChip.pin(n).level.
  ...simulate(gpioOutput, (): Placement => ({})),
};

const STUCK_ONLY: readonly FaultKind[] = ["stuck"];

/** A door contact: closed most of the time, open for 5–20 s every 30–120 s; every move bounces. */
function contact(wire: SimGpioPin, active: 0 | 1, index: number): Placement {
  let stuck = false;
  let nextMoveAt: number | undefined;
  const move = (level: 0 | 1) => {
    if (stuck || wire.direction === "out") return;
    void wire.bounce(level, { edges: 5, spanMs: 4 });
  };
  return {
    faults: { supportedFaults: STUCK_ONLY, setFault: (fault) => (stuck = fault?.kind === "stuck") },
    drive: (nowMs) => {
      nextMoveAt ??= nowMs + 10_000 + index * 7_000;
      if (nowMs < nextMoveAt) return;
      const opening = wire.level !== active;
      move(opening ? active : ((1 - active) as 0 | 1));
      nextMoveAt = nowMs + (opening ? 5_000 + Math.random() * 15_000 : 30_000 + Math.random() * 90_000);
    },
  };
}

/** Pulses at a rate wandering over 0–maxHertz, each closing with a little bounce. */
function pulseSource(wire: SimGpioPin, active: 0 | 1, index: number, maxHertz: number): Placement {
  const timers = new Set<NodeJS.Timeout>();
  let stuck = false;
  let owed = 0;
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stuck && wire.direction !== "out") run();
    }, ms);
    timers.add(timer);
  };
  return {
    faults: { supportedFaults: STUCK_ONLY, setFault: (fault) => (stuck = fault?.kind === "stuck") },
    drive: (nowMs) => {
      const hertz = (maxHertz / 2) * (1 + Math.sin(nowMs / 120_000 + index));
      owed += hertz;
      const pulses = Math.floor(owed);
      owed -= pulses;
      const periodMs = 1000 / Math.max(pulses, 1);
      const widthMs = Math.min(100, periodMs / 2);
      for (let i = 0; i < pulses; i++) {
        later(i * periodMs, () => {
          void wire.bounce(active, { edges: 3, spanMs: 2 });
          later(widthMs, () => wire.setLevel((1 - active) as 0 | 1));
        });
      }
    },
    close: () => {
      timers.forEach((timer) => clearTimeout(timer));
      timers.clear();
    },
  };
}

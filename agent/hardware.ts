// The hardware backends a config can name (`hardware: sim | real`): what each adds to a sensor entry, and how
// each is opened. The one place in the agent's code that knows firmware-sim exists; a backend's code is loaded
// only when the config asks for it (the simulation's settings schema is light: zod and lib/ only).
import type { Hal } from "../drivers/hal.ts";
import type { SimDevices } from "../firmware-sim/model.ts";
import { scheduledFaults, sensorSimSchema } from "../firmware-sim/settings.ts";
import type { Logger } from "./log.ts";

/** An opened backend. */
export interface OpenHal {
  hal: Hal;
  /** Brings the hardware in line with a reloaded config (the simulated world places and removes devices). */
  update: (devices: SimDevices) => Promise<void>;
  close: () => Promise<void>;
}

interface HardwareBackend {
  open(devices: SimDevices, log: Logger): Promise<OpenHal>;
}

export const HARDWARE = ["sim", "real"] as const;
export type Hardware = (typeof HARDWARE)[number];

/** firmware-sim: chip and firmware models wherever the config says a device is wired. */
const sim = {
  /** A sensor entry's `sim:` block, and what it resolves to: the faults injected into its simulated device. */
  sensorSettings: { schema: sensorSimSchema, resolve: scheduledFaults },
  open: async (devices: SimDevices, log: Logger): Promise<OpenHal> => {
    const { createSimHal } = await import("../firmware-sim/index.ts");
    const { populate } = await import("../firmware-sim/world.ts");
    const hal = createSimHal();
    const world = await populate(hal, devices);
    const warnUnsimulated = () => {
      if (world.unsimulated.length > 0) log.warn("no simulation for these devices", { ids: world.unsimulated.join(",") });
    };
    warnUnsimulated();
    return {
      hal,
      update: async (next) => {
        await world.update(next);
        warnUnsimulated();
      },
      close: () => world.close(),
    };
  },
};

/** The device nodes of the gateway itself. */
const real = {
  open: async (): Promise<OpenHal> => {
    const { createRealHal } = await import("../drivers/real/index.ts");
    return { hal: createRealHal(), update: async () => undefined, close: async () => undefined };
  },
};

/** Every backend opens; the simulation also adds a `sim:` block to sensor entries, which config.ts reads here. */
export const hardwareBackends = { sim, real } satisfies Record<Hardware, HardwareBackend>;

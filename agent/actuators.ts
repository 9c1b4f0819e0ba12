// The configured actuators: opened at start (each driver drives its safe state then), closed at shutdown
// (safe state again). Control faces reach them only through here.
import type { Hal } from "../drivers/hal.ts";
import type { ActuatorDevice, ActuatorDriver } from "../drivers/driver.ts";
import type { ActuatorConfig } from "./config.ts";
import { errorText, type Logger } from "./log.ts";

export interface ActuatorEntry {
  id: string;
  driver: string;
  device?: ActuatorDevice;
  /** Why the device is not available, when it is not. */
  error?: string;
}

export class Actuators {
  private readonly entries: ActuatorEntry[];

  constructor(
    private readonly configs: ActuatorConfig[],
    private readonly drivers: Record<string, ActuatorDriver>,
    private readonly hal: Hal,
    private readonly log: Logger,
  ) {
    this.entries = configs.map((config) => ({ id: config.id, driver: config.driver }));
  }

  /** Opens every actuator; one that fails is reported and left out while the others work. */
  async open(): Promise<void> {
    await Promise.all(
      this.configs.map(async (config, index) => {
        const entry = this.entries[index]!;
        const driver = this.drivers[config.driver];
        try {
          if (!driver) throw new Error(`no driver named ${config.driver}`);
          entry.device = await driver.open(this.hal, config.options);
          entry.error = undefined;
        } catch (error) {
          entry.error = errorText(error);
          this.log.error("actuator unavailable", { actuator: config.id, error: entry.error });
        }
      }),
    );
  }

  get all(): readonly ActuatorEntry[] {
    return this.entries;
  }

  get(id: string): ActuatorEntry | undefined {
    return this.entries.find((entry) => entry.id === id);
  }

  /** Drives every actuator to its safe state and releases it. */
  async close(): Promise<void> {
    await Promise.all(
      this.entries.map(async (entry) => {
        try {
          await entry.device?.close();
        } catch (error) {
          this.log.error("actuator did not reach its safe state", { actuator: entry.id, error: errorText(error) });
        }
        entry.device = undefined;
      }),
    );
  }
}

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
  private entries: { config: ActuatorConfig; entry: ActuatorEntry }[] = [];

  constructor(
    configs: ActuatorConfig[],
    private readonly drivers: Record<string, ActuatorDriver>,
    private readonly hal: Hal,
    private readonly log: Logger,
  ) {
    this.entries = configs.map((config) => ({ config, entry: { id: config.id, driver: config.driver } }));
  }

  /** Opens every actuator not yet open; one that fails is reported and left out while the others work. */
  async open(): Promise<void> {
    await Promise.all(this.entries.filter(({ entry }) => !entry.device).map(({ config, entry }) => this.openOne(config, entry)));
  }

  private async openOne(config: ActuatorConfig, entry: ActuatorEntry): Promise<void> {
    const driver = this.drivers[config.driver];
    try {
      if (!driver) throw new Error(`no driver named ${config.driver}`);
      entry.device = await driver.open(this.hal, config.options);
      entry.error = undefined;
    } catch (error) {
      entry.error = errorText(error);
      this.log.error("actuator unavailable", { actuator: config.id, error: entry.error });
    }
  }

  get all(): readonly ActuatorEntry[] {
    return this.entries.map(({ entry }) => entry);
  }

  get(id: string): ActuatorEntry | undefined {
    return this.entries.find(({ entry }) => entry.id === id)?.entry;
  }

  /** Drives the actuators with these ids to their safe state, releases and forgets them. */
  async retire(ids: ReadonlySet<string>): Promise<void> {
    const leaving = this.entries.filter(({ entry }) => ids.has(entry.id));
    this.entries = this.entries.filter(({ entry }) => !ids.has(entry.id));
    await Promise.all(leaving.map(({ entry }) => this.release(entry)));
  }

  /**
   * Drives exactly these actuators, in this order: open ones stay as they are, new ones are opened (and so
   * put in their safe state). Actuators that are not listed must have been retired first.
   */
  async adopt(configs: readonly ActuatorConfig[]): Promise<void> {
    const current = new Map(this.entries.map((item) => [item.entry.id, item]));
    const unlisted = [...current.keys()].filter((id) => !configs.some((config) => config.id === id));
    if (unlisted.length > 0) throw new Error(`retire actuators before dropping them: ${unlisted.join(", ")}`);
    this.entries = configs.map((config) => current.get(config.id) ?? { config, entry: { id: config.id, driver: config.driver } });
    await this.open();
  }

  /** Drives every actuator to its safe state and releases it. */
  async close(): Promise<void> {
    await Promise.all(this.entries.map(({ entry }) => this.release(entry)));
  }

  private async release(entry: ActuatorEntry): Promise<void> {
    try {
      await entry.device?.close();
    } catch (error) {
      this.log.error("actuator did not reach its safe state", { actuator: entry.id, error: errorText(error) });
    }
    entry.device = undefined;
  }
}

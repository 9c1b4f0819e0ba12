// What every I2C chip driver shares: opening the bus and probing the chip with errors that name the device,
// one conversion at a time, and a close that lets a running conversion finish before the bus goes.
import type { Field } from "../lib/model.ts";
import { OneAtATime } from "../lib/one-at-a-time.ts";
import type { SensorDevice } from "./driver.ts";
import type { Hal, I2cBus } from "./hal.ts";
import { describeI2cError, deviceLabel, type I2cDeviceName } from "./i2c-errors.ts";

/**
 * Opens `name`'s bus and hands it to `probe`, which checks the chip and returns the device. Errors from either
 * step name the chip, bus and address; when the probe fails the bus is closed again.
 */
export async function openI2cChip<Device>(hal: Hal, name: I2cDeviceName, probe: (bus: I2cBus) => Promise<Device>): Promise<Device> {
  let bus: I2cBus;
  try {
    bus = await hal.i2c(name.busNumber);
  } catch (error) {
    throw describeI2cError(error, name);
  }
  try {
    return await probe(bus);
  } catch (error) {
    await bus.close().catch(() => undefined);
    throw describeI2cError(error, name);
  }
}

/** An opened I2C chip; a driver says how one sample is measured. */
export abstract class I2cChip implements SensorDevice {
  /** One conversion at a time: a second read() waits for the first instead of interleaving on the bus. */
  private readonly turns = new OneAtATime();
  private closed = false;

  protected constructor(
    protected readonly bus: I2cBus,
    protected readonly name: I2cDeviceName,
  ) {}

  /** One sample of all fields, taken while the chip has the bus to itself. */
  protected abstract measure(): Promise<Field[]>;

  read(): Promise<Field[]> {
    return this.turns.run(async () => {
      if (this.closed) throw new Error(`${deviceLabel(this.name)}: device is closed`);
      return this.measure();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.turns.idle();
    await this.bus.close();
  }
}

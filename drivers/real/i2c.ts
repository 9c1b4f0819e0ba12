// The real I2C backend: Linux i2c-dev through the i2c-bus package.
// i2c-bus opens /dev/i2c-N lazily, at the first transfer to each address, so `openPromisified`
// succeeds even when the bus is not enabled; open() therefore probes the device node first to
// report a disabled bus or a missing group membership up front, with the fix.
// i2c-bus is a native addon: it is imported here, on first use, so `hardware: sim` never loads it.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import type { PromisifiedBus } from "i2c-bus";
import { HardwareAccessError, type I2cBus } from "../hal.ts";

/** SMBus "I2C block" transfers carry at most 32 data bytes. */
const SMBUS_BLOCK_MAX = 32;

export async function openI2cBus(busNumber: number): Promise<I2cBus> {
  if (!Number.isInteger(busNumber) || busNumber < 0) throw new Error(`invalid I2C bus number ${busNumber}`);
  const devicePath = `/dev/i2c-${busNumber}`;
  try {
    await access(devicePath, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw accessError(busNumber, error) ?? error;
  }
  const { default: i2c } = await import("i2c-bus");
  const bus = await i2c.openPromisified(busNumber);
  return new RealI2cBus(busNumber, bus);
}

class RealI2cBus implements I2cBus {
  constructor(
    readonly busNumber: number,
    private readonly bus: PromisifiedBus,
  ) {}

  readByte(address: number, register: number): Promise<number> {
    return this.transfer(() => this.bus.readByte(address, register));
  }

  writeByte(address: number, register: number, value: number): Promise<void> {
    return this.transfer(() => this.bus.writeByte(address, register, value));
  }

  readWord(address: number, register: number): Promise<number> {
    return this.transfer(() => this.bus.readWord(address, register));
  }

  writeWord(address: number, register: number, value: number): Promise<void> {
    return this.transfer(() => this.bus.writeWord(address, register, value));
  }

  /** Longer than 32 bytes: consecutive SMBus block reads at register + offset (chips auto-increment). */
  readBlock(address: number, register: number, length: number): Promise<Buffer> {
    return this.transfer(async () => {
      if (register + length - 1 > 0xff && length > SMBUS_BLOCK_MAX) {
        throw new Error(`readBlock: ${length} bytes from register 0x${register.toString(16)} runs past 0xFF`);
      }
      const out = Buffer.alloc(length);
      for (let offset = 0; offset < length; offset += SMBUS_BLOCK_MAX) {
        const count = Math.min(SMBUS_BLOCK_MAX, length - offset);
        const chunk = Buffer.alloc(count);
        const { bytesRead } = await this.bus.readI2cBlock(address, register + offset, count, chunk);
        if (bytesRead !== count) throw shortTransfer("readBlock", bytesRead, count);
        chunk.copy(out, offset);
      }
      return out;
    });
  }

  /** Up to 32 bytes as one SMBus block write; longer as one plain write of [register, ...data]. */
  writeBlock(address: number, register: number, data: Buffer): Promise<void> {
    return this.transfer(async () => {
      if (data.length <= SMBUS_BLOCK_MAX) {
        const { bytesWritten } = await this.bus.writeI2cBlock(address, register, data.length, data);
        if (bytesWritten !== data.length) throw shortTransfer("writeBlock", bytesWritten, data.length);
      } else {
        const frame = Buffer.concat([Buffer.from([register]), data]);
        const { bytesWritten } = await this.bus.i2cWrite(address, frame.length, frame);
        if (bytesWritten !== frame.length) throw shortTransfer("writeBlock", bytesWritten, frame.length);
      }
    });
  }

  write(address: number, data: Buffer): Promise<void> {
    return this.transfer(async () => {
      const { bytesWritten } = await this.bus.i2cWrite(address, data.length, data);
      if (bytesWritten !== data.length) throw shortTransfer("write", bytesWritten, data.length);
    });
  }

  read(address: number, length: number): Promise<Buffer> {
    return this.transfer(async () => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await this.bus.i2cRead(address, length, buffer);
      if (bytesRead !== length) throw shortTransfer("read", bytesRead, length);
      return buffer;
    });
  }

  close(): Promise<void> {
    return this.bus.close();
  }

  /** Runs one transfer; a device node that vanished or lost its permissions gets the same clear error as at open. */
  private async transfer<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw accessError(this.busNumber, error) ?? error;
    }
  }
}

/** The HardwareAccessError for a missing or forbidden /dev/i2c-N, or undefined for any other error. */
export function accessError(busNumber: number, error: unknown): HardwareAccessError | undefined {
  const devicePath = `/dev/i2c-${busNumber}`;
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  if (code === "ENOENT") {
    const fix =
      busNumber === 1
        ? `I2C bus 1 is not enabled: run \`sudo raspi-config nonint do_i2c 0\` (or add dtparam=i2c_arm=on to /boot/firmware/config.txt) and reboot`
        : `I2C bus ${busNumber} is not enabled: bus 1 is the one on header pins 3/5 (\`sudo raspi-config nonint do_i2c 0\`); ` +
          `other buses need their overlay in /boot/firmware/config.txt (e.g. dtoverlay=i2c${busNumber}) and a reboot`;
    return new HardwareAccessError(devicePath, fix, error);
  }
  if (code === "EACCES" || code === "EPERM") {
    return new HardwareAccessError(
      devicePath,
      "permission denied: add the user the agent runs as to the `i2c` group (`sudo usermod -aG i2c <user>`) and restart the agent",
      error,
    );
  }
  return undefined;
}

function shortTransfer(op: string, done: number, wanted: number): Error {
  return Object.assign(new Error(`EIO, ${op}: transferred ${done} of ${wanted} bytes`), { code: "EIO" });
}

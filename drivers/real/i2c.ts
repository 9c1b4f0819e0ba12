// The real I2C backend: Linux i2c-dev through the i2c-bus package.
// i2c-bus opens /dev/i2c-N lazily, at the first transfer to each address, so `openPromisified`
// succeeds even when the bus is not enabled; open() therefore probes the device node first to
// report a disabled bus or a missing group membership up front, with the fix.
// i2c-bus is a native addon: it is imported here, on first use, so `hardware: sim` never loads it.
import { constants } from "node:fs";
import { access, readFile, realpath } from "node:fs/promises";
import { basename } from "node:path";
import type { PromisifiedBus } from "i2c-bus";
import { errorCode, hex } from "../i2c-errors.ts";
import { HardwareAccessError, type I2cBus } from "../hal.ts";
import { hostBoard, type Board } from "./board.ts";

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

/** The transfers of i2c-bus that this backend uses. */
export type SmbusTransfers = Pick<
  PromisifiedBus,
  "readByte" | "writeByte" | "readWord" | "writeWord" | "readI2cBlock" | "writeI2cBlock" | "i2cWrite" | "i2cRead" | "close"
>;

export class RealI2cBus implements I2cBus {
  /** Addresses a kernel driver owns, with the error said the first time. */
  private readonly ownedAddresses = new Map<number, HardwareAccessError>();

  constructor(
    readonly busNumber: number,
    private readonly bus: SmbusTransfers,
    private readonly board: Board = hostBoard,
  ) {}

  readByte(address: number, register: number): Promise<number> {
    return this.transfer(address, () => this.bus.readByte(address, register));
  }

  writeByte(address: number, register: number, value: number): Promise<void> {
    return this.transfer(address, () => this.bus.writeByte(address, register, value));
  }

  readWord(address: number, register: number): Promise<number> {
    return this.transfer(address, () => this.bus.readWord(address, register));
  }

  writeWord(address: number, register: number, value: number): Promise<void> {
    return this.transfer(address, () => this.bus.writeWord(address, register, value));
  }

  /** Longer than 32 bytes: consecutive SMBus block reads at register + offset (chips auto-increment). */
  readBlock(address: number, register: number, length: number): Promise<Buffer> {
    return this.transfer(address, async () => {
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
    return this.transfer(address, async () => {
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
    return this.transfer(address, async () => {
      const { bytesWritten } = await this.bus.i2cWrite(address, data.length, data);
      if (bytesWritten !== data.length) throw shortTransfer("write", bytesWritten, data.length);
    });
  }

  read(address: number, length: number): Promise<Buffer> {
    return this.transfer(address, async () => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await this.bus.i2cRead(address, length, buffer);
      if (bytesRead !== length) throw shortTransfer("read", bytesRead, length);
      return buffer;
    });
  }

  close(): Promise<void> {
    return this.bus.close();
  }

  /**
   * Runs one transfer; a device node that vanished or lost its permissions gets the same clear error as at open.
   * An address a kernel driver owns is not tried again: i2c-bus keeps the file descriptor whose address could
   * not be set, and would send the next transfer to address 0x00, the general call every chip listens to.
   */
  private async transfer<T>(address: number, run: () => Promise<T>): Promise<T> {
    const owned = this.ownedAddresses.get(address);
    if (owned) throw owned;
    try {
      return await run();
    } catch (error) {
      if (isAddressRefused(error)) {
        const ownedError = await addressOwnedError(this.busNumber, address, error, this.board);
        this.ownedAddresses.set(address, ownedError);
        throw ownedError;
      }
      throw accessError(this.busNumber, error) ?? error;
    }
  }
}

/** i2c-dev refused to select the address (ioctl I2C_SLAVE, which i2c-bus reports as syscall "setAddr") with EBUSY. */
function isAddressRefused(error: unknown): boolean {
  return errorCode(error) === "EBUSY" && typeof error === "object" && error !== null && "syscall" in error && error.syscall === "setAddr";
}

/**
 * EBUSY from i2c-dev: a kernel driver is bound to the address (i2cdetect shows UU), usually from a dtoverlay
 * that declares a chip there; sysfs names the driver when it can be read.
 */
export async function addressOwnedError(busNumber: number, address: number, error: unknown, board: Board = hostBoard): Promise<HardwareAccessError> {
  const client = board.file(`/sys/bus/i2c/devices/${busNumber}-${address.toString(16).padStart(4, "0")}`);
  const [chip, driver] = await Promise.all([
    readFile(`${client}/name`, "utf8").then((name) => name.trim(), () => undefined),
    realpath(`${client}/driver`).then((path) => basename(path), () => undefined),
  ]);
  const owner = driver === undefined ? "" : ` (the kernel's ${driver}${chip === undefined ? "" : ` driver for a ${chip}`})`;
  return new HardwareAccessError(
    `/dev/i2c-${busNumber} address ${hex(address)}`,
    `a kernel driver owns this address${owner}, and \`i2cdetect -y ${busNumber}\` shows it as UU: e.g. an rtc or sensor ` +
      "dtoverlay in /boot/firmware/config.txt. Remove its dtoverlay line and reboot to read the chip here, or read it " +
      "through that driver instead",
    error,
  );
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

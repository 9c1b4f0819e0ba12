// Maxim (Analog Devices) DS18B20 1-Wire thermometer, read through the Linux w1 subsystem (w1-gpio master,
// w1_therm slave driver): reading /sys/bus/w1/devices/28-…/w1_slave makes the kernel start a conversion,
// wait for it and print the 9-byte scratchpad (data sheet 19-7487, Figure 7):
//   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//   72 01 4b 46 7f ff 0e 10 57 t=23125
//
// The temperature comes from the scratchpad bytes, not from t=: the kernel computes t= as raw × 1000 / 16 in
// integer arithmetic, which truncates (3.9375 °C prints as t=3937), while the bytes are exact. The driver
// checks the Dallas/Maxim CRC-8 itself as well as the kernel's YES, and rejects what a good CRC cannot catch:
// an all-zero scratchpad (CRC 00 is "valid": the data line held low), a configuration register that no
// DS18B20 has, values outside −55…+125 °C, and the 85 °C power-on value (see plausibleEightyFive).
import { momentaryNumeric, type Field } from "../../lib/model.ts";
import type { SensorDevice } from "../driver.ts";
import { HardwareAccessError, type Hal, type OneWire } from "../hal.ts";
import { DS18B20_ID } from "./index.ts";

/** Raw temperature register at power-up: +85 °C (data sheet, "Operation — Measuring Temperature"). */
const POWER_ON_RAW = 0x0550;
/** A failed CRC, an I/O error or the power-on value get one more read (the kernel has usually retried already). */
const ATTEMPTS = 2;
const DECIMALS: Record<number, number> = { 9: 1, 10: 2, 11: 3, 12: 4 };

/** An error worth one more read: the next conversion is likely to be fine. */
class TransientError extends Error {}

export class Ds18b20Device implements SensorDevice {
  private lastCelsius: number | undefined;
  /** A kernel read that has not returned yet: a hung bus must not pile up more reads behind it. */
  private pending: Promise<unknown> | undefined;
  private closed = false;

  private constructor(
    private readonly bus: OneWire,
    private readonly id: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Listing the bus makes a missing w1 tree (1-Wire not enabled) fail here, at open. A configured device need
   * not be present yet: readings say when it is not. With no device configured, the only DS18B20 on the bus is
   * used; none or several is an error that lists them.
   */
  static async open(hal: Hal, device: string | undefined, timeoutMs: number): Promise<Ds18b20Device> {
    const bus = hal.oneWire();
    const present = await bus.list();
    if (device !== undefined) return new Ds18b20Device(bus, device, timeoutMs);
    const found = present.filter((id) => DS18B20_ID.test(id));
    const [only] = found;
    if (only === undefined || found.length > 1) {
      throw new Error(
        `ds18b20: onewire.device is not set and the 1-Wire bus has ${found.length === 0 ? "no DS18B20 (family 28)" : `${found.length} DS18B20s: ${found.join(", ")}`}; ` +
          (found.length === 0 ? "check the wiring (data to GPIO 4, header pin 7, with a 4.7 kΩ pull-up to 3V3)" : "set onewire.device to one of them"),
      );
    }
    return new Ds18b20Device(bus, only, timeoutMs);
  }

  async read(): Promise<Field[]> {
    if (this.closed) throw new Error(`ds18b20 ${this.id}: device is closed`);
    for (let attempt = 1; ; attempt++) {
      try {
        return [await this.sample()];
      } catch (error) {
        if (!(error instanceof TransientError) || attempt === ATTEMPTS) throw error;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async sample(): Promise<Field> {
    const text = await this.readSlave();
    const { celsius, resolution, raw } = decodeScratchpad(this.id, parseW1Slave(this.id, text));
    if (raw === POWER_ON_RAW && !plausibleEightyFive(this.lastCelsius)) {
      throw new TransientError(
        `ds18b20 ${this.id}: reads 85 °C, the power-on value: the sensor was reset and has not converted since ` +
          "(power dropout, parasite power too weak, or a long cable); it is not taken as a temperature",
      );
    }
    this.lastCelsius = celsius;
    return momentaryNumeric("temperature", celsius, "°C", DECIMALS[resolution] ?? 4);
  }

  private async readSlave(): Promise<string> {
    const where = `ds18b20 ${this.id}`;
    if (this.pending) {
      throw new Error(`${where}: the previous read has still not returned; the 1-Wire bus or the kernel's w1 driver is hung`);
    }
    const read = this.bus.readSlave(this.id);
    const settled = read.then(
      () => undefined,
      () => undefined,
    );
    this.pending = settled;
    void settled.then(() => {
      if (this.pending === settled) this.pending = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${where}: no answer within ${this.timeoutMs} ms (onewire.timeout); the bus may be hung or overloaded`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([read, timeout]);
    } catch (error) {
      throw await this.describe(error);
    } finally {
      clearTimeout(timer);
    }
  }

  private async describe(error: unknown): Promise<Error> {
    const where = `ds18b20 ${this.id}`;
    if (error instanceof HardwareAccessError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith(where)) return error as Error;
    const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
    if (code === "ENOENT") {
      const present = await this.bus.list().then(
        (ids) => (ids.length > 0 ? ids.join(", ") : "none"),
        () => "unknown",
      );
      return new Error(
        `${where}: not on the 1-Wire bus (unplugged, a broken wire, or a wrong id); devices present: ${present}`,
        { cause: error },
      );
    }
    if (code === "EIO") return new TransientError(`${where}: read failed (EIO): the sensor did not answer properly; check the wiring and the 4.7 kΩ pull-up`, { cause: error });
    return new Error(`${where}: ${message}`, { cause: error });
  }
}

/**
 * The classic power-on rule, made precise: raw 0x0550 (85.0000 °C) is what the register holds after power-up
 * until a conversion completes, so it is only believed when the previous good reading was within 5 °C of
 * 85 °C. A sensor really at 85 °C reads 84.9375 or 85.0625 now and then on its way there, which arms it.
 */
export function plausibleEightyFive(lastCelsius: number | undefined): boolean {
  return lastCelsius !== undefined && Math.abs(lastCelsius - 85) <= 5;
}

export interface W1Slave {
  scratchpad: number[];
  /** The kernel's verdict (YES/NO) on the CRC. */
  kernelCrcOk: boolean;
}

const LINE_1 = /^((?:[0-9a-f]{2} ){9}): crc=[0-9a-f]{2} (YES|NO)$/;
const LINE_2 = /^(?:[0-9a-f]{2} ){9}t=-?\d+$/;

/** The two lines of a w1_therm w1_slave file; throws on anything else. */
export function parseW1Slave(id: string, text: string): W1Slave {
  const [first = "", second = ""] = text.split("\n");
  const match = LINE_1.exec(first);
  if (!match || !LINE_2.test(second)) {
    const shown = text.trim() === "" ? "an empty file" : JSON.stringify(text.slice(0, 120));
    throw new TransientError(`ds18b20 ${id}: unexpected w1_slave content (${shown}); the kernel could not read the sensor`);
  }
  const scratchpad = (match[1] ?? "").trim().split(" ").map((byte) => parseInt(byte, 16));
  return { scratchpad, kernelCrcOk: match[2] === "YES" };
}

/** Checks a scratchpad and converts it: raw register, °C (bits below the resolution cleared), resolution in bits. */
export function decodeScratchpad(id: string, { scratchpad, kernelCrcOk }: W1Slave): { raw: number; celsius: number; resolution: number } {
  const where = `ds18b20 ${id}`;
  const hex = scratchpad.map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
  const byte = (i: number) => scratchpad[i] ?? 0;
  if (scratchpad.every((b) => b === 0xff)) {
    throw new TransientError(`${where}: CRC check failed: every byte reads 0xFF, nothing answered (sensor disconnected or the 4.7 kΩ pull-up missing)`);
  }
  const computed = dallasCrc8(scratchpad.slice(0, 8));
  if (!kernelCrcOk || computed !== byte(8)) {
    throw new TransientError(
      `${where}: CRC check failed (scratchpad ${hex}, CRC computed 0x${computed.toString(16).padStart(2, "0")}): ` +
        "interference or a marginal connection; long cables need a stronger pull-up (e.g. 2.2 kΩ)",
    );
  }
  if (scratchpad.every((b) => b === 0)) {
    throw new Error(`${where}: the scratchpad reads all zeros (whose CRC is 00, so it passes): the data line is held low; check for a short to GND`);
  }
  const config = byte(4);
  if ((config & 0x9f) !== 0x1f) {
    throw new Error(`${where}: not a DS18B20 scratchpad: configuration register 0x${config.toString(16)} (a DS18B20 has 0x1f, 0x3f, 0x5f or 0x7f)`);
  }
  const resolution = 9 + ((config >> 5) & 0x03);
  // Data sheet Figure 4: below 12 bits the lowest bits of the register are undefined.
  const raw = (((byte(1) << 8) | byte(0)) << 16) >> 16;
  const celsius = (raw & ~((1 << (12 - resolution)) - 1)) / 16;
  if (celsius < -55 || celsius > 125) {
    throw new Error(`${where}: ${celsius} °C is outside the DS18B20's range (−55…+125 °C); the reading is corrupt`);
  }
  return { raw, celsius, resolution };
}

/** Dallas/Maxim 1-Wire CRC-8 (application note 27): x^8 + x^5 + x^4 + 1, LSB first, i.e. the reflected 0x8C. */
export function dallasCrc8(bytes: readonly number[]): number {
  let crc = 0;
  for (const value of bytes) {
    crc = CRC_TABLE[(crc ^ value) & 0xff] ?? 0;
  }
  return crc;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let crc = index;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1;
  return crc;
});

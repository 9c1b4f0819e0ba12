// A simulated 1-Wire bus as the Linux w1 subsystem shows it: a temporary folder laid out like
// /sys/bus/w1/devices (a w1_bus_master1 entry, one <family>-<serial> folder per device, each with a
// w1_slave file in the kernel's exact text). Drivers read it through the real backend's sysfs reader
// (drivers/real/onewire.ts) with this folder as root, so parsing is tested on the real code path.
//
// The DS18B20 model keeps the 9-byte scratchpad (data sheet 19-7487 rev 6, Figure 7 / Table 2):
// temperature LSB/MSB (two's complement, 1/16 °C), TH, TL, configuration (R1R0 in bits 6:5), 0xFF,
// a reserved byte, 0x10, and the Dallas/Maxim CRC-8 of the first eight. It writes w1_slave as w1_therm
// prints it:
//   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//   72 01 4b 46 7f ff 0e 10 57 t=23125
// where crc= is the CRC the kernel computed over bytes 0–7 (YES when it equals byte 8) and t= is
// raw × 1000 / 16 truncated toward zero, as the kernel's integer division does.
// Faults: crc (a corrupted byte: crc=.. NO), unplug (the folder disappears), stuck (the file stops
// changing), slow and eio (applied by the bus in front of the read). The 85 °C power-on value is a
// state of the model: powerOnReset() shows the power-on scratchpad until the next conversion.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { OneWire } from "../drivers/hal.ts";
import { openW1Sysfs } from "../drivers/real/onewire.ts";
import type { Faultable } from "./faults.ts";
import type { Fault, FaultKind } from "./settings.ts";

export type Resolution = 9 | 10 | 11 | 12;

export interface SimDs18b20Options {
  /** The sysfs id, family 28: "28-" and 12 hex digits of serial. */
  id: string;
  temperature?: number;
  resolution?: Resolution;
}

/** Power-on scratchpad: +85 °C, TH/TL as shipped (75/70 °C), 12-bit; byte 6 reads 0x0C (real captures show it). */
const POWER_ON_SCRATCHPAD = [0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10] as const;
const DS18B20_ID = /^28-[0-9a-f]{12}$/;

export class SimDs18b20 implements Faultable {
  readonly id: string;
  readonly supportedFaults: readonly FaultKind[] = ["crc", "unplug", "stuck", "slow", "eio"];
  private temperature: number;
  private resolution: Resolution;
  private fault: Fault | null = null;
  private poweredOnOnly = false;
  /** What w1_therm prints on the second line after a CRC failure: the last scratchpad that passed. */
  private lastGood: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  private folder: string | undefined;

  constructor({ id, temperature = 20, resolution = 12 }: SimDs18b20Options) {
    if (!DS18B20_ID.test(id)) throw new Error(`sim DS18B20: "${id}" is not a family-28 device id such as 28-0316a2795aff`);
    this.id = id;
    this.temperature = temperature;
    this.resolution = resolution;
  }

  get activeFault(): Fault | null {
    return this.fault;
  }

  /** A new conversion at `celsius` (clamped to the sensor's −55…+125 °C). A stuck sensor keeps its old value. */
  setTemperature(celsius: number): void {
    this.temperature = Math.min(125, Math.max(-55, celsius));
    if (this.fault?.kind === "stuck") return;
    this.poweredOnOnly = false;
    this.publish();
  }

  setResolution(resolution: Resolution): void {
    this.resolution = resolution;
    this.publish();
  }

  /** The sensor lost power and no conversion has run since: the scratchpad holds its power-on values. */
  powerOnReset(): void {
    this.poweredOnOnly = true;
    this.publish();
  }

  setFault(fault: Fault | null): void {
    const wasUnplugged = this.fault?.kind === "unplug";
    this.fault = fault;
    if (this.folder === undefined) return;
    if (fault?.kind === "unplug") rmSync(this.folder, { recursive: true, force: true });
    else if (wasUnplugged) mkdirSync(this.folder, { recursive: true });
    this.publish();
  }

  /** The nine scratchpad bytes a read would return now. */
  scratchpad(): number[] {
    const bytes: number[] = this.poweredOnOnly ? [...POWER_ON_SCRATCHPAD] : this.convertedScratchpad();
    return [...bytes, crc8(bytes)];
  }

  /** Places the device folder under `devicesRoot` (the bus does this). */
  mount(devicesRoot: string): void {
    this.folder = join(devicesRoot, this.id);
    if (this.fault?.kind !== "unplug") mkdirSync(this.folder, { recursive: true });
    this.publish();
  }

  unmount(): void {
    if (this.folder !== undefined) rmSync(this.folder, { recursive: true, force: true });
    this.folder = undefined;
  }

  private convertedScratchpad(): number[] {
    const step = 2 ** (12 - this.resolution); // in 1/16 °C: bits below the resolution read 0
    const raw = Math.round((this.temperature * 16) / step) * step;
    const word = raw & 0xffff;
    const config = ((this.resolution - 9) << 5) | 0x1f;
    // Byte 6 is reserved; DS18B20s in the field read 0x10 minus the low nibble of the temperature there.
    return [word & 0xff, word >> 8, 0x4b, 0x46, config, 0xff, 0x10 - (raw & 0x0f), 0x10];
  }

  private publish(): void {
    if (this.folder === undefined || this.fault?.kind === "unplug" || this.fault?.kind === "stuck") return;
    const bytes = this.scratchpad();
    if (this.fault?.kind === "crc") bytes[1] = (bytes[1] ?? 0) ^ 0x04; // one flipped bit on the wire
    const computed = crc8(bytes.slice(0, 8));
    const verdict = computed === bytes[8];
    if (verdict) this.lastGood = bytes;
    const hex = (values: number[]) => values.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const raw = (((bytes[1] ?? 0) << 8) | (bytes[0] ?? 0)) << 16 >> 16;
    const text =
      `${hex(bytes)} : crc=${computed.toString(16).padStart(2, "0")} ${verdict ? "YES" : "NO"}\n` +
      `${hex(this.lastGood)} t=${Math.trunc((raw * 1000) / 16)}\n`;
    // Written aside and renamed, so a reader never sees half a file.
    const file = join(this.folder, "w1_slave");
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  }
}

/** Dallas/Maxim 1-Wire CRC-8: x^8 + x^5 + x^4 + 1, bits LSB first (reflected polynomial 0x8C), initial 0. */
export function crc8(bytes: readonly number[]): number {
  let crc = 0;
  for (const byte of bytes) {
    for (let bit = 0; bit < 8; bit++) {
      const feedback = (crc ^ (byte >> bit)) & 1;
      crc >>= 1;
      if (feedback) crc ^= 0x8c;
    }
  }
  return crc;
}

/** Temporary w1 trees still on disk, removed when the process exits. */
const liveTrees = new Set<string>();
process.once("exit", () => liveTrees.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

export class SimOneWireBus {
  /** The folder standing in for /sys/bus/w1/devices. */
  readonly root: string;
  private readonly folder: string;
  private readonly devices = new Map<string, SimDs18b20>();

  constructor() {
    this.folder = mkdtempSync(join(tmpdir(), "xedge-w1-"));
    liveTrees.add(this.folder);
    this.root = join(this.folder, "devices");
    mkdirSync(join(this.root, "w1_bus_master1"), { recursive: true });
  }

  attach(device: SimDs18b20): void {
    if (this.devices.has(device.id)) throw new Error(`sim 1-Wire bus: ${device.id} is already attached`);
    this.devices.set(device.id, device);
    device.mount(this.root);
  }

  detach(id: string): void {
    this.devices.get(id)?.unmount();
    this.devices.delete(id);
  }

  device(id: string): SimDs18b20 | undefined {
    return this.devices.get(id);
  }

  /** What a driver gets: the real sysfs reader on this tree, with each device's slow/eio fault in front of its reads. */
  open(): OneWire {
    const sysfs = openW1Sysfs(this.root);
    return {
      list: () => sysfs.list(),
      readSlave: async (deviceId) => {
        const fault = this.devices.get(deviceId)?.activeFault;
        if (fault?.kind === "slow") await sleep(fault.delayMs ?? 2000);
        if (fault?.kind === "eio") {
          throw Object.assign(new Error(`EIO: i/o error, read '${join(this.root, deviceId, "w1_slave")}'`), {
            code: "EIO",
            errno: -5,
            syscall: "read",
          });
        }
        return sysfs.readSlave(deviceId);
      },
    };
  }

  /** Removes the temporary tree. */
  dispose(): void {
    for (const id of [...this.devices.keys()]) this.detach(id);
    rmSync(this.folder, { recursive: true, force: true });
    liveTrees.delete(this.folder);
  }
}

// Helpers for tests that run inside the test VM (test/vm/inside/*.vm.ts): the test's side of the simulated
// devices. gpio-sim's sysfs attributes drive an input line (`pull`) and show what a consumer did with a line
// (`value` of an output, `pull` after a bias request); i2c-stub's registers are loaded over i2c-dev.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { VM_GPIO_CHIPS, VM_I2C_BUS } from "./vm-layout.ts";

const CONFIGFS = "/sys/kernel/config/gpio-sim";

/** True inside the test VM (the init script sets up these devices only there). */
export function insideVm(): boolean {
  return process.env.XEDGE_VM_OUT !== undefined;
}

export type SimPull = "pull-up" | "pull-down";

/** One gpio-sim line, seen from outside the chip (the wire and the pull on it). */
export interface SimLine {
  /** Puts a pull on the wire: an input line then reads 1 for pull-up, 0 for pull-down. */
  setPull(pull: SimPull): Promise<void>;
  /** The pull on the line: the last one set here, or the bias a consumer requested. */
  pull(): Promise<SimPull>;
  /** The line's level: what an output drives, or what an input sees. */
  value(): Promise<0 | 1>;
}

export interface SimChip {
  label: string;
  /** e.g. gpiochip1 (also /dev/gpiochip1). */
  chipName: string;
  /** The chip's first number in the global (sysfs) GPIO numbering. */
  base: number;
  lines: number;
  line(offset: number): SimLine;
}

function configDir(label: string): string {
  const chip = VM_GPIO_CHIPS.find((c) => c.label === label);
  if (chip === undefined) throw new Error(`no gpio-sim chip labelled ${label} in the VM layout`);
  return join(CONFIGFS, chip.name);
}

async function readTrimmed(path: string): Promise<string> {
  return (await readFile(path, "utf8")).trim();
}

/** The live gpio-sim chip labelled `label` (pinctrl-bcm2711 or pinctrl-rp1). */
export async function simChip(label: string): Promise<SimChip> {
  const dir = configDir(label);
  if ((await readTrimmed(join(dir, "live"))) !== "1") throw new Error(`gpio-sim chip ${label} is not live`);
  const deviceName = await readTrimmed(join(dir, "dev_name"));
  const chipName = await readTrimmed(join(dir, "bank0/chip_name"));
  const lines = Number(await readTrimmed(join(dir, "bank0/num_lines")));
  const base = await sysfsBase(label);
  const lineDir = (offset: number) => {
    if (!Number.isInteger(offset) || offset < 0 || offset >= lines) throw new Error(`${label} has no line ${offset}`);
    return `/sys/devices/platform/${deviceName}/${chipName}/sim_gpio${offset}`;
  };
  return {
    label,
    chipName,
    base,
    lines,
    line: (offset) => ({
      setPull: (pull) => writeFile(join(lineDir(offset), "pull"), pull),
      pull: async () => ((await readTrimmed(join(lineDir(offset), "pull"))) === "pull-up" ? "pull-up" : "pull-down"),
      value: async () => ((await readTrimmed(join(lineDir(offset), "value"))) === "1" ? 1 : 0),
    }),
  };
}

/** The base of the chip labelled `label` in the sysfs numbering (/sys/class/gpio/gpiochip<base>/label). */
async function sysfsBase(label: string): Promise<number> {
  for (const entry of await readdir("/sys/class/gpio")) {
    if (!/^gpiochip\d+$/.test(entry)) continue;
    if ((await readTrimmed(join("/sys/class/gpio", entry, "label"))) === label) {
      return Number(await readTrimmed(join("/sys/class/gpio", entry, "base")));
    }
  }
  throw new Error(`no chip labelled ${label} in /sys/class/gpio`);
}

/**
 * Leaves only the chip labelled `label` live among the header controllers, as on a real board (a Pi 4 has no
 * RP1); the other chip's lines disappear. Returns the chip.
 */
export async function useHeaderChip(label: string): Promise<SimChip> {
  for (const chip of VM_GPIO_CHIPS) {
    const live = join(CONFIGFS, chip.name, "live");
    const wanted = chip.label === label ? "1" : "0";
    if ((await readTrimmed(live)) !== wanted) await writeFile(live, wanted);
  }
  return simChip(label);
}

/** Puts every header chip back live (the state after boot). */
export async function restoreHeaderChips(): Promise<void> {
  for (const chip of VM_GPIO_CHIPS) {
    const live = join(CONFIGFS, chip.name, "live");
    if ((await readTrimmed(live)) !== "1") await writeFile(live, "1");
  }
}

/**
 * Loads `bytes` into consecutive byte registers of the i2c-stub chip at `address` on bus 1, from `register` on,
 * through i2c-dev (the i2c-bus package directly, not the backend under test).
 */
export async function loadStubRegisters(address: number, register: number, bytes: Iterable<number>): Promise<void> {
  const { default: i2c } = await import("i2c-bus");
  const bus = await i2c.openPromisified(VM_I2C_BUS);
  try {
    let offset = 0;
    for (const value of bytes) await bus.writeByte(address, register + offset++, value);
  } finally {
    await bus.close();
  }
}

/** Reads back `length` byte registers of the stub chip at `address` from `register`, through i2c-dev. */
export async function readStubRegisters(address: number, register: number, length: number): Promise<number[]> {
  const { default: i2c } = await import("i2c-bus");
  const bus = await i2c.openPromisified(VM_I2C_BUS);
  try {
    const values: number[] = [];
    for (let i = 0; i < length; i++) values.push(await bus.readByte(address, register + i));
    return values;
  } finally {
    await bus.close();
  }
}

/**
 * Stores a 16-bit SMBus word at `register` of the stub chip, as i2c-dev's word write sends it: low byte first.
 * i2c-stub keeps one 16-bit cell per register (a byte access sees its low byte), so words do not run on into the
 * next register as on a chip with an auto-incrementing register file.
 */
export async function loadStubWord(address: number, register: number, word: number): Promise<void> {
  const { default: i2c } = await import("i2c-bus");
  const bus = await i2c.openPromisified(VM_I2C_BUS);
  try {
    await bus.writeWord(address, register, word);
  } finally {
    await bus.close();
  }
}

/** Reads the 16-bit SMBus word at `register` of the stub chip through i2c-dev. */
export async function readStubWord(address: number, register: number): Promise<number> {
  const { default: i2c } = await import("i2c-bus");
  const bus = await i2c.openPromisified(VM_I2C_BUS);
  try {
    return await bus.readWord(address, register);
  } finally {
    await bus.close();
  }
}

// The real GPIO backend: the kernel's sysfs GPIO interface (/sys/class/gpio) through onoff.
// Pins are BCM numbers (GPIO 17 = header pin 11) on every model. sysfs numbers lines globally, and since
// kernel 6.6 (on the Pi 5 already before) the header's gpiochip no longer starts at 0: 512 on a Pi 4 with
// 6.6, 571 on a Pi 5. The sysfs number is therefore the chip's base + the BCM number; the base is read from
// /sys/class/gpio/gpiochip<N>/{label,base} of the Pi's pin controller, so configs never carry an offset.
// onoff is a native addon (epoll): it is imported here, on first use, so `hardware: sim` never loads it.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { BinaryValue, Gpio, ValueCallback } from "onoff";
import { HardwareAccessError, type GpioLine, type GpioOptions } from "../hal.ts";
import { hostBoard, type Board } from "./board.ts";

export const GPIO_SYSFS = "/sys/class/gpio";

/** Labels of the pin controllers behind the 40-pin header: Pi 1–3 and Zero, Pi 4 and 400, Pi 5. */
export const HEADER_CONTROLLERS = ["pinctrl-bcm2835", "pinctrl-bcm2711", "pinctrl-rp1"];

const NO_SYSFS_GPIO =
  "this system has no sysfs GPIO interface. Raspberry Pi OS kernels provide it (CONFIG_GPIO_SYSFS); on another " +
  "kernel enable that option, and on a machine without GPIO use `hardware: sim`";

const JOIN_GPIO_GROUP =
  "permission denied: add the user the agent runs as to the `gpio` group (`sudo usermod -aG gpio <user>`) and restart the agent";

const GPIO_GROUP_NOT_YET_HELD =
  "permission denied: the user is already in the `gpio` group, but the agent's process does not have it yet (usermod " +
  "will not help): a new group applies from the next login, so log out and in again; as a service, the unit needs " +
  "SupplementaryGroups=gpio (xedge.service has it) and a restart";

const GPIO_FILES_NOT_GRANTED =
  "permission denied although the agent runs with the `gpio` group (usermod will not help): udev has not given the GPIO " +
  "files to that group. Raspberry Pi OS's udev rules (99-com.rules) do; elsewhere add a udev rule for SUBSYSTEM==\"gpio\" " +
  "that gives /dev/gpiochip* and /sys/class/gpio to GROUP=\"gpio\" with MODE=\"0660\", run `sudo udevadm trigger`, " +
  "and check with `ls -l /dev/gpiochip0 /sys/class/gpio/export`";

/** Pins this process has open. onoff reuses an already exported pin silently; two devices on one pin are a config mistake. */
const openPins = new Set<number>();

export async function openGpioLine(pin: number, options: GpioOptions): Promise<GpioLine> {
  if (!Number.isInteger(pin) || pin < 0) throw new Error(`invalid GPIO number ${pin}`);
  if (openPins.has(pin)) throw pinInUse(pin);
  openPins.add(pin); // at once: a second open of this pin must not slip in during the awaits below
  try {
    return await exportLine(pin, options);
  } catch (error) {
    openPins.delete(pin);
    throw error;
  }
}

async function exportLine(pin: number, options: GpioOptions): Promise<GpioLine> {
  const sysfsNumber = (await headerChipBase()) + pin;
  const { Gpio } = await import("onoff");
  const activeLow = options.activeLow ?? false;
  let gpio: Gpio;
  try {
    if (options.direction === "in") {
      gpio = new Gpio(sysfsNumber, "in", options.edge ?? "none", { activeLow });
    } else {
      // The kernel applies "high"/"low" to the raw level, ignoring active_low: invert here, so the line
      // comes up at its logical initial level without a glitch through "out" (raw low).
      const raw = (options.initial ?? 0) ^ (activeLow ? 1 : 0);
      gpio = new Gpio(sysfsNumber, raw === 1 ? "high" : "low", "none", { activeLow });
    }
  } catch (error) {
    throw gpioAccessError(pin, sysfsNumber, error) ?? error;
  }
  return new RealGpioLine(pin, sysfsNumber, gpio);
}

class RealGpioLine implements GpioLine {
  /** sysfs has no debounce: the driver filters edges itself. */
  readonly kernelDebounceMs = 0;
  private closed = false;

  constructor(
    readonly pin: number,
    private readonly sysfsNumber: number,
    private readonly gpio: Gpio,
  ) {}

  async read(): Promise<0 | 1> {
    this.checkOpen();
    try {
      return await this.gpio.read();
    } catch (error) {
      throw gpioAccessError(this.pin, this.sysfsNumber, error) ?? error;
    }
  }

  async write(value: 0 | 1): Promise<void> {
    this.checkOpen();
    try {
      await this.gpio.write(value);
    } catch (error) {
      throw gpioAccessError(this.pin, this.sysfsNumber, error) ?? error;
    }
  }

  watch(listener: (value: 0 | 1, at: Date) => void): () => void {
    this.checkOpen();
    // An interrupt whose value could not be read is dropped: the next edge or read() sees the line again.
    const callback: ValueCallback = (error, value: BinaryValue) => {
      if (!error) listener(value, new Date());
    };
    this.gpio.watch(callback);
    return () => this.gpio.unwatch(callback);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openPins.delete(this.pin);
    this.gpio.unwatchAll();
    // Unexporting leaves an output at its last level, which for an actuator is the safe state it drove.
    this.gpio.unexport();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`GPIO ${this.pin}: line is closed`);
  }
}

/** The sysfs number of BCM GPIO 0: the base of the gpiochip whose label is the Pi's pin controller. */
export async function headerChipBase(root: string = GPIO_SYSFS): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (error) {
    if (errorCode(error) === "ENOENT") throw new HardwareAccessError(root, NO_SYSFS_GPIO, error);
    throw error;
  }
  const chips = await Promise.all(
    entries
      .filter((entry) => /^gpiochip\d+$/.test(entry))
      .map(async (name) => ({
        name,
        label: (await readFile(join(root, name, "label"), "utf8")).trim(),
        base: Number((await readFile(join(root, name, "base"), "utf8")).trim()),
      })),
  );
  const header = chips.find((chip) => HEADER_CONTROLLERS.includes(chip.label)) ?? (chips.length === 1 ? chips[0] : undefined);
  if (header === undefined) {
    const found = chips.map((chip) => `${chip.name} (${chip.label})`).join(", ") || "no gpiochip";
    throw new Error(
      `cannot tell which GPIO chip drives the 40-pin header: ${root} has ${found}, none labelled ${HEADER_CONTROLLERS.join(" or ")}`,
    );
  }
  return header.base;
}

/**
 * One clear error for the ways exporting or using a sysfs GPIO fails, or undefined for anything else. `board`
 * tells whether the user is already in the `gpio` group, where adding it again would not help.
 */
export function gpioAccessError(pin: number, sysfsNumber: number, error: unknown, board: Board = hostBoard): Error | undefined {
  const device = `GPIO ${pin} (${GPIO_SYSFS}/gpio${sysfsNumber})`;
  switch (errorCode(error)) {
    case "ENOENT":
      return new HardwareAccessError(GPIO_SYSFS, NO_SYSFS_GPIO, error);
    case "EACCES":
    case "EPERM": {
      const membership = board.groupMembership("gpio");
      const fix = membership?.held ? GPIO_FILES_NOT_GRANTED : membership?.listed ? GPIO_GROUP_NOT_YET_HELD : JOIN_GPIO_GROUP;
      return new HardwareAccessError(device, fix, error);
    }
    case "EBUSY":
      return new HardwareAccessError(
        device,
        "the pin is claimed by a kernel driver or another program (EBUSY): 1-Wire uses GPIO 4, I2C GPIO 2/3, SPI GPIO 7–11, " +
          "the UART GPIO 14/15; pick a free pin or disable that interface (`cat /sys/kernel/debug/gpio` shows the owner)",
        error,
      );
    case "EINVAL":
      return new Error(`${device}: the kernel refused line ${sysfsNumber} (EINVAL): GPIO ${pin} does not exist on this board`, {
        cause: error,
      });
    default:
      return undefined;
  }
}

function pinInUse(pin: number): Error {
  return Object.assign(
    new Error(`GPIO ${pin} is already in use by another device of this agent: each pin can have one owner; check the config for two entries on GPIO ${pin}`),
    { code: "EBUSY" },
  );
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

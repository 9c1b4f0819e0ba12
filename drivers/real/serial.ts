// The real serial backend: a UART or USB serial adapter through the serialport package.
// serialport is a native addon: it is imported on first use. firmware-sim also opens pseudo-terminals through
// this backend (the simulated device sits at the other end), so serial tests exercise the real package.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { basename } from "node:path";
import type { SerialPort } from "serialport";
import { HardwareAccessError, type SerialLink, type SerialOptions } from "../hal.ts";
import { hostBoard, isRaspberryPi, type Board } from "./board.ts";

/** The Pi's own UART names: missing means the UART is not enabled rather than an adapter not plugged in. */
const PI_UARTS = new Set(["/dev/serial0", "/dev/serial1", "/dev/ttyAMA0", "/dev/ttyS0"]);

/**
 * Opens `options.path`. `devicePath` is the node actually opened when it differs from the configured path
 * (firmware-sim's pseudo-terminal); errors always name the configured path. `board` tells which UART a path
 * leads to on a Raspberry Pi.
 */
export async function openSerialLink(options: SerialOptions, devicePath = options.path, board: Board = hostBoard): Promise<SerialLink> {
  const wrongUart = await boardUartError(options, devicePath, board);
  if (wrongUart) throw wrongUart;
  try {
    await access(devicePath, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw serialAccessError(options.path, error) ?? error;
  }
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({
    path: devicePath,
    baudRate: options.baudRate,
    dataBits: options.dataBits ?? 8,
    parity: options.parity ?? "none",
    stopBits: options.stopBits ?? 1,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) => {
    port.open((error) => (error ? reject(serialAccessError(options.path, error) ?? error) : resolve()));
  });
  // Bytes that arrived before the port was opened (kept by the line discipline in the tty's default cooked mode,
  // or left from a previous user) are not this link's: the driver's first chunk must be what came after. serialport
  // flushes while opening only at standard baud rates; its path for other rates (termios2) does not.
  try {
    await new Promise<void>((resolve, reject) => port.flush((error) => (error ? reject(error) : resolve())));
  } catch (error) {
    await new Promise<void>((resolve) => port.close(() => resolve()));
    throw error;
  }
  return new RealSerialLink(options.path, port);
}

/**
 * The error for a path whose UART on a Raspberry Pi cannot serve `options` (the Pi 5's debug UART instead of the
 * header's, or framing the mini UART lacks), naming the UART that can; undefined otherwise, and on any other board.
 */
export async function boardUartError(options: SerialOptions, devicePath: string, board: Board): Promise<HardwareAccessError | undefined> {
  const uart = await board.deviceName(devicePath);
  if (uart === undefined || !isRaspberryPi(await board.model())) return undefined;
  // A path that names ttyAMA10 itself asks for the debug connector on purpose: it is a usable UART.
  if (uart === "ttyAMA10" && basename(devicePath) !== "ttyAMA10") {
    return new HardwareAccessError(
      options.path,
      "on a Raspberry Pi 5 this is ttyAMA10, the UART of the 3-pin debug connector, not header pins 8/10 (GPIO 14/15): " +
        "use /dev/ttyAMA0 and add dtparam=uart0=on to /boot/firmware/config.txt, then reboot",
    );
  }
  const parity = options.parity ?? "none";
  const stopBits = options.stopBits ?? 1;
  if (uart === "ttyS0" && (parity !== "none" || stopBits !== 1)) {
    const framing = `${options.dataBits ?? 8}${parity[0]?.toUpperCase()}${stopBits}`;
    return new HardwareAccessError(
      options.path,
      `this is ttyS0, the Pi's mini UART (Bluetooth has the full one), which has no parity and one stop bit: ${framing} ` +
        "cannot work on it. Add dtoverlay=disable-bt to /boot/firmware/config.txt, run `sudo systemctl disable hciuart` " +
        "and reboot (header pins 8/10 then get ttyAMA0, a full PL011 UART, as /dev/serial0), or set the device to 8N1 " +
        "and serial: { parity: none, stopBits: 1 }",
    );
  }
  return undefined;
}

class RealSerialLink implements SerialLink {
  constructor(
    readonly path: string,
    private readonly port: SerialPort,
  ) {
    // Without a listener an 'error' event would throw; errors reach the HAL's users through onError.
    port.on("error", () => undefined);
  }

  /** Resolves once the bytes have left Node's and the driver's buffers (tcdrain). */
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.port.isOpen) {
        reject(new Error(`${this.path}: the serial port is not open`));
        return;
      }
      this.port.write(data, (error) => {
        if (error) reject(error);
      });
      this.port.drain((error) => (error ? reject(error) : resolve()));
    });
  }

  onData(listener: (chunk: Buffer) => void): () => void {
    this.port.on("data", listener);
    return () => this.port.off("data", listener);
  }

  onError(listener: (error: Error) => void): () => void {
    this.port.on("error", listener);
    return () => this.port.off("error", listener);
  }

  onClose(listener: () => void): () => void {
    const once = () => listener();
    this.port.on("close", once);
    return () => this.port.off("close", once);
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** The HardwareAccessError for a missing, forbidden or busy serial device, or undefined for any other error. */
export function serialAccessError(path: string, error: unknown): HardwareAccessError | undefined {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  // serialport's open errors carry no code, only strerror() text.
  const message = error instanceof Error ? error.message : "";
  if (code === "ENOENT" || message.includes("No such file or directory")) {
    const fix = PI_UARTS.has(path)
      ? "no such serial device: the Pi's UART is not enabled. Run `sudo raspi-config nonint do_serial_hw 0` and " +
        "`sudo raspi-config nonint do_serial_cons 1` (UART on, no login shell on it), or set enable_uart=1 in " +
        "/boot/firmware/config.txt and remove console=serial0,115200 from cmdline.txt, then reboot"
      : "no such serial device: is the adapter plugged in? `ls /dev/serial/by-id/` lists the adapters present " +
        "(a by-id path stays the same when USB devices are re-enumerated)";
    return new HardwareAccessError(path, fix, error);
  }
  if (code === "EACCES" || code === "EPERM" || message.includes("Permission denied")) {
    return new HardwareAccessError(
      path,
      "permission denied: add the user the agent runs as to the `dialout` group (`sudo usermod -aG dialout <user>`) and restart the agent",
      error,
    );
  }
  if (message.includes("Cannot lock port")) {
    return new HardwareAccessError(
      path,
      "the port is in use by another program (gpsd, ModemManager, a serial console or a terminal): `sudo fuser -v " +
        `${path}\` shows which; stop it or give this sensor another port`,
      error,
    );
  }
  return undefined;
}

// Turns what an I2C transfer rejects with into one message for the person at the gateway: which chip,
// which bus and address, what the errno usually means there, and what to check.
import { HardwareAccessError } from "./hal.ts";

export interface I2cDeviceName {
  /** The driver's name, the first word of every message ("sht3x"). */
  driver: string;
  busNumber: number;
  address: number;
  /** How the address is chosen on this chip, e.g. "ADDR to GND is 0x44, ADDR to 3V3 is 0x45". */
  addressHint: string;
}

/** "sht3x at 0x44 on I2C bus 1" */
export function deviceLabel({ driver, busNumber, address }: I2cDeviceName): string {
  return `${driver} at ${hex(address)} on I2C bus ${busNumber}`;
}

/** An Error whose message starts with the device label; messages that already do are kept as they are. */
export function describeI2cError(error: unknown, device: I2cDeviceName): Error {
  if (error instanceof HardwareAccessError) return error; // already names the device node and the fix
  const where = deviceLabel(device);
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith(`${device.driver} at `)) return error instanceof Error ? error : new Error(message);
  const code = errorCode(error);
  if (code === "EREMOTEIO" || code === "ENXIO") {
    return new Error(
      `${where}: no device answers (NACK, ${code}). Check the wiring (SDA pin 3, SCL pin 5, 3V3, GND) and the ` +
        `address: ${device.addressHint}; \`i2cdetect -y ${device.busNumber}\` lists the addresses that answer`,
      { cause: error },
    );
  }
  if (code === "EIO" || code === "ETIMEDOUT") {
    return new Error(`${where}: I2C bus error (${code}); check for loose wires, long cables or a missing pull-up`, {
      cause: error,
    });
  }
  return new Error(`${where}: ${message}`, { cause: error });
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

export function hex(value: number, digits = 2): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

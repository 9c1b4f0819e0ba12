// A microcontroller sketch that prints its readings as one line per period, the common Arduino pattern:
// `temp=21.5 hum=40.0` (Serial.print of key=value pairs) or `{"temp":21.5,"hum":40.0}` (ArduinoJson).
// Faults: garbage, truncated, slow (a slower line rate), stuck (the same line over and over), unplug.
import { randomBytes } from "node:crypto";
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimSerialPort } from "./pty.ts";

export type PrintedValue = number | boolean | string;

export interface SimLinePrinterOptions {
  format?: "kv" | "json";
  periodMs?: number;
  /** Decimals numbers are printed with (Serial.print(float) prints 2). */
  decimals?: number;
}

export class SimLinePrinter implements Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["garbage", "truncated", "slow", "stuck", "unplug"];
  private timer: NodeJS.Timeout | undefined;
  private fault: Fault | null = null;
  private values: Record<string, PrintedValue> = {};
  private readonly format: "kv" | "json";
  private readonly periodMs: number;
  private readonly decimals: number;
  /** The last line printed, without its line end. */
  lastLine: string | undefined;

  constructor(
    private readonly port: SimSerialPort,
    options: SimLinePrinterOptions = {},
  ) {
    this.format = options.format ?? "kv";
    this.periodMs = options.periodMs ?? 1000;
    this.decimals = options.decimals ?? 2;
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  setValues(values: Record<string, PrintedValue>): void {
    this.values = { ...values };
  }

  /** Prints one line as given now, outside the period (a sketch's boot banner, a test's malformed line). */
  async printRaw(line: string): Promise<void> {
    await this.port.write(`${line}\r\n`);
  }

  setFault(fault: Fault | null): void {
    const was = this.fault;
    this.fault = fault;
    if (fault?.kind === "unplug") void this.port.unplug();
    else if (was?.kind === "unplug") void this.port.replug();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.print();
      const slow = this.fault?.kind === "slow" ? (this.fault.delayMs ?? 5000) : 0;
      this.schedule(Math.max(this.periodMs, slow));
    }, delayMs);
    this.timer.unref();
  }

  private print(): void {
    if (this.port.unplugged) return;
    switch (this.fault?.kind) {
      case "garbage":
        void this.port.write(randomBytes(40));
        return;
      case "stuck":
        if (this.lastLine !== undefined) {
          void this.port.write(`${this.lastLine}\r\n`);
          return;
        }
        break;
      case "truncated": {
        const line = this.compose();
        void this.port.write(`${line.slice(0, Math.ceil(line.length / 2))}\r\n`);
        return;
      }
    }
    this.lastLine = this.compose();
    void this.port.write(`${this.lastLine}\r\n`);
  }

  private compose(): string {
    const text = (value: PrintedValue) => (typeof value === "number" ? value.toFixed(this.decimals) : String(value));
    if (this.format === "kv") {
      return Object.entries(this.values)
        .map(([key, value]) => `${key}=${text(value)}`)
        .join(" ");
    }
    const members = Object.entries(this.values).map(
      ([key, value]) => `${JSON.stringify(key)}:${typeof value === "string" ? JSON.stringify(value) : text(value)}`,
    );
    return `{${members.join(",")}}`;
  }
}

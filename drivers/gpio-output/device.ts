// A relay (or any on/off load) on a GPIO output: an actuator with one boolean parameter, `state`.
// Opening drives the configured safe state before anything else can happen, and so does closing, so the
// load is in a known state whenever the agent is not running it. Most opto-isolated relay boards switch
// on when their input is pulled low: `activeLow: true` makes `state: true` mean "relay energized" there.
import type { Field } from "../../lib/model.ts";
import type { ActuatorDevice, ParameterSpec, ParameterValue } from "../driver.ts";
import type { GpioLine, GpioOptions, Hal } from "../hal.ts";

const PARAMETERS: ParameterSpec[] = [
  { name: "state", type: "boolean", description: "true energizes the output (relay on), false releases it" },
];

export class RelayOutput implements ActuatorDevice {
  readonly parameters = PARAMETERS;
  private closed = false;

  private constructor(
    private readonly line: GpioLine,
    private readonly safeLevel: 0 | 1,
  ) {}

  static async open(hal: Hal, pin: number, options: Pick<GpioOptions, "activeLow" | "bias" | "backend">, safeOn: boolean): Promise<RelayOutput> {
    const safeLevel = safeOn ? 1 : 0;
    // The line comes up driving the safe state: no glitch through the other state while opening.
    const line = await hal.gpio(pin, { direction: "out", initial: safeLevel, ...options });
    return new RelayOutput(line, safeLevel);
  }

  async read(): Promise<Field[]> {
    this.checkOpen();
    const level = await this.line.read();
    return [{ name: "state", type: "boolean", value: level === 1, flags: { writable: true, status: true } }];
  }

  async write(values: { name: string; value: ParameterValue }[]): Promise<void> {
    this.checkOpen();
    for (const { name, value } of values) {
      if (name !== "state" || typeof value !== "boolean") {
        throw new Error(`gpio-output on GPIO ${this.line.pin}: no parameter ${name} of type ${typeof value}; the only one is state (boolean)`);
      }
      await this.line.write(value ? 1 : 0);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.line.write(this.safeLevel);
    } finally {
      await this.line.close();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`gpio-output on GPIO ${this.line.pin}: device is closed`);
  }
}

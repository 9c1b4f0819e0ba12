// The simulated 40-pin header behind `hardware: sim`. Each BCM GPIO 0–27 is a wire the world (or a test)
// can see and drive: an input's electrical level is set from outside, with edge events delivered to the
// driver per the edge chosen at open, and mechanical contact bounce on request; an output's driven level
// (a relay coil) is read from outside. As on a Pi, a pin has one owner at a time: a second open fails with
// EBUSY until the first owner closes it. Levels here are electrical (1 = 3.3 V); the driver's view goes
// through active_low like sysfs, where edges and values are logical.
// Pull resistors as on the board: a wire nothing drives floats to its pull, the bias the driver asked for
// (up reads 1, down 0, none keeps the level it had) or, without one, the SoC's reset default: GPIO 0–8 pull
// up, 9–27 pull down. So a contact to ground reads closed for ever without `bias: up`, as on a Pi.
import type { Bias, Edge, GpioLine, GpioOptions } from "../drivers/hal.ts";

/** The BCM GPIOs on the 40-pin header. */
export const HEADER_GPIOS = 28;

type Level = 0 | 1;

export interface BounceOptions {
  /** Edges in the burst, the last one settling on the target level (rounded up to the parity that gets there). */
  edges?: number;
  /** How long the burst lasts. */
  spanMs?: number;
}

export class SimGpioChip {
  private readonly pins = new Map<number, SimGpioPin>();

  /** The wire of BCM GPIO `pin`, whether or not a driver has opened it. */
  pin(pin: number): SimGpioPin {
    if (!Number.isInteger(pin) || pin < 0 || pin >= HEADER_GPIOS) {
      throw new Error(`GPIO ${pin}: not a header GPIO (BCM 0–${HEADER_GPIOS - 1})`);
    }
    let wire = this.pins.get(pin);
    if (wire === undefined) {
      wire = new SimGpioPin(pin);
      this.pins.set(pin, wire);
    }
    return wire;
  }

  async open(pin: number, options: GpioOptions): Promise<GpioLine> {
    return this.pin(pin).claim(options);
  }
}

/** The pull the SoC applies at reset (BCM2835 and later: GPIO 0–8 up, the rest down). */
export function defaultPull(pin: number): "up" | "down" {
  return pin <= 8 ? "up" : "down";
}

export class SimGpioPin {
  /** The level something outside drives the wire to (a contact, a sensor's output); undefined: nothing does. */
  private external: Level | undefined;
  /** The level an output drives; it keeps driving after its line is released, as on a Pi. */
  private driven: Level | undefined;
  private owner: SimGpioLine | undefined;
  private bias: Bias | undefined;
  private electrical: Level;

  constructor(readonly pin: number) {
    this.electrical = defaultPull(pin) === "up" ? 1 : 0;
  }

  /** The electrical level on the wire: what an input is driven to, or what an output drives. */
  get level(): Level {
    return this.electrical;
  }

  /** The pull resistor in effect: the bias of the line's last owner that asked for one, else the reset default. */
  get pull(): Bias {
    return this.bias ?? defaultPull(this.pin);
  }

  /** "in"/"out" while a driver has the pin open, undefined otherwise. */
  get direction(): "in" | "out" | undefined {
    return this.owner?.direction;
  }

  /**
   * The device on this wire only pulls it to ground (a contact or an open-collector output to GND): setLevel(1)
   * lets go, and the pull decides what the line reads.
   */
  openDrain = false;

  /** Drives an input wire from outside (a contact, a sensor's output). An output pin is the driver's to drive. */
  setLevel(level: Level): void {
    if (this.owner?.direction === "out") throw new Error(`GPIO ${this.pin} is an output; only its driver sets its level`);
    this.external = this.openDrain && level === 1 ? undefined : level;
    this.settle();
  }

  /** Stops driving the wire from outside (a contact opens, a sensor is unplugged): it floats to its pull. */
  float(): void {
    this.external = undefined;
    this.settle();
  }

  /**
   * Moves an input to `level` the way a mechanical contact does: a burst of edges within a few ms before it
   * settles. Resolves once settled. With `level` equal to the current one the burst is a glitch that returns.
   */
  async bounce(level: Level, { edges = 5, spanMs = 3 }: BounceOptions = {}): Promise<void> {
    const needsOdd = level !== this.electrical;
    const count = Math.max(needsOdd ? 1 : 2, edges % 2 === (needsOdd ? 1 : 0) ? edges : edges + 1);
    for (let i = 1; i <= count; i++) {
      await new Promise((resolve) => setTimeout(resolve, spanMs / count));
      this.setLevel(this.electrical === 1 ? 0 : 1);
    }
  }

  claim(options: GpioOptions): SimGpioLine {
    if (this.owner !== undefined) {
      throw Object.assign(new Error(`GPIO ${this.pin} is already in use by another device (each pin has one owner)`), {
        code: "EBUSY",
      });
    }
    const line = new SimGpioLine(this, options, () => {
      this.owner = undefined;
    });
    this.owner = line;
    // The pull resistor stays set after release, as the pin controller keeps it.
    if (options.bias !== undefined) this.bias = options.bias;
    // An input stops driving whatever an earlier output left on the wire.
    this.driven = options.direction === "out" ? (((options.initial ?? 0) ^ (options.activeLow ? 1 : 0)) as Level) : undefined;
    this.settle();
    return line;
  }

  /** For the owning line: drive the wire. */
  drive(level: Level): void {
    this.driven = level;
    this.settle();
  }

  private settle(): void {
    const floating = this.pull === "up" ? 1 : this.pull === "down" ? 0 : this.electrical;
    const level = this.driven ?? this.external ?? floating;
    if (level === this.electrical) return;
    this.electrical = level;
    this.owner?.edge(level);
  }
}

class SimGpioLine implements GpioLine {
  /** The simulated header debounces nothing: the driver does, as over sysfs. */
  readonly kernelDebounceMs = 0;
  readonly direction: "in" | "out";
  private readonly activeLow: Level;
  private readonly edgeKind: Edge;
  private readonly listeners = new Set<(value: Level, at: Date) => void>();
  private closed = false;

  constructor(
    private readonly wire: SimGpioPin,
    options: GpioOptions,
    private readonly release: () => void,
  ) {
    this.direction = options.direction;
    this.activeLow = options.activeLow ? 1 : 0;
    this.edgeKind = options.direction === "in" ? (options.edge ?? "none") : "none";
  }

  get pin(): number {
    return this.wire.pin;
  }

  async read(): Promise<Level> {
    this.checkOpen();
    return (this.wire.level ^ this.activeLow) as Level;
  }

  async write(value: Level): Promise<void> {
    this.checkOpen();
    // sysfs refuses writes to an input's value file with EPERM.
    if (this.direction === "in") throw Object.assign(new Error(`GPIO ${this.pin}: EPERM, cannot write an input`), { code: "EPERM" });
    this.wire.drive((value ^ this.activeLow) as Level);
  }

  watch(listener: (value: Level, at: Date) => void): () => void {
    this.checkOpen();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.release();
  }

  /** The wire changed electrically; delivered later, as an interrupt would be, if the edge kind selects it. */
  edge(electrical: Level): void {
    const value = (electrical ^ this.activeLow) as Level;
    const selected = this.edgeKind === "both" || (this.edgeKind === "rising" ? value === 1 : this.edgeKind === "falling" && value === 0);
    if (!selected || this.listeners.size === 0) return;
    const at = new Date();
    setImmediate(() => {
      for (const listener of this.listeners) listener(value, at);
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`GPIO ${this.pin}: line is closed`);
  }
}

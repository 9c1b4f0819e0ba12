// A digital input on a GPIO pin: a door or window contact, a button, a float switch (mode: level), or a pulse
// output such as a tipping-bucket rain gauge or a Hall-effect flow meter (mode: counter).
//
// Debounce: a mechanical contact makes a burst of edges for a few ms when it moves. The first edge opens a
// window of `debounce`; edges inside it are ignored; when it closes the line is read, and only a level that
// differs from the last accepted one is a transition. So a burst counts once, and a glitch shorter than the
// window (a spike that returns) counts not at all. With debounce 0ms every edge counts as it comes (for
// sensors with push-pull outputs that do not bounce, at high pulse rates).
//
// level: field `state` (true = the line is logically high, after activeLow). Each accepted transition of
// the configured edge asks for a sample at once through watch(), so a door opening is reported when it
// happens rather than at the next interval.
// counter: fields `count` (pulses since the agent started: not persisted, so consumers take differences),
// and `rate` (pulses in the last sampling period × perPulse, per second/minute/hour); with a `counter`
// block also `total` (count × perPulse, e.g. mm of rain since start).
import { momentaryNumeric, type Field } from "../../lib/model.ts";
import type { SensorDevice } from "../driver.ts";
import type { Edge, GpioLine, GpioOptions, Hal } from "../hal.ts";
import type { CounterOptions } from "./index.ts";

type Level = 0 | 1;
const PER_MS = { s: 1000, min: 60_000, h: 3_600_000 } as const;

/**
 * Accepts a transition once the line has kept a new level for the debounce window after the edge that
 * started it. The line is opened with edge "both" so every change is seen, whatever the configured edge.
 */
export class Debouncer {
  private accepted: Level;
  private window: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly unwatch: () => void;

  constructor(
    private readonly line: GpioLine,
    initial: Level,
    private readonly windowMs: number,
    private readonly onTransition: (level: Level) => void,
  ) {
    this.accepted = initial;
    this.unwatch = line.watch((value) => this.edge(value));
  }

  /** The last accepted level; while a window is open, the level from before the edge that opened it. */
  get level(): Level {
    return this.accepted;
  }

  get settling(): boolean {
    return this.window !== undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.window);
    this.unwatch();
  }

  private edge(value: Level): void {
    if (this.closed) return;
    if (this.windowMs === 0) {
      this.settle(value);
      return;
    }
    this.window ??= setTimeout(() => void this.confirm(), this.windowMs);
  }

  private async confirm(): Promise<void> {
    // Closed before the read: an edge from here on opens a new window and gets read again at its end.
    this.window = undefined;
    // An unreadable line keeps the accepted level; the next edge or sample reads it again.
    const level = await this.line.read().catch(() => undefined);
    if (level !== undefined) this.settle(level);
  }

  private settle(level: Level): void {
    if (this.closed || level === this.accepted) return;
    this.accepted = level;
    this.onTransition(level);
  }
}

function selected(edge: Edge, level: Level): boolean {
  return edge === "both" || (edge === "rising" && level === 1) || (edge === "falling" && level === 0);
}

/** How the input line is opened, from the `gpio:` block. */
export type InputLine = { pin: number; debounceMs: number } & Pick<GpioOptions, "activeLow" | "bias" | "backend">;

/**
 * Opens the line, watching both edges when `watched`. Where the kernel debounces (the character device), the
 * Debouncer gets window 0 and takes the kernel's settled edges as they come; otherwise it debounces itself.
 */
async function openInput(hal: Hal, { pin, debounceMs, ...options }: InputLine, watched: boolean): Promise<{ line: GpioLine; level: Level; windowMs: number }> {
  const line = await hal.gpio(pin, { direction: "in", edge: watched ? "both" : "none", ...options, debounceMs });
  try {
    return { line, level: await line.read(), windowMs: line.kernelDebounceMs > 0 ? 0 : debounceMs };
  } catch (error) {
    await line.close().catch(() => undefined);
    throw error;
  }
}

export class LevelInput implements SensorDevice {
  private readonly listeners = new Set<() => void>();
  private readonly debouncer: Debouncer | undefined;

  private constructor(
    private readonly line: GpioLine,
    initial: Level,
    edge: Edge,
    debounceMs: number,
  ) {
    if (edge !== "none") {
      this.debouncer = new Debouncer(line, initial, debounceMs, (level) => {
        if (selected(edge, level)) this.listeners.forEach((listener) => listener());
      });
    }
  }

  static async open(hal: Hal, input: InputLine, edge: Edge): Promise<LevelInput> {
    const { line, level, windowMs } = await openInput(hal, input, edge !== "none");
    return new LevelInput(line, level, edge, windowMs);
  }

  async read(): Promise<Field[]> {
    // While a contact is still bouncing, report the last settled level; the sample asked for at the end of
    // the window reports the new one.
    const level = this.debouncer?.settling ? this.debouncer.level : await this.line.read();
    return [{ name: "state", type: "boolean", value: level === 1, flags: { momentary: true } }];
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.debouncer?.close();
    await this.line.close();
  }
}

export class PulseCounter implements SensorDevice {
  private count = 0;
  private countAtLastRead = 0;
  private lastReadAt = performance.now();
  private readonly debouncer: Debouncer;

  private constructor(
    private readonly line: GpioLine,
    initial: Level,
    edge: Edge,
    debounceMs: number,
    private readonly counter: CounterOptions | undefined,
  ) {
    this.debouncer = new Debouncer(line, initial, debounceMs, (level) => {
      if (selected(edge, level)) this.count += 1;
    });
  }

  static async open(hal: Hal, input: InputLine, edge: Edge, counter: CounterOptions | undefined): Promise<PulseCounter> {
    const { line, level, windowMs } = await openInput(hal, input, true);
    return new PulseCounter(line, level, edge, windowMs, counter);
  }

  async read(): Promise<Field[]> {
    const now = performance.now();
    const pulses = this.count - this.countAtLastRead;
    const elapsedMs = Math.max(now - this.lastReadAt, 1);
    this.countAtLastRead = this.count;
    this.lastReadAt = now;
    const per = this.counter?.per ?? "min";
    const perPulse = this.counter?.perPulse ?? 1;
    const unit = this.counter?.unit ?? "pulses";
    const decimals = this.counter?.decimals ?? 2;
    const fields: Field[] = [{ name: "count", type: "int", value: this.count, flags: { momentary: true } }];
    if (this.counter !== undefined) {
      fields.push(momentaryNumeric("total", this.count * perPulse, unit, decimals));
    }
    fields.push(momentaryNumeric("rate", ((pulses * perPulse) / elapsedMs) * PER_MS[per], `${unit}/${per}`, decimals));
    return fields;
  }

  async close(): Promise<void> {
    this.debouncer.close();
    await this.line.close();
  }
}

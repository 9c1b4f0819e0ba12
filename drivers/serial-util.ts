// What the serial drivers' device code shares: a bounded line splitter, Modbus RTU frame timing, and a link that
// reopens itself after the adapter went away. The `serial:` option schema is in serial-options.ts, for the cards.
import type { Hal, SerialLink, SerialOptions } from "./hal.ts";

export type SerialSettings = Required<SerialOptions>;

/**
 * Splits a byte stream into text lines at "\n" (a "\r" before it is dropped). A device that sends bytes without
 * ever sending a newline (wrong baud rate, line noise) cannot grow memory: past `maxLength` bytes the partial line
 * is dropped, counted, and everything up to the next newline is skipped.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private skipping = false;
  /** Lines dropped for being longer than `maxLength`. */
  overlong = 0;

  constructor(
    private readonly maxLength: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a, start); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      if (this.pendingLength + piece.length > this.maxLength) {
        this.drop();
        continue;
      }
      const line = Buffer.concat([...this.pending, piece]).toString("utf8");
      this.pending = [];
      this.pendingLength = 0;
      this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || this.skipping) return;
    if (this.pendingLength + rest.length > this.maxLength) {
      this.drop();
      this.skipping = true;
      return;
    }
    this.pending.push(rest);
    this.pendingLength += rest.length;
  }

  /** Forgets a partial line (after the link was reopened, its start belongs to another session). */
  reset(): void {
    this.pending = [];
    this.pendingLength = 0;
    this.skipping = false;
  }

  private drop(): void {
    this.overlong += 1;
    this.pending = [];
    this.pendingLength = 0;
  }
}

/** Time on the wire for one character: start bit, data bits, parity bit, stop bits. */
export function characterTimeMs(settings: SerialSettings): number {
  const bits = 1 + settings.dataBits + (settings.parity === "none" ? 0 : 1) + settings.stopBits;
  return (bits * 1000) / settings.baudRate;
}

/**
 * Modbus RTU inter-frame silence t3.5 (MODBUS over Serial Line V1.02 §2.5.1.1): 3.5 character times, and a fixed
 * 1.75 ms above 19200 baud, where the spec stops scaling it with the baud rate.
 */
export function modbusFrameSilenceMs(settings: SerialSettings): number {
  return settings.baudRate > 19_200 ? 1.75 : 3.5 * characterTimeMs(settings);
}

/**
 * Cuts a byte stream into frames at silences of at least `silenceMs` (how an RTU slave finds frame ends).
 * A frame longer than `maxLength` (256 bytes for RTU) is dropped whole.
 */
export class SilenceFramer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly silenceMs: number,
    private readonly maxLength: number,
    private readonly onFrame: (frame: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), Math.ceil(this.silenceMs));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.pending = [];
    this.pendingLength = 0;
  }

  private flush(): void {
    const frame = Buffer.concat(this.pending);
    const tooLong = this.pendingLength > this.maxLength;
    this.pending = [];
    this.pendingLength = 0;
    if (!tooLong) this.onFrame(frame);
  }
}

/** How long a lost link waits between attempts to open it again. */
const REOPEN_INTERVAL_MS = 1000;

/**
 * A serial link that survives its adapter going away: when the port closes or fails, it is opened again every
 * second in the background (and at once when written to), so a replugged USB adapter or a restarted
 * UART resumes without the driver being reopened. Data listeners stay attached across reopens.
 */
export class ReopeningSerialLink {
  private link: SerialLink | undefined;
  private detach: (() => void)[] = [];
  private reopenTimer: NodeJS.Timeout | undefined;
  private opening: Promise<SerialLink> | undefined;
  private closed = false;
  private readonly dataListeners = new Set<(chunk: Buffer) => void>();
  private readonly lostListeners = new Set<(error: Error) => void>();
  /** Why the link is down (the close or error that took it, or the last failed reopen); undefined while up. */
  lostBecause: Error | undefined;

  private constructor(
    private readonly hal: Hal,
    readonly settings: SerialSettings,
  ) {}

  /** Opens the link; a missing or forbidden device rejects here (HardwareAccessError from the HAL). */
  static async open(hal: Hal, settings: SerialSettings): Promise<ReopeningSerialLink> {
    const reopening = new ReopeningSerialLink(hal, settings);
    await reopening.connect();
    return reopening;
  }

  get path(): string {
    return this.settings.path;
  }

  get isOpen(): boolean {
    return this.link !== undefined;
  }

  onData(listener: (chunk: Buffer) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  /** Called when an open link closes or fails (adapter unplugged, UART gone). */
  onLost(listener: (error: Error) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Writes once the link is open, reopening it first if it was lost; rejects when it cannot be opened. */
  async write(data: Buffer | string): Promise<void> {
    const link = this.link ?? (await this.connect());
    await link.write(data);
  }

  /** Opens the link now if it is down; rejects with the reason it cannot be opened. */
  async ensureOpen(): Promise<void> {
    if (!this.link) await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    await this.opening?.catch(() => undefined);
    const link = this.link;
    this.release();
    await link?.close();
  }

  private connect(): Promise<SerialLink> {
    if (this.closed) return Promise.reject(new Error(`${this.path}: the link is closed`));
    this.opening ??= this.hal
      .serial(this.settings)
      .then((link) => {
        if (this.closed) {
          void link.close();
          throw new Error(`${this.path}: the link is closed`);
        }
        this.attach(link);
        return link;
      })
      .catch((error: unknown) => {
        this.lostBecause = error instanceof Error ? error : new Error(String(error));
        this.scheduleReopen();
        throw error;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  private attach(link: SerialLink): void {
    clearTimeout(this.reopenTimer);
    this.link = link;
    this.lostBecause = undefined;
    this.detach = [
      link.onData((chunk) => this.dataListeners.forEach((listener) => listener(chunk))),
      link.onError((error) => this.lose(link, error)),
      link.onClose(() => this.lose(link, new Error(`${this.path}: the serial port closed (adapter unplugged?)`))),
    ];
  }

  private lose(link: SerialLink, error: Error): void {
    if (this.link !== link) return;
    this.release();
    this.lostBecause = error;
    void link.close().catch(() => undefined);
    this.lostListeners.forEach((listener) => listener(error));
    this.scheduleReopen();
  }

  private release(): void {
    this.detach.forEach((stop) => stop());
    this.detach = [];
    this.link = undefined;
  }

  private scheduleReopen(): void {
    if (this.closed) return;
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => void this.connect().catch(() => undefined), REOPEN_INTERVAL_MS);
    this.reopenTimer.unref();
  }
}

/**
 * A device that streams on its own (a GPS, a board printing lines) has said nothing yet right after the port
 * opens. The first read waits for its first data, at most until `graceMs` after opening, instead of reporting
 * a silence that is only the start-up.
 */
export async function awaitFirstData(hasData: () => boolean, openedAt: number, graceMs: number, isClosed: () => boolean): Promise<void> {
  while (!hasData() && !isClosed() && Date.now() - openedAt < graceMs) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Whether the wall clock can be trusted, and when it jumps. A Pi has no real-time clock: it boots with the time
// of its last shutdown (fake-hwclock) or of its image, and NTP steps the clock hours forward (sometimes back) once
// it reaches a server. Timestamps taken before that are wrong, and durations measured on the wall clock across
// the step are wrong too.
//
// Trust: systemd-timesyncd creates /run/systemd/timesync/synchronized at its first synchronization and keeps it
// until the next boot (systemd 239 and later). While its folder exists without the file, timesyncd runs and has
// not synchronized: the clock is not trusted. Without the folder no timesyncd runs (chrony, ntpd, or nothing):
// the kernel's own status (adjtimex) is not reachable from Node without a native addon, so the agent cannot tell
// and trusts the clock from the start; it still detects and reports jumps. Once trusted, the clock stays trusted
// for the life of the process (the file is not removed before a reboot).
//
// Jumps: the offset between the wall clock and the monotonic clock (which no step moves) stays put while the wall
// clock runs freely, and moves by the size of a step. A move beyond the threshold between two looks is a jump.
//
// The monotonic clock is the kernel's CLOCK_MONOTONIC, which counts from the boot, not from this process's start:
// an offset taken by an earlier process of the same boot (the agent restarted before NTP reached a server)
// compares with this one's, so its readings can be corrected too. The kernel's boot id tells the boots apart.
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";

export const TIMESYNCD_SYNCHRONIZED = "/run/systemd/timesync/synchronized";

/** Milliseconds since the boot on CLOCK_MONOTONIC (libuv's hrtime), the same in every process of one boot. */
export function bootMonotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** The kernel's id of this boot (Linux); undefined where it cannot be read. */
export function readBootId(path = "/proc/sys/kernel/random/boot_id"): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** What the store asks of the clock: whether to trust it, and the wall clock's offset from the monotonic one. */
export interface ClockState {
  readonly trusted: boolean;
  /** The boot the monotonic clock counts from, when known: offsets kept with the same id compare with this one's. */
  readonly bootId?: string;
  /** Wall-clock ms minus monotonic ms, now: a reading's monotonic time is its timestamp minus this. */
  offsetMs(): number;
  monotonic(): number;
}

/** The system's clocks, trusted as they are (no watch): what a store opened without a watch uses. */
export const trustedSystemClock: ClockState = {
  trusted: true,
  offsetMs: () => Date.now() - performance.now(),
  monotonic: () => performance.now(),
};

export interface ClockJump {
  /** Positive: forward. */
  byMs: number;
  /** The wall clock just before and just after the step (as far as the looks can tell). */
  from: Date;
  to: Date;
  /** Whether the clock was trusted when it jumped. */
  trusted: boolean;
}

export interface ClockWatchOptions {
  /** timesyncd's flag file; another path for tests. */
  syncFile: string;
  /** A move of the wall clock against the monotonic one beyond this is a jump. */
  jumpThresholdMs: number;
  checkEveryMs?: number;
  onJump?: (jump: ClockJump) => void;
  /** The clock became trusted (the flag file appeared): `offsetMs` is the offset of the synchronized clock. */
  onSynchronized?: (offsetMs: number) => void;
  wall?: () => number;
  monotonic?: () => number;
  /** The boot the monotonic clock counts from; the kernel's boot id when absent. */
  bootId?: string;
  exists?: (path: string) => boolean;
}

/** How trust is decided: timesyncd's flag file, or nothing to watch (trusted as it is). */
export type TrustSource = "timesyncd" | "assumed";

export class ClockWatch implements ClockState {
  readonly source: TrustSource;
  readonly bootId: string | undefined;
  private trustedNow: boolean;
  private lastOffset: number;
  private jumpCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly wall: () => number;
  private readonly mono: () => number;
  private readonly exists: (path: string) => boolean;

  constructor(private readonly options: ClockWatchOptions) {
    this.wall = options.wall ?? Date.now;
    this.mono = options.monotonic ?? bootMonotonicMs;
    this.bootId = options.monotonic === undefined ? (options.bootId ?? readBootId()) : options.bootId;
    this.exists = options.exists ?? existsSync;
    this.source = this.exists(dirname(options.syncFile)) ? "timesyncd" : "assumed";
    this.trustedNow = this.source === "assumed" || this.exists(options.syncFile);
    this.lastOffset = this.offsetMs();
  }

  get trusted(): boolean {
    return this.trustedNow;
  }

  /** Jumps seen since the watch started. */
  get jumps(): number {
    return this.jumpCount;
  }

  offsetMs(): number {
    return this.wall() - this.mono();
  }

  monotonic(): number {
    return this.mono();
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.check(), this.options.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Looks once (the timer does this every `checkEveryMs`): a jump first, then whether the clock is now trusted. */
  check(): void {
    const offset = this.offsetMs();
    const moved = offset - this.lastOffset;
    this.lastOffset = offset;
    if (Math.abs(moved) > this.options.jumpThresholdMs) {
      this.jumpCount += 1;
      const to = this.wall();
      this.options.onJump?.({ byMs: moved, from: new Date(to - moved), to: new Date(to), trusted: this.trustedNow });
    }
    if (!this.trustedNow && this.exists(this.options.syncFile)) {
      this.trustedNow = true;
      this.options.onSynchronized?.(offset);
    }
  }
}

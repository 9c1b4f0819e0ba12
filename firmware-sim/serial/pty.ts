// Simulated serial devices: each configured serial path (e.g. /dev/ttyUSB0) is backed by a socat pseudo-terminal
// pair. The firmware programs run in-process on one end; the sim HAL's serial() opens the other end with the real
// serialport backend, so a driver talks to a simulated device through the same package as on a Pi.
// socat runs under `setpriv --pdeathsig` when available, so it dies with this process even on SIGKILL; on a normal
// exit the 'exit' hook kills what is left.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { SerialLink, SerialOptions } from "../../drivers/hal.ts";
import { openSerialLink } from "../../drivers/real/serial.ts";
import { OneAtATime } from "../../lib/one-at-a-time.ts";

/** How long socat may take to create both terminals. */
const SOCAT_START_MS = 5000;

/** One simulated serial path: a socat pty pair, the firmware end opened in-process. Shared by every sensor on the path. */
export class SimSerialPort {
  private socat: ChildProcess | undefined;
  private firmwareLink: SerialLink | undefined;
  private readonly listeners = new Set<(chunk: Buffer) => void>();
  private readonly directory: string;
  private users = 0;
  private stopped = false;
  /**
   * Starting, halting and stopping, one at a time: a stop or unplug that comes while socat and the link are still
   * being made waits for them, and then ends them, rather than finding nothing to end yet and leaving them running.
   */
  private readonly lifecycle = new OneAtATime();
  /** True while "unplugged": socat is stopped and the device end does not exist. */
  unplugged = false;

  constructor(readonly settings: SerialOptions) {
    this.directory = mkdtempSync(join(tmpdir(), "xedge-serial-"));
  }

  /** The path configured for the sensor, e.g. /dev/ttyUSB0. */
  get path(): string {
    return this.settings.path;
  }

  /** The pseudo-terminal the driver opens in place of `path` (a symlink socat makes and removes). */
  get deviceEnd(): string {
    return join(this.directory, "device");
  }

  private get firmwareEnd(): string {
    return join(this.directory, "firmware");
  }

  /** The socat process id while it runs. */
  get pid(): number | undefined {
    return this.socat?.pid;
  }

  /** Bytes the driver wrote, as the device receives them. */
  onData(listener: (chunk: Buffer) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends bytes to the driver; dropped while unplugged, as on a real wire with nothing attached. */
  async write(data: Buffer | string): Promise<void> {
    await this.firmwareLink?.write(data).catch(() => undefined);
  }

  /** Takes the device away: socat stops, so the driver's open port fails and the path disappears. */
  async unplug(): Promise<void> {
    if (this.unplugged || this.stopped) return;
    this.unplugged = true;
    await this.lifecycle.run(() => this.halt());
  }

  async replug(): Promise<void> {
    if (!this.unplugged || this.stopped) return;
    this.unplugged = false;
    try {
      await this.start();
    } catch (error) {
      // Stopped while plugging back in (a test that clears the fault and ends at once): nothing is left to plug.
      if (!this.stopped) throw error;
    }
  }

  start(): Promise<void> {
    return this.lifecycle.run(async () => {
      if (this.stopped) throw new Error(`${this.path}: the simulated port is stopped`);
      const socat = await startSocat(this.firmwareEnd, this.deviceEnd);
      this.socat = socat;
      const link = await openSerialLink({ ...this.settings, path: `${this.path} (simulated device end)` }, this.firmwareEnd);
      link.onData((chunk) => this.listeners.forEach((listener) => listener(chunk)));
      this.firmwareLink = link;
    });
  }

  /** Stops socat and removes the temporary folder. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.listeners.clear();
    await this.lifecycle.run(async () => {
      await this.halt();
      this.removeFolder();
    });
  }

  /** Removes the temporary folder of the terminals' links (synchronous, for the exit hook too). */
  removeFolder(): void {
    rmSync(this.directory, { recursive: true, force: true });
  }

  private async halt(): Promise<void> {
    const link = this.firmwareLink;
    this.firmwareLink = undefined;
    await link?.close().catch(() => undefined);
    const socat = this.socat;
    this.socat = undefined;
    if (socat) await stopProcess(socat);
  }

  /** For the registry: counts the sensors placed on this path. */
  acquire(): void {
    this.users += 1;
  }

  /** True when the last user let go. */
  release(): boolean {
    this.users -= 1;
    return this.users <= 0;
  }
}

/**
 * The registry of simulated serial paths: configured path → its pty pair. The sim HAL's serial() looks a path up
 * here; world.ts's serial models place ports through `placeSimSerialPort`.
 */
export const simSerialPaths = new Map<string, SimSerialPort>();

/** The port for `settings.path`, started on first use and shared by later sensors on the same path. */
export async function placeSimSerialPort(settings: SerialOptions): Promise<SimSerialPort> {
  let port = simSerialPaths.get(settings.path);
  if (!port) {
    port = new SimSerialPort(settings);
    simSerialPaths.set(settings.path, port);
    try {
      await port.start();
    } catch (error) {
      simSerialPaths.delete(settings.path);
      await port.stop();
      throw error;
    }
  }
  port.acquire();
  return port;
}

/** Lets go of a port; the last user stops its socat. */
export async function releaseSimSerialPort(port: SimSerialPort): Promise<void> {
  if (!port.release()) return;
  if (simSerialPaths.get(port.path) === port) simSerialPaths.delete(port.path);
  await port.stop();
}

/** The sim HAL's serial(): opens the device end of the pty pair placed for `options.path`. */
export async function openSimSerial(options: SerialOptions): Promise<SerialLink> {
  const port = simSerialPaths.get(options.path);
  if (!port) {
    throw new Error(
      `${options.path}: no simulated serial device on this path (hardware: sim simulates the serial paths of configured nmea, modbus and serial-lines sensors)`,
    );
  }
  return openSerialLink(options, port.deviceEnd);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGTERM");
    for (const port of simSerialPaths.values()) port.removeFolder();
  });
}

/** Starts `socat` linking two raw, echo-free pseudo-terminals at `firmwareEnd` and `deviceEnd`. */
async function startSocat(firmwareEnd: string, deviceEnd: string): Promise<ChildProcess> {
  installExitHook();
  const socatArgs = ["-d", "-d", `pty,raw,echo=0,link=${firmwareEnd}`, `pty,raw,echo=0,link=${deviceEnd}`];
  const [command, args] = onPath("setpriv") ? ["setpriv", ["--pdeathsig", "TERM", "--", "socat", ...socatArgs]] : ["socat", socatArgs];
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let log = "";
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socat did not create its terminals within ${SOCAT_START_MS} ms: ${log.trim()}`)), SOCAT_START_MS);
      const onLog = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("starting data transfer loop")) {
          clearTimeout(timer);
          child.stderr?.off("data", onLog);
          resolve();
        }
      };
      child.stderr?.on("data", onLog);
      child.once("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          error.code === "ENOENT"
            ? new Error("socat is not installed: `sudo apt-get install socat` (hardware: sim uses it to simulate serial devices)")
            : error,
        );
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited (${code}) before creating its terminals: ${log.trim()}`));
      });
    });
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  // Keep draining socat's log so its pipe never fills; nothing in it is needed after start.
  child.stderr?.resume();
  return child;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((directory) => directory !== "" && existsSync(join(directory, command)));
}

// systemd's service notification protocol (sd_notify(3)): READY, RELOADING, STOPPING, STATUS and watchdog
// keep-alives, each one datagram "KEY=VALUE\n…" to the AF_UNIX socket named by $NOTIFY_SOCKET. Node has no
// AF_UNIX datagram sockets, and the npm wrappers that do either cannot address an abstract socket ("@name":
// they pass a fixed-size address) or link libsystemd. So the datagram is sent with three libc calls through
// koffi (a kept FFI library whose prebuilt binaries cover linux x64, arm64 and armhf); the protocol is ours.
import { endianness } from "node:os";

/** What the agent tells systemd. Every method is a no-op when the agent does not run under systemd. */
export interface SystemdNotifier {
  /** Start-up or a reload is complete: READY=1 (with a STATUS line when given). */
  ready(status?: string): void;
  /** A config reload begins: RELOADING=1 with MONOTONIC_USEC. Call ready() when it is over, applied or refused. */
  reloading(): void;
  /** Shutdown begins: STOPPING=1. */
  stopping(): void;
  /** A free-form status line for `systemctl status`. */
  status(text: string): void;
  /** Stops the watchdog keep-alives and closes the socket. */
  close(): void;
  /** The keep-alive period in ms (half of WATCHDOG_USEC), or undefined when systemd expects none. */
  readonly watchdogIntervalMs: number | undefined;
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** Told once per distinct failure (systemd gone, socket refused, bad $NOTIFY_SOCKET), not per datagram. */
  onError: (message: string) => void;
}

const AF_UNIX = 1;
// Linux values on x86, arm and arm64 (they differ only on alpha, mips, parisc and sparc).
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_BYTES = 108;

const inactive: SystemdNotifier = {
  ready: () => undefined,
  reloading: () => undefined,
  stopping: () => undefined,
  status: () => undefined,
  close: () => undefined,
  watchdogIntervalMs: undefined,
};

/**
 * The socket address for $NOTIFY_SOCKET: a filesystem path, or "@name" for Linux's abstract namespace, whose
 * name is exactly the bytes after the leading NUL (so the length must not include padding or a terminator).
 */
export function notifySocketAddress(socket: string): Buffer {
  const abstract = socket.startsWith("@");
  if (!abstract && !socket.startsWith("/")) {
    throw new Error(`NOTIFY_SOCKET=${socket}: expected an absolute path or an abstract name starting with @`);
  }
  const name = Buffer.from(abstract ? socket.slice(1) : socket, "utf8");
  // A path carries its NUL terminator inside sun_path; an abstract name starts with one instead.
  if (name.length + 1 > SUN_PATH_BYTES) throw new Error(`NOTIFY_SOCKET=${socket}: longer than ${SUN_PATH_BYTES - 1} bytes`);
  const address = Buffer.alloc(2 + 1 + name.length);
  if (endianness() === "LE") address.writeUInt16LE(AF_UNIX, 0);
  else address.writeUInt16BE(AF_UNIX, 0);
  name.copy(address, abstract ? 3 : 2);
  return address;
}

/**
 * The keep-alive period systemd asks for: half of WATCHDOG_USEC, when it is set and WATCHDOG_PID (if set) is
 * this process (a watchdog meant for a parent must not be fed by a child).
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2 / 1000));
}

/** The three libc calls the protocol needs, and the name of the last call's errno. */
interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  close: (fd: number) => number;
  errnoName: () => string;
}

async function loadLibc(): Promise<Libc> {
  const { default: koffi } = await import("koffi");
  const libc = koffi.load("libc.so.6");
  return {
    socket: libc.func("int socket(int domain, int type, int protocol)") as Libc["socket"],
    sendto: libc.func("intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)") as Libc["sendto"],
    close: libc.func("int close(int fd)") as Libc["close"],
    errnoName: () => {
      const code = koffi.errno();
      return Object.entries(koffi.os.errno).find(([, value]) => value === code)?.[0] ?? `errno ${code}`;
    },
  };
}

/**
 * Connects to systemd's notification socket when $NOTIFY_SOCKET is set and starts the watchdog keep-alives
 * (from a timer on the event loop: a loop that is stuck sends none, and systemd restarts the service).
 * Like sd_notify(3) with unset_environment, it removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from
 * the environment, so that child processes (socat in the simulator) do not talk to systemd in our name.
 */
export async function connectSystemd(options: NotifierOptions): Promise<SystemdNotifier> {
  const env = options.env ?? process.env;
  const socketName = env.NOTIFY_SOCKET;
  const intervalMs = watchdogInterval(env);
  for (const key of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[key];
  if (!socketName) return inactive;

  let address: Buffer;
  let libc: Libc;
  try {
    address = notifySocketAddress(socketName);
    libc = await loadLibc();
  } catch (error) {
    options.onError(`systemd notifications disabled: ${(error as Error).message}`);
    return inactive;
  }
  const { socket, sendto, close, errnoName } = libc;

  let fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    options.onError(`systemd notifications disabled: socket(AF_UNIX, SOCK_DGRAM) failed: ${errnoName()}`);
    return inactive;
  }
  let lastFailure: string | undefined;
  const send = (state: string) => {
    if (fd < 0) return;
    const datagram = Buffer.from(`${state}\n`, "utf8");
    // Never block the event loop: a full queue on systemd's side costs one message, not the agent.
    if (sendto(fd, datagram, datagram.length, MSG_DONTWAIT | MSG_NOSIGNAL, address, address.length) === datagram.length) {
      lastFailure = undefined;
      return;
    }
    const failure = errnoName();
    if (failure !== lastFailure) options.onError(`systemd notification to ${socketName} failed: ${failure}`);
    lastFailure = failure;
  };

  const keepAlive = intervalMs === undefined ? undefined : setInterval(() => send("WATCHDOG=1"), intervalMs);
  keepAlive?.unref();
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ");
  return {
    ready: (status) => send(status === undefined ? "READY=1" : `READY=1\nSTATUS=${oneLine(status)}`),
    // systemd compares MONOTONIC_USEC with its CLOCK_MONOTONIC; Node's hrtime is that clock on Linux.
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`),
    stopping: () => send("STOPPING=1"),
    status: (text) => send(`STATUS=${oneLine(text)}`),
    close: () => {
      clearInterval(keepAlive);
      if (fd >= 0) close(fd);
      fd = -1;
    },
    watchdogIntervalMs: intervalMs,
  };
}

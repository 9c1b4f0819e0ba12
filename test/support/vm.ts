// A qemu VM with Debian's kernel and Linux's own simulated devices, for running the real backends
// (drivers/real/) against a kernel: i2c-stub on /dev/i2c-1, gpio-sim chips labelled as the Pi's pin
// controllers, and 16550 UARTs whose other ends are firmware-sim models running in this process.
// The host's root is shared read-only over virtio-9p and the command runs chrooted into it, so the repository,
// node and node_modules are at the same paths as on the host; /tmp and /run are private tmpfs.
// scripts/vm-image.sh builds the kernel, the simulator modules and the initramfs (cached); scripts/vm-init.sh
// is the guest's /init. TCG only: KVM guests hang on this kind of machine.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SimGps } from "../../firmware-sim/serial/gps.ts";
import { SimLinePrinter } from "../../firmware-sim/serial/line-printer.ts";
import { SimModbusSlave } from "../../firmware-sim/serial/modbus-slave.ts";
import { SimSerialPort } from "../../firmware-sim/serial/pty.ts";
import {
  VM_GPIO_CHIPS,
  VM_HOST_ADDRESS,
  VM_I2C_ADDRESSES,
  VM_I2C_BUS,
  VM_MODBUS,
  VM_OUT_ENV,
  VM_PRINTED_VALUES,
  VM_UARTS,
} from "./vm-layout.ts";

export * from "./vm-layout.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface VmImage {
  /** The Debian kernel release, e.g. 6.1.0-57-amd64. */
  release: string;
  kernel: string;
  initramfs: string;
}

export interface BootVmOptions {
  /** A shell command line, run by /bin/sh as root inside the VM. */
  command: string;
  /** Where the command starts; default the current directory (the same path exists inside). */
  cwd?: string;
  /** Extra environment for the command (PATH, HOME=/tmp/home and XEDGE_VM_OUT are set already). */
  env?: Record<string, string>;
  /** The whole boot and command; the VM is killed after it. Default 5 minutes. */
  timeoutMs?: number;
  /** Receives the VM's console as it arrives: the command's stdout and stderr, and init's own lines. */
  onConsole?: (text: string) => void;
  memoryMb?: number;
}

export interface VmRun {
  /** The command's exit code; -1 when it did not finish (the VM died or timed out). */
  exitCode: number;
  /** Everything the console printed, \r\n turned into \n. */
  console: string;
  /** The files the command left in $XEDGE_VM_OUT, by name. */
  outputFiles: Record<string, string>;
  /** From starting qemu to its exit. */
  seconds: number;
}

const run = promisify(execFile);

/** Builds or finds the cached kernel and initramfs (scripts/vm-image.sh; minutes when cold, instant when cached). */
export async function vmImage(): Promise<VmImage> {
  const { stdout } = await run("bash", [join(repoRoot, "scripts/vm-image.sh")], { maxBuffer: 1 << 20 });
  const [kernel = "", initramfs = ""] = stdout.trim().split("\n");
  const release = /(\d+\.\d+\.\d+-\d+-amd64)/.exec(kernel)?.[1] ?? "unknown";
  return { release, kernel, initramfs };
}

/** The devices the VM provides, as `npm run vm` prints them before running a command. */
export function describeVmLayout(release?: string): string {
  const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
  const lines = [
    `xedge test VM: Debian kernel ${release ?? "(current amd64 ABI)"} under qemu (TCG, 1 vCPU); root is the host's, read-only`,
    `  I2C   /dev/i2c-${VM_I2C_BUS}: i2c-stub, chips at ${VM_I2C_ADDRESSES.map(hex).join(" ")} (registers only: load them over i2c-dev first)`,
    ...VM_GPIO_CHIPS.map(
      (chip) =>
        `  GPIO  ${chip.label}: gpio-sim, ${chip.lines} lines, as on a ${chip.board}; drive inputs and read pulls in /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio<N>/`,
    ),
    `  UART  ${VM_UARTS.gps.path} ${VM_UARTS.gps.baudRate} 8N1 <- host: ${VM_UARTS.gps.feed}`,
    `  UART  ${VM_UARTS.modbus.path} ${VM_UARTS.modbus.baudRate} 8N1 <-> host: ${VM_UARTS.modbus.feed}, unit ${VM_MODBUS.unitId}: ` +
      `input registers ${VM_MODBUS.input.address}.. = ${VM_MODBUS.input.registers.join(" ")}, holding ${VM_MODBUS.holding.address}.. = ${VM_MODBUS.holding.registers.join(" ")}`,
    `  UART  ${VM_UARTS.lines.path} ${VM_UARTS.lines.baudRate} 8N1 <- host: ${VM_UARTS.lines.feed}: ` +
      Object.entries(VM_PRINTED_VALUES)
        .map(([name, value]) => `${name}=${value.toFixed(2)}`)
        .join(" "),
    `  Net   the host is ${VM_HOST_ADDRESS} (qemu user networking); /tmp, /run are tmpfs; the command runs as root`,
  ];
  return lines.join("\n");
}

/**
 * The baud rate the host's Modbus slave frames requests by (t3.5 silence: 32 ms at 1200 baud). The guest's
 * bytes leave qemu's 16550 one emulated character time apart, and a busy host can stall qemu for longer than
 * 9600 baud's 3.6 ms, which would cut a request in two. The pseudo-terminal itself ignores the rate.
 */
const MODBUS_HOST_FRAMING_BAUD = 1200;

/** The firmware-sim models behind the UARTs, each on a pseudo-terminal whose device end qemu opens. */
class UartFeeds {
  private readonly ports: SimSerialPort[] = [];
  private readonly stops: (() => void)[] = [];

  async start(): Promise<Record<keyof typeof VM_UARTS, string>> {
    const gpsPort = await this.port(VM_UARTS.gps.path, VM_UARTS.gps.baudRate);
    const gps = new SimGps(gpsPort);
    gps.start();
    this.stops.push(() => gps.stop());

    const modbusPort = await this.port(VM_UARTS.modbus.path, MODBUS_HOST_FRAMING_BAUD);
    const slave = new SimModbusSlave(modbusPort, VM_MODBUS.unitId);
    VM_MODBUS.input.registers.forEach((value, i) => slave.setRegister("input", VM_MODBUS.input.address + i, value));
    VM_MODBUS.holding.registers.forEach((value, i) => slave.setRegister("holding", VM_MODBUS.holding.address + i, value));
    slave.start();
    this.stops.push(() => slave.stop());

    const linesPort = await this.port(VM_UARTS.lines.path, VM_UARTS.lines.baudRate);
    const printer = new SimLinePrinter(linesPort);
    printer.setValues(VM_PRINTED_VALUES);
    printer.start();
    this.stops.push(() => printer.stop());

    return { gps: gpsPort.deviceEnd, modbus: modbusPort.deviceEnd, lines: linesPort.deviceEnd };
  }

  async stop(): Promise<void> {
    this.stops.forEach((stop) => stop());
    await Promise.all(this.ports.map((port) => port.stop()));
  }

  private async port(path: string, baudRate: number): Promise<SimSerialPort> {
    const port = new SimSerialPort({ path, baudRate });
    this.ports.push(port);
    await port.start();
    return port;
  }
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Boots the VM, runs `options.command` inside with the devices set up, and resolves when the VM is off. */
export async function bootVm(options: BootVmOptions): Promise<VmRun> {
  const image = await vmImage();
  // Under /tmp: the guest mounts this folder at the same path, inside its own /tmp.
  const runDir = mkdtempSync("/tmp/xedge-vm-");
  const outDir = join(runDir, "out");
  mkdirSync(outDir);
  const feeds = new UartFeeds();
  const started = performance.now();
  try {
    const uarts = await feeds.start();
    const env: Record<string, string> = {
      PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: "/tmp/home",
      LANG: "C.UTF-8",
      [VM_OUT_ENV]: outDir,
      ...options.env,
    };
    const script = [
      ...Object.entries(env).map(([name, value]) => `export ${name}=${shellQuote(value)}`),
      'mkdir -p "$HOME"',
      `cd ${shellQuote(options.cwd ?? process.cwd())} || exit 125`,
      options.command,
      "",
    ].join("\n");
    writeFileSync(join(runDir, "command"), script);
    writeFileSync(
      join(runDir, "config"),
      [
        `I2C_BUS=${VM_I2C_BUS}`,
        `I2C_ADDRESSES=${VM_I2C_ADDRESSES.map((a) => `0x${a.toString(16)}`).join(",")}`,
        `GPIO_CHIPS='${VM_GPIO_CHIPS.map((chip) => `${chip.name}:${chip.label}:${chip.lines}`).join(" ")}'`,
        "",
      ].join("\n"),
    );
    const qemuArgs = [
      ...["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", String(options.memoryMb ?? 1024)],
      ...["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"],
      ...["-kernel", image.kernel, "-initrd", image.initramfs],
      ...["-append", `console=ttyS0 quiet loglevel=3 panic=-1 xedge_run=${runDir}`],
      ...["-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"],
      ...["-chardev", `serial,id=gps,path=${uarts.gps}`, "-serial", "chardev:gps"],
      ...["-chardev", `serial,id=modbus,path=${uarts.modbus}`, "-serial", "chardev:modbus"],
      ...["-chardev", `serial,id=lines,path=${uarts.lines}`, "-serial", "chardev:lines"],
      ...["-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"],
      ...["-virtfs", `local,path=${runDir},mount_tag=run,security_model=none,multidevs=remap`],
      ...["-netdev", "user,id=net", "-device", "virtio-net-pci,netdev=net"],
    ];
    const consoleText = await runQemu(qemuArgs, options.timeoutMs ?? 300_000, options.onConsole);
    const outputFiles: Record<string, string> = {};
    for (const name of readdirSync(outDir)) outputFiles[name] = readFileSync(join(outDir, name), "utf8");
    let exitCode = -1;
    try {
      exitCode = Number(readFileSync(join(runDir, "exit-code"), "utf8").trim());
    } catch {
      // No exit code: the command never finished (init failed, a kernel panic or the timeout).
    }
    return { exitCode, console: consoleText, outputFiles, seconds: (performance.now() - started) / 1000 };
  } finally {
    await feeds.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** Runs qemu to its exit (or kills it after `timeoutMs`) and returns the console output. */
function runQemu(args: string[], timeoutMs: number, onConsole?: (text: string) => void): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
    const killOnExit = () => qemu.kill("SIGKILL");
    process.on("exit", killOnExit);
    let text = "";
    let errors = "";
    qemu.stdout.setEncoding("utf8");
    qemu.stdout.on("data", (chunk: string) => {
      const clean = chunk.replaceAll("\r\n", "\n");
      text += clean;
      onConsole?.(clean);
    });
    qemu.stderr.setEncoding("utf8");
    qemu.stderr.on("data", (chunk: string) => (errors += chunk));
    const timer = setTimeout(() => {
      text += `\nvm: killed after ${timeoutMs} ms\n`;
      qemu.kill("SIGKILL");
    }, timeoutMs);
    qemu.once("error", (error) => {
      clearTimeout(timer);
      process.off("exit", killOnExit);
      reject(error);
    });
    qemu.once("exit", (code, signal) => {
      clearTimeout(timer);
      process.off("exit", killOnExit);
      if (code !== 0 && signal === null) reject(new Error(`qemu exited with ${code}: ${errors.trim()}\n${text}`));
      else resolvePromise(text);
    });
  });
}

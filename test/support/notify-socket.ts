// A stand-in for systemd's notification socket: an AF_UNIX datagram socket (a path, or "@name" in the abstract
// namespace) held by a small Python process, an implementation independent of the agent's. Each datagram
// arrives as one string, "READY=1\nSTATUS=…\n".
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { Arrivals } from "./arrivals.ts";

const RECEIVER = `
import json, socket, sys
address = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\\0" + address[1:] if address.startswith("@") else address)
print(json.dumps("LISTENING"), flush=True)
while True:
    print(json.dumps(sock.recv(65536).decode("utf-8")), flush=True)
`;

const running = new Set<ChildProcess>();
process.once("exit", () => running.forEach((child) => child.kill("SIGKILL")));

export class NotifySocket {
  readonly datagrams: string[] = [];
  private readonly arrivals = new Arrivals();

  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
  ) {}

  /** Binds `address` (a path, or "@name" for an abstract socket) and resolves once it receives. */
  static async listen(address: string): Promise<NotifySocket> {
    const child = spawn("/usr/bin/python3", ["-c", RECEIVER, address], { stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    const socket = new NotifySocket(address, child);
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const listening = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`notify socket ${address}: python3 exited with ${code}: ${stderr}`)));
      createInterface({ input: child.stdout }).on("line", (line) => {
        const datagram = JSON.parse(line) as string;
        if (datagram === "LISTENING") return resolve();
        socket.datagrams.push(datagram);
        socket.arrivals.notify();
      });
    });
    await listening;
    return socket;
  }

  /** Every KEY=VALUE assignment received so far, in order (a datagram may hold several). */
  get assignments(): string[] {
    return this.datagrams.flatMap((datagram) => datagram.split("\n").filter((line) => line !== ""));
  }

  /** Resolves when `count` assignments equal to `assignment` have arrived; rejects after `timeoutMs`. */
  async waitFor(assignment: string, timeoutMs: number, count = 1): Promise<void> {
    await this.arrivals.until(
      () => (this.assignments.filter((line) => line === assignment).length >= count ? true : undefined),
      timeoutMs,
      () => `no ${count}× ${assignment} within ${timeoutMs} ms; received: ${JSON.stringify(this.datagrams)}`,
    );
  }

  close(): void {
    this.child.kill("SIGKILL");
  }
}

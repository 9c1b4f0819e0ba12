// A TCP proxy on loopback that breaks the link between a client (the agent) and a server on command, for fault
// tests. It relays bytes and nothing else, so STARTTLS inside the XMPP stream and the certificate check against the
// server's domain work through it unchanged.
//
// Faults, switched at run time; they add up (e.g. a blackhole upstream and latency downstream), heal() ends them all:
//   drop       closes every connection (FIN) and closes new ones as soon as they are accepted
//   blackhole  passes no bytes, and no close, in one direction or both, without closing anything: to TCP the link
//              looks alive. What was held is delivered on heal(), as TCP's retransmissions would after a partition.
//   reset      sends RST on every current connection at once (one shot: new connections pass)
//   slow       adds latency and/or a bandwidth limit, per direction
import net from "node:net";

/** "up": client → server; "down": server → client. */
export type Direction = "up" | "down";
export type Directions = Direction | "both";

export interface Shaping {
  /** Added to every chunk's delivery. */
  latencyMs?: number;
  /** The link's rate: a chunk of n bytes occupies it for n / bytesPerSecond. */
  bytesPerSecond?: number;
}

export interface ProxyStats {
  /** Connections accepted since start (including those closed at once by drop). */
  accepted: number;
  /** Connections currently relayed. */
  open: number;
  /** Bytes delivered per direction. */
  delivered: Record<Direction, number>;
  /** Bytes read but not yet delivered (held by a blackhole or waiting for latency / bandwidth). */
  queued: Record<Direction, number>;
}

/** Past this many queued bytes a pipe stops reading, so a slow link pushes back on its sender as TCP would. */
const HIGH_WATER = 64 * 1024;

type Entry = { deliverAt: number } & ({ kind: "data"; data: Buffer } | { kind: "end" } | { kind: "reset" });

/** One direction of one connection: reads from `from`, writes to `to`, obeying the proxy's setting for its direction. */
class Pipe {
  private readonly entries: Entry[] = [];
  private queuedBytes = 0;
  /** When the bandwidth-limited line is free again. */
  private lineFreeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly direction: Direction,
    private readonly proxy: FaultProxy,
  ) {
    from.on("data", (data: Buffer) => this.push({ kind: "data", data }, data.length));
    from.on("end", () => this.push({ kind: "end" }, 0));
    from.on("error", () => this.push({ kind: "reset" }, 0));
  }

  get queued(): number {
    return this.queuedBytes;
  }

  private push(entry: { kind: "data"; data: Buffer } | { kind: "end" } | { kind: "reset" }, size: number): void {
    if (this.finished) return;
    const { latencyMs = 0, bytesPerSecond } = this.proxy.shaping(this.direction);
    const now = Date.now();
    const sentAt = bytesPerSecond ? Math.max(now, this.lineFreeAt) + (size / bytesPerSecond) * 1000 : now;
    this.lineFreeAt = sentAt;
    this.entries.push({ ...entry, deliverAt: sentAt + latencyMs });
    this.queuedBytes += size;
    this.pump();
  }

  /** Delivers every entry that is due, unless the direction is held; schedules the next one. */
  pump(): void {
    clearTimeout(this.timer);
    const held = this.proxy.isHeld(this.direction);
    while (!held && !this.finished && this.entries.length > 0) {
      const head = this.entries[0]!;
      const wait = head.deliverAt - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        break;
      }
      this.entries.shift();
      this.deliver(head);
    }
    // Paused, the socket is not read at all: the sender's buffers fill and its writes stall.
    if (held || this.queuedBytes > HIGH_WATER) this.from.pause();
    else this.from.resume();
  }

  private deliver(entry: Entry): void {
    if (entry.kind === "data") {
      this.queuedBytes -= entry.data.length;
      this.proxy.countDelivered(this.direction, entry.data.length);
      this.to.write(entry.data);
    } else if (entry.kind === "end") {
      this.finished = true;
      this.to.end();
    } else {
      this.finished = true;
      this.to.resetAndDestroy();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.finished = true;
  }
}

class Link {
  private readonly pipes: Pipe[];

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
    proxy: FaultProxy,
  ) {
    this.pipes = [new Pipe(client, server, "up", proxy), new Pipe(server, client, "down", proxy)];
  }

  queued(direction: Direction): number {
    return this.pipes[direction === "up" ? 0 : 1]!.queued;
  }

  pump(): void {
    for (const pipe of this.pipes) pipe.pump();
  }

  close(how: "fin" | "rst"): void {
    for (const pipe of this.pipes) pipe.stop();
    for (const socket of [this.client, this.server]) {
      if (how === "rst" && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}

export class FaultProxy {
  private readonly links = new Set<Link>();
  private dropping = false;
  private readonly held = new Set<Direction>();
  private readonly shapes: Partial<Record<Direction, Shaping>> = {};
  private readonly delivered: Record<Direction, number> = { up: 0, down: 0 };
  private accepted = 0;

  private constructor(
    private readonly listener: net.Server,
    private readonly target: { host: string; port: number },
  ) {
    listener.on("connection", (client) => this.accept(client));
  }

  /** Listens on `listen` (by default an ephemeral port of 127.0.0.1) and relays to `target`. */
  static async start(target: { host: string; port: number }, listen = { host: "127.0.0.1", port: 0 }): Promise<FaultProxy> {
    const listener = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(listen.port, listen.host, () => resolve());
    });
    return new FaultProxy(listener, target);
  }

  private get address(): net.AddressInfo {
    return this.listener.address() as net.AddressInfo;
  }

  get port(): number {
    return this.address.port;
  }

  /** The XMPP service URI to give the client instead of the server's. */
  get service(): string {
    return `xmpp://${this.address.address}:${this.port}`;
  }

  get stats(): ProxyStats {
    const queued = (direction: Direction) => [...this.links].reduce((sum, link) => sum + link.queued(direction), 0);
    return { accepted: this.accepted, open: this.links.size, delivered: { ...this.delivered }, queued: { up: queued("up"), down: queued("down") } };
  }

  drop(): void {
    this.dropping = true;
    for (const link of this.links) link.close("fin");
    this.links.clear();
  }

  blackhole(directions: Directions = "both"): void {
    for (const direction of expand(directions)) this.held.add(direction);
  }

  reset(): void {
    for (const link of this.links) link.close("rst");
    this.links.clear();
  }

  /** Applies to bytes read from now on. */
  slow(shaping: Shaping, directions: Directions = "both"): void {
    for (const direction of expand(directions)) this.shapes[direction] = shaping;
  }

  /** Back to a plain relay; whatever a blackhole held is delivered now. */
  heal(): void {
    this.dropping = false;
    this.held.clear();
    delete this.shapes.up;
    delete this.shapes.down;
    for (const link of this.links) link.pump();
  }

  async close(): Promise<void> {
    for (const link of this.links) link.close("fin");
    this.links.clear();
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }

  /** @internal For pipes. */
  isHeld(direction: Direction): boolean {
    return this.held.has(direction);
  }

  /** @internal For pipes. */
  shaping(direction: Direction): Shaping {
    return this.shapes[direction] ?? {};
  }

  /** @internal For pipes. */
  countDelivered(direction: Direction, bytes: number): void {
    this.delivered[direction] += bytes;
  }

  private accept(client: net.Socket): void {
    this.accepted += 1;
    if (this.dropping) {
      client.destroy();
      return;
    }
    const server = net.connect({ ...this.target, allowHalfOpen: true });
    const link = new Link(client, server, this);
    this.links.add(link);
    // A connection is finished once both sockets are closed, whichever side (or the proxy) closed them.
    let closed = 0;
    for (const socket of [client, server]) {
      // The proxy must not add Nagle's delay to small stanzas the agent itself sends without it.
      socket.setNoDelay(true);
      socket.once("close", () => {
        closed += 1;
        if (closed === 2) this.links.delete(link);
      });
    }
    link.pump();
  }
}

function expand(directions: Directions): Direction[] {
  return directions === "both" ? ["up", "down"] : [directions];
}

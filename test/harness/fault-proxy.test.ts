// The fault proxy of the test harness, with an echo server behind it: each fault is observable at both ends.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { FaultProxy } from "../support/fault-proxy.ts";

/** One end of a TCP connection, recording what happens to it. */
class Peer {
  received = "";
  ended = false;
  closed = false;
  errorCode: string | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => this.changed(() => (this.received += text)));
    socket.on("end", () => this.changed(() => (this.ended = true)));
    socket.on("error", (error: NodeJS.ErrnoException) => this.changed(() => (this.errorCode = error.code)));
    socket.on("close", () => this.changed(() => (this.closed = true)));
  }

  private changed(update: () => void): void {
    update();
    for (const wake of this.waiters) wake();
  }

  /** Resolves once `predicate` holds; rejects after 5 s saying what it waited for. */
  until(predicate: (peer: this) => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received.slice(-80))}, ended ${this.ended}, closed ${this.closed}, error ${this.errorCode}`));
      }, 5000);
      this.waiters.add(check);
      check();
    });
  }
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("fault proxy", () => {
  /** The server side of every connection the echo server accepted, in order. */
  const serverSide: Peer[] = [];
  let echo: net.Server;
  let proxy: FaultProxy;

  before(async () => {
    echo = net.createServer({ allowHalfOpen: true }, (socket) => {
      serverSide.push(new Peer(socket));
      socket.on("data", (data) => socket.write(data));
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    proxy = await FaultProxy.start({ host: "127.0.0.1", port: (echo.address() as net.AddressInfo).port });
  });
  // A failed test must not leave its fault on for the next one.
  afterEach(() => proxy.heal());
  after(async () => {
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  /** A client connected through the proxy, once the proxy's own connection reached the echo server. */
  async function connect(): Promise<Peer> {
    const accepted = serverSide.length;
    const peer = new Peer(net.connect(proxy.port, "127.0.0.1"));
    await until(() => serverSide.length > accepted, "the proxy to connect to the echo server");
    return peer;
  }

  async function echoes(peer: Peer, text: string): Promise<void> {
    const before = peer.received.length;
    peer.socket.write(text);
    await peer.until((p) => p.received.slice(before) === text, `the echo of ${text}`);
  }

  it("relays both ways while healthy, including a half close", async () => {
    const client = await connect();
    await echoes(client, "hello");
    client.socket.end();
    await client.until((p) => p.ended && p.closed, "the echo server's end to reach the client");
  });

  it("drop: closes open connections and every new one until healed", async () => {
    const open = await connect();
    await echoes(open, "before");
    proxy.drop();
    await open.until((p) => p.closed && p.errorCode === undefined, "the open connection to close");
    const accepted = proxy.stats.accepted;
    const refused = new Peer(net.connect(proxy.port, "127.0.0.1"));
    refused.socket.write("anyone?");
    await refused.until((p) => p.closed, "a new connection to be closed");
    assert.equal(refused.received, "");
    assert.equal(proxy.stats.accepted, accepted + 1, "the new connection was accepted, then closed");
    proxy.heal();
    await echoes(await connect(), "after");
  });

  it("blackhole: holds bytes and closes in both directions without closing, then delivers them on heal", async () => {
    const client = await connect();
    await echoes(client, "alive");
    const server = serverSide.at(-1)!;
    proxy.blackhole();
    client.socket.write("held");
    await until(() => proxy.stats.queued.up === 4, "the proxy to hold the 4 bytes");
    client.socket.end();
    // A new connection is accepted and then held like the others (it is not read at all).
    const latecomer = await connect();
    latecomer.socket.write("late");
    assert.equal(server.received, "alive", "nothing reached the server");
    assert.equal(server.ended, false, "nor the client's end");
    assert.equal(client.closed, false, "the client's connection is still open");
    assert.equal(client.received, "alive");
    assert.equal(latecomer.closed, false);

    proxy.heal();
    await client.until((p) => p.received === "aliveheld" && p.ended, "the held bytes and end to go through");
    await latecomer.until((p) => p.received === "late", "the newcomer's echo");
    latecomer.socket.end();
  });

  it("blackhole downstream only: the server gets the bytes, the client gets nothing back", async () => {
    const client = await connect();
    proxy.blackhole("down");
    client.socket.write("one-way");
    const server = serverSide.at(-1)!;
    await server.until((p) => p.received === "one-way", "the bytes to reach the server");
    await until(() => proxy.stats.queued.down === 7, "the echo to be held");
    assert.equal(client.received, "");
    proxy.heal();
    await client.until((p) => p.received === "one-way", "the echo after healing");
    client.socket.end();
  });

  it("reset: both ends of every open connection see a reset; new connections pass", async () => {
    const client = await connect();
    await echoes(client, "ok");
    const server = serverSide.at(-1)!;
    proxy.reset();
    await client.until((p) => p.closed && p.errorCode === "ECONNRESET", "a reset at the client");
    await server.until((p) => p.closed && p.errorCode === "ECONNRESET", "a reset at the server");
    await until(() => proxy.stats.open === 0, "no open connection left");
    await echoes(await connect(), "again");
  });

  it("slow: adds latency each way and limits the bandwidth", async () => {
    const client = await connect();
    proxy.slow({ latencyMs: 150 });
    let started = Date.now();
    await echoes(client, "ping");
    const roundTrip = Date.now() - started;
    assert.ok(roundTrip >= 290, `a round trip through 150 ms each way took ${roundTrip} ms`);
    proxy.heal();

    proxy.slow({ bytesPerSecond: 40_000 }, "up");
    const server = serverSide.at(-1)!;
    const before = server.received.length;
    started = Date.now();
    client.socket.write("x".repeat(20_000));
    await server.until((p) => p.received.length - before === 20_000, "20 kB to arrive");
    const took = Date.now() - started;
    assert.ok(took >= 490, `20 kB at 40 kB/s took ${took} ms`);
    proxy.heal();
    client.socket.end();
  });
});

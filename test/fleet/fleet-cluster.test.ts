// The fleet against a two-node ejabberd cluster on loopback (docs/fleet.md): node A (127.0.0.1) and node B
// (127.0.0.2) share one Erlang distribution port and cookie, B joins A's cluster, half the gateways log in to A,
// half to B through a balancer that prefers B. An operator connected to A sees every session and reads out a
// gateway on B; then B is killed, its gateways reconnect through the balancer to A and replay their outboxes, and
// every committed reading of every gateway is on its node once: the cluster's replicated pubsub kept what B accepted.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type StartOptions, type XmppTestServer } from "../support/servers.ts";
import { Observer } from "../support/observer.ts";
import { checkNodes, Fleet, fleetAccounts, nodeProblems } from "../support/fleet.ts";
import { xml } from "../../agent/xmpp/client.ts";

const PER_NODE = 20;
const READER = { user: "ops", password: "ops-secret" };
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const READINGS_PER_NODE = 5;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port from listen(0)");
  return address.port;
}

/**
 * A TCP balancer: each connection goes to the first upstream port that accepts it, in order. With a health check
 * by connect, it is what a balancer in front of a cluster does when a node dies.
 */
async function startBalancer(upstreams: number[]): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const connectFirst = (index: number, client: net.Socket): void => {
    const port = upstreams[index];
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: "127.0.0.1", port });
    let connected = false;
    // Refused: the next upstream. After connecting, an error closes the upstream, and its close the client.
    upstream.on("error", () => {
      if (!connected) connectFirst(index + 1, client);
    });
    upstream.once("connect", () => {
      connected = true;
      sockets.add(upstream);
      upstream.once("close", () => sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.once("close", () => upstream.destroy());
      upstream.once("close", () => client.destroy());
    });
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    connectFirst(0, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port from listen(0)");
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => {
      sockets.forEach((socket) => socket.destroy());
      server.close(() => resolve());
    }),
  };
}

/** Sessions (full JIDs of gateways) as one node of the cluster lists them. */
async function gatewaySessions(server: XmppTestServer): Promise<string[]> {
  return (await server.ctl(["connected_users"])).stdout.split("\n").filter((line) => line.startsWith("gw")).sort();
}

describe("a fleet split over a two-node ejabberd cluster", () => {
  let nodeA: XmppTestServer;
  let nodeB: XmppTestServer;
  const fleets: Fleet[] = [];
  let reader: Observer;
  let dir: string;
  let balancer: { port: number; close: () => Promise<void> } | undefined;

  before(async () => {
    const port = await freePort();
    const cookie = `xedge_${randomBytes(8).toString("hex")}`;
    const options = (address: string): StartOptions => ({
      // Each node authenticates from its own SQLite file, so both get every account.
      accounts: { ...fleetAccounts(2 * PER_NODE), [READER.user]: READER.password },
      accountStorage: "sql",
      pubsubStorage: "memory",
      streamManagement: false,
      cluster: { address, port, cookie },
    });
    nodeA = await startServer("ejabberd", options("127.0.0.1"));
    nodeB = await startServer("ejabberd", options("127.0.0.2"));
    // B drops its own mnesia tables, copies A's and restarts ejabberd: pubsub (mnesia) and sessions are shared.
    await nodeB.ctl(["join_cluster", nodeA.erlangNode]);
    reader = await Observer.connect(nodeA, READER.user, READER.password);
    await reader.until(async () => (await nodeB.ctl(["list_cluster"])).stdout, (text) => text.includes(nodeA.erlangNode) && text.includes(nodeB.erlangNode), 60_000, "B to list both nodes");
    // B's listener comes back with its restart: wait for ejabberd to be started on B.
    await reader.until(async () => (await nodeB.ctl(["status"])).stdout, (text) => /is started/.test(text), 60_000, "ejabberd started again on B");
    dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "xedge-fleet-"));
    // B's gateways go through the balancer, and trust both nodes' test CAs as they would one CA in production.
    balancer = await startBalancer([nodeB.port, nodeA.port]);
    const bothCas = join(dir, "cluster-ca.pem");
    writeFileSync(bothCas, readFileSync(nodeA.caFile, "utf8") + readFileSync(nodeB.caFile, "utf8"));
    for (const [index, server] of [nodeA, nodeB].entries()) {
      fleets.push(await Fleet.start({
        server,
        ...(server === nodeB ? { service: `xmpp://127.0.0.1:${balancer.port}`, caFile: bothCas } : {}),
        gateways: PER_NODE,
        firstGateway: index * PER_NODE,
        sensorsPerGateway: 2,
        interval: "1s",
        dir,
        readers: [`${READER.user}@localhost`],
        onLog: (gateway, entry) => {
          // Expected: ejabberd's mnesia pubsub aborting concurrent node creations (the publisher retries, see
          // docs/fleet.md), and B's gateways losing their link when B is killed.
          const expected = String(entry.error).includes("Database failure") || entry.message === "link lost";
          if (!expected) process.stderr.write(`${gateway} ${JSON.stringify(entry)}\n`);
        },
      }));
    }
  });
  after(async () => {
    await reader?.close();
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    await balancer?.close();
    await nodeB?.stop();
    await nodeA?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists every gateway's session on both nodes, wherever it logged in", async () => {
    const all = fleets.flatMap((fleet) => fleet.gateways.map((gateway) => gateway.fullJid)).sort();
    assert.equal(all.length, 2 * PER_NODE);
    assert.deepEqual(await gatewaySessions(nodeA), all);
    assert.deepEqual(await gatewaySessions(nodeB), all);
  });

  it("routes a readout from an operator on A to a gateway logged in to B", async () => {
    const gateway = fleets[1]!.gateways[0]!;
    const seqnr = "1";
    const done = new Promise<string[]>((resolve) => {
      // The data comes in one or more messages, the end in a message of its own.
      const nodeIds: string[] = [];
      const stop = reader.onMessage((message) => {
        const fields = message.getChild("fields", NS_SENSORDATA);
        if (message.attrs.from !== gateway.fullJid || fields?.attrs.seqnr !== seqnr) return;
        nodeIds.push(...fields.getChildren("node").map((node) => String(node.attrs.nodeId)));
        if (fields.attrs.done !== "true") return;
        stop();
        resolve(nodeIds.sort());
      });
    });
    const reply = await reader.iq("get", gateway.fullJid, xml("req", { xmlns: NS_SENSORDATA, seqnr, momentary: "true" }));
    assert.equal(reply.getChild("accepted", NS_SENSORDATA)?.attrs.seqnr, seqnr);
    assert.deepEqual(await done, [...gateway.sensorIds].sort());
  });

  it("moves B's gateways to A through the balancer when B is killed, and they publish on", async () => {
    await reader.until(() => Math.min(...fleets.map((fleet) => fleet.leastPublishedPerNode)), (least) => least >= READINGS_PER_NODE, 60_000, `${READINGS_PER_NODE} readings on every node`);
    nodeB.signal("SIGKILL");
    const all = fleets.flatMap((fleet) => fleet.gateways.map((gateway) => gateway.fullJid)).sort();
    await reader.until(() => gatewaySessions(nodeA), (sessions) => JSON.stringify(sessions) === JSON.stringify(all), 60_000, "every gateway's session on A");
    const before = fleets[1]!.leastPublishedPerNode;
    await reader.until(() => fleets[1]!.leastPublishedPerNode, (least) => least >= before + READINGS_PER_NODE, 60_000, "B's gateways publishing through A");
  });

  it("has every reading accepted by either node on its pubsub node exactly once, as read through A", async () => {
    for (const fleet of fleets) {
      await fleet.stopSampling();
      await fleet.drained(60_000);
    }
    for (const fleet of fleets) {
      const checks = await checkNodes(fleet, reader, nodeA.pubsubService);
      assert.equal(checks.length, PER_NODE * 2);
      assert.deepEqual(nodeProblems(checks), [], "nodes with missing, duplicated or foreign items");
      for (const check of checks) assert.ok(check.committed >= READINGS_PER_NODE, `${check.node}: ${check.committed} readings`);
    }
  });
});

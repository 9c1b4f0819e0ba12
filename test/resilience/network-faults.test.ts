// The link misbehaves, the data does not: the real agent bundle on simulated sensors talks to a real server through
// the fault proxy (test/support/fault-proxy.ts), which blackholes, resets, drops and slows the connection.
//
// What "exactly once" means here. A pubsub item id is the reading's sequence number, so a reading the agent sends
// again (it was in flight when the link broke, or the server accepted it but the result never came back) replaces
// its own item: the node can never hold a reading twice, and "no duplicate" is checked as "the node's items are
// exactly the seqs 1..last the store committed, each being the committed reading" (no seq missing, none extra, none
// reused for another reading). A subscriber, however, MAY be notified of the same item twice: the server notifies
// every publish, including an overwrite. The tests count those re-notifications and report them.
import { after, afterEach, before, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startServer, type ServerKind, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig, type LogLine } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { assertNodeMatchesStore, bme280s, range, readHistory, status, waitUntil } from "../support/accounting.ts";
import { Store } from "../../agent/store.ts";

/** Fast reconnects so a test spends its time on the fault, not on backoff; dead-link detection stays at its defaults. */
const QUICK_RECONNECT = "  reconnect: { initialDelay: 200ms, maxDelay: 2s }";

/** Sequence numbers of the notifications a subscriber got for `sensorId`, in arrival order. */
function notifiedSeqs(ops: Observer, sensorId: string): number[] {
  return ops.notifications.filter((item) => item.payload?.getChild("node")?.attrs.nodeId === sensorId).map((item) => Number(item.id));
}

/**
 * The subscriber was notified of every reading from `fromSeq` to `lastSeq`, first sightings in seq order; returns
 * how many notifications repeated an item already notified (an overwrite by a re-sent reading). Items before
 * `fromSeq` were published before the subscription (ejabberd sends the last of them on subscribing): not counted.
 */
function assertNotifiedInOrder(ops: Observer, sensorId: string, fromSeq: number, lastSeq: number): number {
  const seqs = notifiedSeqs(ops, sensorId).filter((seq) => seq >= fromSeq);
  const firstSeen = seqs.filter((seq, i) => seqs.indexOf(seq) === i);
  assert.deepEqual(firstSeen, range(fromSeq, lastSeq), `${sensorId}: every reading notified, first in seq order`);
  return seqs.length - firstSeen.length;
}

const timeOf = (line: LogLine) => Date.parse(line.time);

/** Commits `perSensor` readings for each of `sensorIds`, interleaved one second apart, as an outage would leave them. */
async function commitBacklog(dbPath: string, sensorIds: string[], perSensor: number): Promise<void> {
  const store = await Store.open(dbPath, { commitIntervalMs: 60_000 });
  const start = Date.now() - perSensor * 1000;
  for (let second = 0; second < perSensor; second++) {
    sensorIds.forEach((sensorId, i) =>
      store.append({
        sensorId,
        timestamp: new Date(start + second * 1000),
        fields: [{ type: "numeric", name: "temperature", value: 20 + i + second / perSensor, unit: "°C", decimals: 2 }],
      }),
    );
  }
  await store.close();
}

interface Rig {
  server: XmppTestServer;
  /** Between the agent and the server; healed after every test. */
  proxy: FaultProxy;
}

/** A server of `kind` for the suite with a fault proxy in front of it; the fields are set once before() ran. */
function setUp(kind: ServerKind): Rig {
  const context = {} as Rig;
  before(async () => {
    context.server = await startServer(kind, { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    context.proxy = await FaultProxy.start({ host: context.server.host, port: context.server.port });
  });
  afterEach(() => context.proxy.heal());
  after(async () => {
    await context.proxy?.close();
    await context.server?.stop();
  });
  return context;
}

/** Resets the agent's connection `resets` times while it drains `perSensor` readings of each of `sensors` sensors. */
async function drainThroughResets(t: TestContext, server: XmppTestServer, proxy: FaultProxy, sensors: number, perSensor: number, resets: number): Promise<void> {
  const sensorIds = range(1, sensors).map((i) => `r${i}`);
  // Unplugged from the start: the agent only drains what the store already holds.
  const { file, dir } = writeAgentConfig(server, { service: proxy.service, xmppExtra: QUICK_RECONNECT, sensors: bme280s("r", sensors, "1s", "0s") });
  const dbPath = join(dir, "xedge.db");
  const ops = await Observer.connect(server, "ops", "ops-secret");
  try {
    // One reading each first, so the nodes exist and the subscriber hears the whole drain that follows.
    await commitBacklog(dbPath, sensorIds, 1);
    const first = AgentProcess.start(file);
    await first.waitForMessage("online", 30_000);
    await waitUntil(async () => (await status(file)).unsent === 0, "the nodes to be created", 30_000);
    assert.equal(await first.stop(), 0);
    for (const sensorId of sensorIds) await ops.subscribe(server.pubsubService, `xedge/gw1/${sensorId}`);
    await commitBacklog(dbPath, sensorIds, perSensor - 1);
    const total = sensors * (perSensor - 1);
    assert.equal((await status(file)).unsent, total);

    const agent = AgentProcess.start(file);
    try {
      const online = await agent.waitForMessage("online", 30_000);
      const distinctNotified = () => new Set(ops.notifications.map((item) => `${String(item.payload?.getChild("node")?.attrs.nodeId)}/${item.id}`)).size;
      const step = Math.floor(total / (resets + 2));
      /** From each reset to online again, ms. */
      const recoveries: number[] = [];
      for (let round = 1; round <= resets; round++) {
        await ops.until(() => distinctNotified(), (n) => n >= round * step, 60_000, `${round * step} readings through`);
        const mark = agent.logs.length;
        proxy.reset();
        const notifiedAtReset = distinctNotified();
        assert.ok(notifiedAtReset < total, `reset ${round} came while the backlog drained (${notifiedAtReset} of ${total} through)`);
        const lost = await agent.waitForMessage("link lost", 10_000, mark);
        assert.match(String(lost.reason), /closed/, "a reset closes the stream at once; no ping needed");
        recoveries.push(timeOf(await agent.waitForMessage("online", 30_000, mark)) - timeOf(lost));
      }
      // Waiting on the subscriber rather than polling `xedge status` keeps the CPU for the drain.
      await ops.until(() => distinctNotified(), (n) => n >= total, 120_000, "every reading through");
      await waitUntil(async () => (await status(file)).unsent === 0, "the last acknowledgements to be committed", 10_000);
      assert.equal(await agent.stop(), 0);
      let renotified = 0;
      for (const sensorId of sensorIds) {
        const last = await assertNodeMatchesStore(ops, server, dbPath, sensorId);
        assert.equal(last, perSensor);
        renotified += assertNotifiedInOrder(ops, sensorId, 2, last);
      }
      const publishedAt = [...(await readHistory(dbPath)).values()].map((date) => date?.getTime() ?? 0);
      const drainMs = Math.max(...publishedAt) - timeOf(online);
      t.diagnostic(`${total} readings drained through ${resets} resets in ${drainMs} ms; online again ${recoveries.join(", ")} ms after each reset; ${renotified} re-notified (re-sent and accepted twice)`);
    } finally {
      await agent.stop();
    }
  } finally {
    await ops.close();
  }
}

describe("network faults on prosody", () => {
  const context = setUp("prosody");

  it("a 60 s blackhole is detected within 30 s by the default ping (15 s + 10 s), and nothing is lost", async (t) => {
    const { server, proxy } = context;
    // Default pingInterval 15s / pingTimeout 10s: a dead link is noticed at most 25 s after it died.
    const { file, dir } = writeAgentConfig(server, { service: proxy.service, xmppExtra: QUICK_RECONNECT, sensors: bme280s("b", 2, "200ms", "40s") });
    const agent = AgentProcess.start(file);
    const ops = await Observer.connect(server, "ops", "ops-secret");
    try {
      await agent.waitForMessage("online", 30_000);
      for (const sensorId of ["b1", "b2"]) {
        await ops.until(() => ops.items(server.pubsubService, `xedge/gw1/${sensorId}`), (items) => items.length > 0, 20_000, `node ${sensorId}`);
        await ops.subscribe(server.pubsubService, `xedge/gw1/${sensorId}`);
      }
      await ops.until(() => ops.notifications.length, (n) => n >= 10, 20_000, "a stream of notifications");

      const mark = agent.logs.length;
      const blackholeAt = Date.now();
      proxy.blackhole();
      const lost = await agent.waitForMessage("link lost", 40_000, mark);
      const detectedMs = timeOf(lost) - blackholeAt;
      assert.match(String(lost.reason), /no answer to a ping/, "TCP saw nothing wrong: only the ping can tell");
      assert.ok(detectedMs <= 30_000, `detected ${detectedMs} ms after the blackhole began`);
      t.diagnostic(`blackhole detected after ${detectedMs} ms (${String(lost.reason)})`);
      await agent.waitForMessage("reconnecting", 5_000, mark);

      await sleep(blackholeAt + 60_000 - Date.now());
      const healAt = Date.now();
      proxy.heal();
      const online = await agent.waitForMessage("online", 60_000, mark);
      t.diagnostic(`online again ${timeOf(online) - healAt} ms after healing`);
      // The sensors were unplugged 40 s after start, before the heal: the outbox now drains to empty.
      await waitUntil(async () => (await status(file)).unsent === 0, "the backlog to drain", 60_000);
      assert.equal(await agent.stop(), 0);

      const dbPath = join(dir, "xedge.db");
      let renotified = 0;
      for (const sensorId of ["b1", "b2"]) {
        const last = await assertNodeMatchesStore(ops, server, dbPath, sensorId);
        const firstNotified = Math.min(...notifiedSeqs(ops, sensorId));
        renotified += assertNotifiedInOrder(ops, sensorId, firstNotified, last);
      }
      const published = [...(await readHistory(dbPath)).values()].map((date) => date?.getTime() ?? 0);
      const backlog = published.filter((at) => at >= healAt).length;
      assert.ok(backlog > 100, `readings committed during the blackhole were published after it (${backlog})`);
      t.diagnostic(`${backlog} readings held back by the blackhole, drained ${Math.max(...published) - timeOf(online)} ms after coming online; ${renotified} re-notified`);
    } finally {
      await agent.stop();
      await ops.close();
    }
  });

  it("resets during a backlog drain lose and duplicate nothing", async (t) => {
    await drainThroughResets(t, context.server, context.proxy, 10, 200, 5);
  });

  it("drop: the agent reconnects with backoff and catches up", async (t) => {
    const { server, proxy } = context;
    const { file, dir } = writeAgentConfig(server, { service: proxy.service, xmppExtra: QUICK_RECONNECT, sensors: bme280s("d", 2, "100ms", "10s") });
    const agent = AgentProcess.start(file);
    const ops = await Observer.connect(server, "ops", "ops-secret");
    try {
      await agent.waitForMessage("online", 30_000);
      await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/d1"), (items) => items.length >= 5, 20_000, "readings before the drop");
      const mark = agent.logs.length;
      const dropAt = Date.now();
      proxy.drop();
      const lost = await agent.waitForMessage("link lost", 10_000, mark);
      assert.match(String(lost.reason), /closed/);
      const retries = await ops.until(
        () => agent.logs.slice(mark).filter((line) => line.message === "reconnecting"),
        (lines) => lines.length >= 4,
        20_000,
        "four reconnect attempts",
      );
      assert.deepEqual(retries.map((line) => line.attempt).slice(0, 4), [1, 2, 3, 4], "each failed attempt counts");
      // Equal jitter: attempt 1 waits 100..200 ms, attempt 3 400..800 ms.
      assert.ok(Number(retries[2]!.inMs) > Number(retries[0]!.inMs), `backoff grows: ${retries.map((line) => String(line.inMs)).join(", ")} ms`);
      const healAt = Date.now();
      proxy.heal();
      const online = await agent.waitForMessage("online", 10_000, mark);
      t.diagnostic(`dropped ${healAt - dropAt} ms, ${retries.length} attempts refused, online ${timeOf(online) - healAt} ms after healing`);

      for (const sensorId of ["d1", "d2"]) await agent.waitForLog((line) => line.message === "sensor failed" && line.sensor === sensorId, 20_000);
      await waitUntil(async () => (await status(file)).unsent === 0, "the outbox to drain", 30_000);
      assert.equal(await agent.stop(), 0);
      const dbPath = join(dir, "xedge.db");
      for (const sensorId of ["d1", "d2"]) await assertNodeMatchesStore(ops, server, dbPath, sensorId);
      const published = [...(await readHistory(dbPath)).values()].map((date) => date?.getTime() ?? 0);
      assert.ok(published.filter((at) => at >= healAt).length > 0, "readings committed during the drop were published after it");
    } finally {
      await agent.stop();
      await ops.close();
    }
  });

  it("slow: through 300 ms each way and 16 kB/s the agent logs in and publishes everything once", async (t) => {
    const { server, proxy } = context;
    const { file, dir } = writeAgentConfig(server, { service: proxy.service, xmppExtra: QUICK_RECONNECT, sensors: bme280s("w", 2, "200ms", "15s") });
    proxy.slow({ latencyMs: 300, bytesPerSecond: 16_000 });
    const agent = AgentProcess.start(file);
    const ops = await Observer.connect(server, "ops", "ops-secret");
    try {
      const started = await agent.waitForMessage("agent started", 10_000);
      const online = await agent.waitForMessage("online", 30_000);
      t.diagnostic(`login through the slow link took ${timeOf(online) - timeOf(started)} ms`);
      for (const sensorId of ["w1", "w2"]) {
        await ops.until(() => ops.items(server.pubsubService, `xedge/gw1/${sensorId}`), (items) => items.length > 0, 20_000, `node ${sensorId}`);
        await ops.subscribe(server.pubsubService, `xedge/gw1/${sensorId}`);
      }
      for (const sensorId of ["w1", "w2"]) await agent.waitForLog((line) => line.message === "sensor failed" && line.sensor === sensorId, 30_000);
      await waitUntil(async () => (await status(file)).unsent === 0, "the outbox to drain", 60_000);
      assert.equal(await agent.stop(), 0);
      assert.equal(agent.logs.filter((line) => line.message === "link lost").length, 0, "a slow link is not taken for a dead one");
      const dbPath = join(dir, "xedge.db");
      for (const sensorId of ["w1", "w2"]) {
        const last = await assertNodeMatchesStore(ops, server, dbPath, sensorId);
        const firstNotified = Math.min(...notifiedSeqs(ops, sensorId));
        assert.equal(assertNotifiedInOrder(ops, sensorId, firstNotified, last), 0, "nothing was sent twice");
      }
    } finally {
      await agent.stop();
      await ops.close();
    }
  });
});

describe("network faults on ejabberd", () => {
  const context = setUp("ejabberd");

  it("resets during a backlog drain lose and duplicate nothing", async (t) => {
    await drainThroughResets(t, context.server, context.proxy, 10, 200, 5);
  });
});

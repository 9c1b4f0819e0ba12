// A damaged store at start, with the real agent bundle and a real Prosody: the agent keeps the damaged file aside,
// starts on a fresh store, says so (log, xedge status, its health line), and, since nothing left in the store
// proves which item ids were published, asks the node before publishing: what it sampled meanwhile is renumbered
// past the node's highest item, so the items published before the damage stay as they were.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { bme280s, range, sortedIds, status, waitUntil } from "../support/accounting.ts";
import { Store, type StoredReading } from "../../agent/store.ts";

async function readStoreHistory(path: string, sensorId: string): Promise<StoredReading[]> {
  const store = await Store.open(path, { commitIntervalMs: 60_000 });
  try {
    return await store.history(sensorId);
  } finally {
    await store.close();
  }
}

describe("a damaged store at start, on Prosody", () => {
  let server: XmppTestServer;
  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
  });
  after(async () => {
    await server?.stop();
  });

  it("a zero-filled store: kept aside, reported, and the new readings published after the node's highest item id", async () => {
    const { file, dir } = writeAgentConfig(server, { sensors: bme280s("d", 1, "100ms", "2s") });
    const store = join(dir, "xedge.db");
    const first = AgentProcess.start(file);
    await first.waitForMessage("online", 30_000);
    await waitUntil(async () => (await status(file)).unsent === 0 && (await status(file)).sensors[0]!.lastSeq > 10, "the first readings to be published", 30_000);
    assert.equal(await first.stop(), 0);
    let ops = await Observer.connect(server, "ops", "ops-secret");
    try {
      const before = await ops.items(server.pubsubService, "xedge/gw1/d1");
      const published = sortedIds(before);
      const highest = published.at(-1) ?? 0;
      assert.deepEqual(published, range(1, highest));

      // The card loses the file's data; the agent starts while the server is away, so it samples with numbers it cannot prove.
      writeFileSync(store, Buffer.alloc(statSync(store).size));
      await server.stop({ keepData: true });
      const second = AgentProcess.start(file);
      const damage = await second.waitForMessage("store damaged at start: kept aside, a fresh store holds what could be read", 10_000);
      assert.equal(damage.level, "error");
      assert.ok(existsSync(String(damage.keptAs)), `the damaged file is kept: ${String(damage.keptAs)}`);
      assert.equal(damage.recovered, 0);
      await waitUntil(async () => (await status(file)).sensors.some((sensor) => sensor.lastSeq > 3), "readings sampled offline", 10_000);
      const offline = await status(file);
      assert.match(String((offline as { agent?: { health?: { text?: string } } }).agent?.health?.text), /store damaged at start: 0 readings recovered, kept as xedge\.db\.damaged-/);
      assert.equal(offline.lastRecovery?.keptAs, damage.keptAs);
      assert.equal(offline.lastRecovery?.sequencesProvenAt, undefined);

      await ops.close().catch(() => undefined);
      await server.restart();
      ops = await Observer.connect(server, "ops", "ops-secret");
      const renumbered = await second.waitForMessage(
        "store recovered: the node holds higher item ids than the store could prove; readings sampled since are renumbered after them",
        30_000,
      );
      assert.equal(renumbered.highestItemId, highest);
      await second.waitForMessage("store recovered: every sensor's sequence continues after its node's highest item id", 10_000);
      await waitUntil(async () => (await status(file)).unsent === 0 && (await status(file)).sensors[0]!.lastSeq > highest + 10, "the new readings to be published", 30_000);
      assert.equal(await second.stop(), 0);
      assert.ok((await status(file)).lastRecovery?.sequencesProvenAt, "xedge status says the numbers were checked against the node");

      const items = await ops.items(server.pubsubService, "xedge/gw1/d1");
      const last = (await status(file)).sensors[0]!.lastSeq;
      assert.deepEqual(sortedIds(items), range(1, last), "no id missing, none twice");
      // The items published before the damage are untouched; the new ones are the new store's readings, past them.
      const payload = (id: number, of: typeof items): unknown => of.find((item) => Number(item.id) === id)?.payload?.getChild("node")?.getChild("timestamp")?.attrs.value;
      for (const id of range(1, highest)) assert.equal(payload(id, items), payload(id, before), `item ${id} was not overwritten`);
      const committed = new Map((await readStoreHistory(store, "d1")).map((reading) => [reading.seq, reading.timestamp.toISOString()]));
      assert.deepEqual([...committed.keys()].sort((a, b) => a - b), range(highest + 1, last), "the new store holds what came after the recovery");
      for (const id of range(highest + 1, last)) {
        const stamp: unknown = items.find((item) => Number(item.id) === id)?.payload?.getChild("node")?.getChild("timestamp")?.attrs.value;
        assert.equal(stamp, committed.get(id), `item ${id} is the new store's reading ${id}`);
      }
    } finally {
      await ops.close().catch(() => undefined);
    }
  });
});

// Store-and-forward accounting for tests that break the link: what the agent's store committed against what its
// pubsub nodes hold, reading by reading.
import assert from "node:assert/strict";
import { runCli } from "./agent.ts";
import type { Observer, Item } from "./observer.ts";
import type { XmppTestServer } from "./servers.ts";
import { Store, type StoreStatus } from "../../agent/store.ts";

/**
 * Simulated BME280s, two per bus (SDO low and high: 0x76, 0x77) on buses 1, 2, 3, …, named PREFIX1, PREFIX2, …
 * Each is unplugged `unplugAt` after the agent starts, so production stops and the outbox can drain to empty.
 */
export function bme280s(prefix: string, count: number, interval: string, unplugAt: string): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `  - { id: ${prefix}${i + 1}, driver: bme280, i2c: { bus: ${Math.floor(i / 2) + 1}, address: ${i % 2 ? "0x77" : "0x76"} }, interval: ${interval}, sim: { faults: [{ kind: unplug, at: ${unplugAt} }] } }`,
  ).join("\n");
}

/** `xedge status --json`, run as a separate process (it works while the agent runs). */
export async function status(configFile: string): Promise<StoreStatus & { sensors: { sensorId: string; lastSeq: number }[] }> {
  const result = await runCli(["status", "--json", "--config", configFile]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StoreStatus;
}

export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function sortedIds(items: Item[]): number[] {
  return items.map((item) => Number(item.id)).sort((a, b) => a - b);
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** When each reading was accepted by the server, keyed "sensor/seq". */
export async function readHistory(dbPath: string): Promise<Map<string, Date | undefined>> {
  const store = await Store.open(dbPath, { commitIntervalMs: 60_000 });
  try {
    const status = await store.status();
    const entries = await Promise.all(status.sensors.map((s) => store.history(s.sensorId)));
    return new Map(entries.flat().map((r) => [`${r.sensorId}/${r.seq}`, r.publishedAt]));
  } finally {
    await store.close();
  }
}

/**
 * Checks a node holds exactly the readings the store committed for its sensor, each once, unchanged: item ids are
 * `fromSeq`..last with none missing and none extra, and each item is the committed reading with that sequence
 * number (no number was reused for another reading). Returns the last sequence number.
 */
export async function assertNodeMatchesStore(ops: Observer, server: XmppTestServer, dbPath: string, sensorId: string, fromSeq = 1): Promise<number> {
  const items = await ops.items(server.pubsubService, `xedge/gw1/${sensorId}`);
  const ids = sortedIds(items);
  const store = await Store.open(dbPath, { commitIntervalMs: 60_000 });
  try {
    const last = (await store.status()).sensors.find((s) => s.sensorId === sensorId)?.lastSeq ?? 0;
    assert.deepEqual(ids, range(fromSeq, last), `${sensorId}: items ${fromSeq}..${last}, each exactly once`);
    const committed = new Map((await store.history(sensorId)).map((r) => [r.seq, r.timestamp.toISOString()]));
    for (const item of items) {
      const node = item.payload?.getChild("node");
      assert.equal(node?.attrs.nodeId, sensorId, `${sensorId} item ${item.id} belongs to its node: ${String(item.payload)}`);
      const stamp = String(node?.getChild("timestamp")?.attrs.value);
      assert.equal(stamp, committed.get(Number(item.id)), `${sensorId} item ${item.id} is the committed reading: ${String(item.payload)}`);
    }
    return last;
  } finally {
    await store.close();
  }
}

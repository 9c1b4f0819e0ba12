// The process whose writes test/resilience/power-cut.test.ts records (under write-log.c): the real Store,
// committing readings of three sensors and marking some published, with a close and reopen on the way (a
// restart: a checkpoint and a new WAL). After each commit it acknowledges, through a ".ack" file, the highest
// sequence number per sensor the store told its listeners was committed: what a publish may then use.
// `node --import tsx writer.ts DIR COMMITS PER_COMMIT`
import { openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Store } from "../../../agent/store.ts";

const [dir = "", commits = "0", perCommit = "0"] = process.argv.slice(2);
const ack = openSync(join(dir, "commits.ack"), "a");
const sensors = ["boiler", "cellar", "attic"];
let n = 0;

async function session(path: string, count: number): Promise<void> {
  const store = await Store.open(path, { commitIntervalMs: 3_600_000 });
  store.onCommitted((readings) => {
    const highest: Record<string, number> = {};
    for (const reading of readings) highest[reading.sensorId] = Math.max(highest[reading.sensorId] ?? 0, reading.seq);
    writeSync(ack, `${JSON.stringify(highest)}\n`);
    // Half of what is committed is acknowledged by the "server" and marked with the next commit.
    for (const reading of readings) if (reading.seq % 2 === 0) store.markPublished(reading.id);
  });
  for (let commit = 0; commit < count; commit++) {
    for (let i = 0; i < Number(perCommit); i++) {
      const sensorId = sensors[n % sensors.length] ?? "boiler";
      store.append({ sensorId, timestamp: new Date(1_700_000_000_000 + n * 1000), fields: [{ name: "temperature", type: "numeric", value: 20 + (n % 100) / 10, unit: "°C", decimals: 1 }] });
      n += 1;
    }
    await store.flush();
  }
  await store.close();
}

const path = join(dir, "store.db");
await session(path, Math.floor(Number(commits) / 3));
await session(path, Number(commits) - Math.floor(Number(commits) / 3));

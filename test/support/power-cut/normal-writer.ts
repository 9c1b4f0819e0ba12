// The power-cut test's control: commits like the store does, but with synchronous=NORMAL, which in WAL mode
// does not fsync at each commit. Under the same log and replay the test must see acknowledged rows lost, or it
// could not see anything. `node --import tsx normal-writer.ts DIR COMMITS`
import { openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Database } from "../../../agent/sqlite.ts";

const [dir = "", commits = "0"] = process.argv.slice(2);
const ack = openSync(join(dir, "commits.ack"), "a");
const db = await Database.open(join(dir, "store.db"));
await db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE readings (seq INTEGER PRIMARY KEY, value TEXT)");
for (let seq = 1; seq <= Number(commits); seq++) {
  await db.exclusive(() => db.transaction(() => db.run("INSERT INTO readings VALUES (?, ?)", [seq, "x".repeat(200)])));
  writeSync(ack, `${JSON.stringify({ control: seq })}\n`);
}
await db.close();

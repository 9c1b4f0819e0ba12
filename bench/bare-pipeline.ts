// The cost-per-reading baseline: what a reading costs at the least, one bare INSERT with the sqlite3 package and one
// bare publish with @xmpp/client, paced as the agent's gateway runs (every second one row per sensor in one
// transaction, with the store's schema and its journal_mode = WAL and synchronous = FULL, but SQLite's default
// page cache; then one publish per row). No sampling, no outbox, no retry, no acknowledgement recorded. Bundled by
// the benchmark beside the release's packages (sqlite3 stays external).
// Usage: node bare-pipeline.mjs JOB.json, with NODE_EXTRA_CA_CERTS set to the server's CA. Prints "online" once its
// nodes exist, then once a second "published N": the publishes the server has acknowledged so far.
import { readFileSync } from "node:fs";
import { client } from "@xmpp/client";
import sqlite3 from "sqlite3";
import { MIGRATIONS } from "../agent/store.ts";
import { createNodes, publish, type BarePubsubJob } from "./bare-pubsub.ts";
import { bme280Fields } from "./readings.ts";

export interface PipelineJob extends BarePubsubJob {
  sensors: number;
  dbPath: string;
}

const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as PipelineJob;
const exec = (db: sqlite3.Database, sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())));

const db = new sqlite3.Database(job.dbPath);
await exec(db, ["PRAGMA journal_mode = WAL;", "PRAGMA synchronous = FULL;", ...MIGRATIONS].join("\n"));
const insert = db.prepare("INSERT INTO readings (sensor_id, seq, ts, fields) VALUES (?, ?, ?, ?)");

const xmpp = client({ service: job.service, domain: job.domain, username: job.username, password: job.password, resource: "pipeline", timeout: 30_000 });
xmpp.on("error", (error: unknown) => console.error(error));
await xmpp.start();
const sensorIds = Array.from({ length: job.sensors }, (_, i) => `p${i + 1}`);
await createNodes(xmpp, job.pubsubService, sensorIds.map((id) => `${job.nodePrefix}/${id}`), job.maxItems);
process.stdout.write("online\n");

let second = 0;
let published = 0;
setInterval(() => {
  second += 1;
  const timestamp = new Date();
  const readings = sensorIds.map((sensorId, i) => ({ sensorId, seq: second, timestamp, fields: bme280Fields(i + 1, second) }));
  db.serialize(() => {
    db.run("BEGIN IMMEDIATE");
    for (const reading of readings) insert.run(reading.sensorId, reading.seq, reading.timestamp.getTime(), JSON.stringify(reading.fields));
    db.run("COMMIT", (error: Error | null) => {
      if (error) throw error;
      for (const reading of readings) {
        publish(xmpp, job.pubsubService, `${job.nodePrefix}/${reading.sensorId}`, reading).then(
          () => (published += 1),
          (error: unknown) => console.error(error),
        );
      }
    });
  });
  process.stdout.write(`published ${published}\n`);
}, 1000);

// The baseline publisher: @xmpp/client as it comes, publishing prepared readings to pubsub with a fixed window of
// iqs in flight, and nothing else (no store, no retry, no ordering per node). Run as a child process with
// NODE_EXTRA_CA_CERTS set to the server's CA, since @xmpp/client takes no TLS options.
// Usage: node --import tsx bench/bare-publisher.ts JOB.json; prints {"published": n, "elapsedMs": t} on stdout.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { client } from "@xmpp/client";
import type { Field } from "../lib/model.ts";
import { createNodes, publish, type BarePubsubJob } from "./bare-pubsub.ts";

export interface BareJob extends BarePubsubJob {
  window: number;
  readings: { sensorId: string; seq: number; timestamp: number; fields: Field[] }[];
}

const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as BareJob;
const xmpp = client({ service: job.service, domain: job.domain, username: job.username, password: job.password, resource: "bare" });
xmpp.on("error", (error: unknown) => console.error(error));
await xmpp.start();

// The nodes exist before the clock starts, configured as xedge configures its own.
await createNodes(xmpp, job.pubsubService, [...new Set(job.readings.map((reading) => `${job.nodePrefix}/${reading.sensorId}`))], job.maxItems);

const elapsedMs = await new Promise<number>((resolve, reject) => {
  const started = performance.now();
  let next = 0;
  let inFlight = 0;
  let published = 0;
  const pump = () => {
    while (inFlight < job.window && next < job.readings.length) {
      const reading = job.readings[next++];
      if (!reading) break;
      inFlight += 1;
      publish(xmpp, job.pubsubService, `${job.nodePrefix}/${reading.sensorId}`, { ...reading, timestamp: new Date(reading.timestamp) }).then(() => {
        inFlight -= 1;
        published += 1;
        if (published === job.readings.length) resolve(performance.now() - started);
        else pump();
      }, reject);
    }
  };
  pump();
});

process.stdout.write(`${JSON.stringify({ published: job.readings.length, elapsedMs })}\n`);
await xmpp.stop();

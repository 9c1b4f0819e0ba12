// The baseline publisher: @xmpp/client as it comes, publishing prepared readings to pubsub with a fixed window of
// iqs in flight, and nothing else (no store, no retry, no ordering per node). Run as a child process with
// NODE_EXTRA_CA_CERTS set to the server's CA, since @xmpp/client takes no TLS options.
// Usage: node --import tsx bench/bare-publisher.ts JOB.json; prints {"published": n, "elapsedMs": t} on stdout.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { client, xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { readingPayload } from "../agent/xmpp/fields.ts";
import type { Field } from "../lib/model.ts";

export interface BareJob {
  service: string;
  domain: string;
  username: string;
  password: string;
  pubsubService: string;
  nodePrefix: string;
  maxItems: number;
  window: number;
  readings: { sensorId: string; seq: number; timestamp: number; fields: Field[] }[];
}

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

function nodeConfig(maxItems: number): Element {
  const field = (name: string, value: string) => xml("field", { var: name }, xml("value", {}, value));
  return xml(
    "configure",
    {},
    xml(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#node_config`)),
      field("pubsub#persist_items", "true"),
      field("pubsub#max_items", String(maxItems)),
    ),
  );
}

const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as BareJob;
const xmpp = client({ service: job.service, domain: job.domain, username: job.username, password: job.password, resource: "bare" });
xmpp.on("error", (error: unknown) => console.error(error));
await xmpp.start();

const pubsubIq = (child: Element) => xml("iq", { type: "set", to: job.pubsubService }, xml("pubsub", { xmlns: NS_PUBSUB }, child));
// The nodes exist before the clock starts, configured as xedge configures its own.
const nodes = [...new Set(job.readings.map((reading) => `${job.nodePrefix}/${reading.sensorId}`))];
for (const node of nodes) {
  const iq = pubsubIq(xml("create", { node }));
  iq.getChild("pubsub")?.append(nodeConfig(job.maxItems));
  await xmpp.iqCaller.request(iq);
}

const elapsedMs = await new Promise<number>((resolve, reject) => {
  const started = performance.now();
  let next = 0;
  let inFlight = 0;
  let published = 0;
  const pump = () => {
    while (inFlight < job.window && next < job.readings.length) {
      const reading = job.readings[next++];
      if (!reading) break;
      const item = xml("item", { id: String(reading.seq) }, readingPayload({ ...reading, timestamp: new Date(reading.timestamp) }));
      inFlight += 1;
      xmpp.iqCaller.request(pubsubIq(xml("publish", { node: `${job.nodePrefix}/${reading.sensorId}` }, item))).then(() => {
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

// Figures 2 and 3: publishing to a real server (Prosody or ejabberd from test/support/servers.ts), against a bare
// @xmpp/client loop (bare-publisher.ts) publishing the same payloads with the same window to nodes configured the
// same way. xedge's clocks include what it really does per run (disco#info, the first publish of each node with
// publish-options, reading pages from the store, recording acknowledgements); the baseline's nodes are created
// before its clock starts.
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { Store } from "../agent/store.ts";
import { Database } from "../agent/sqlite.ts";
import { Publisher } from "../agent/publisher.ts";
import { XmppConnection } from "../agent/xmpp/connection.ts";
import { PubsubSink } from "../agent/xmpp/pubsub.ts";
import { createLogger } from "../agent/log.ts";
import type { Sample } from "../lib/model.ts";
import type { XmppTestServer } from "../test/support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../test/support/agent.ts";
import { figure, perSecond, runWorker, type Figure } from "./figures.ts";
import { bme280Samples, numbered } from "./readings.ts";
import type { BareJob } from "./bare-publisher.ts";

export const GATEWAY = { user: "gw1", password: "gw1-secret" };
export const BARE = { user: "bare", password: "bare-secret" };
/** xedge's publisher window (agent/main.ts) and node size (pubsub.maxItems default). */
const WINDOW = 32;
const MAX_ITEMS = 1000;
const PUBLISH_ITEMS = 3000;
const DRAIN_SENSORS = 20;
const DRAIN_PER_SENSOR = 600;

const BARE_PUBLISHER = resolve(import.meta.dirname, "bare-publisher.ts");

/** Runs the baseline publisher in a child process; resolves with its elapsed ms from first send to last result. */
export async function bareRun(server: XmppTestServer, work: string, nodePrefix: string, samples: Sample[]): Promise<number> {
  const job: BareJob = {
    service: server.service,
    domain: server.domain,
    username: BARE.user,
    password: BARE.password,
    pubsubService: server.pubsubService,
    nodePrefix,
    maxItems: MAX_ITEMS,
    window: WINDOW,
    readings: numbered(samples).map((r) => ({ ...r, timestamp: r.timestamp.getTime() })),
  };
  const jobFile = join(work, `${nodePrefix.replaceAll("/", "_")}.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  const result = await runWorker<{ published: number; elapsedMs: number }>(BARE_PUBLISHER, jobFile, server.caFile, "bare publisher");
  if (result.published !== samples.length) throw new Error(`bare publisher published ${result.published} of ${samples.length}`);
  return result.elapsedMs;
}

/** The real Publisher + PubsubSink + XmppConnection in this process, draining `samples` committed in a fresh store. */
export async function xedgeRun(server: XmppTestServer, work: string, nodePrefix: string, samples: Sample[]): Promise<number> {
  const dbPath = join(work, `${nodePrefix.replaceAll("/", "_")}.db`);
  const filler = await Store.open(dbPath, { commitIntervalMs: 3_600_000 });
  for (const sample of samples) filler.append(sample);
  await filler.close();

  const log = createLogger({ level: "warn", json: false });
  const store = await Store.open(dbPath, { commitIntervalMs: 1000 });
  const connection = new XmppConnection(
    {
      service: server.service,
      domain: server.domain,
      username: GATEWAY.user,
      password: GATEWAY.password,
      resource: "bench",
      caFile: server.caFile,
      pingIntervalMs: 15_000,
      pingTimeoutMs: 10_000,
      reconnect: { initialDelayMs: 1000, maxDelayMs: 5000 },
    },
    log,
  );
  const sink = new PubsubSink(connection, { service: server.pubsubService, nodePrefix, maxItems: MAX_ITEMS, gatewayJid: `${GATEWAY.user}@${server.domain}` });
  const publisher = new Publisher(store, sink, { window: WINDOW }, log);
  try {
    const online = once(connection, "online");
    connection.start();
    await online;
    const acknowledged = new Set<number>();
    const done = new Promise<void>((resolveDone) =>
      publisher.on("published", (reading) => {
        acknowledged.add(reading.id);
        if (acknowledged.size === samples.length) resolveDone();
      }),
    );
    const started = performance.now();
    publisher.resume();
    await done;
    return performance.now() - started;
  } finally {
    publisher.stop();
    await store.close();
    await connection.stop();
  }
}

/**
 * Runs both sides, the baseline first in even repetitions and xedge first in odd ones: a server slows down as it
 * accumulates nodes and items (Prosody's memory store most), and neither side should always get the older server.
 */
export async function inTurn(repetition: number, [baseline, xedge]: [() => Promise<unknown>, () => Promise<unknown>]): Promise<void> {
  for (const side of repetition % 2 === 0 ? [baseline, xedge] : [xedge, baseline]) await side();
}

/** Figure 2: items/s publishing PUBLISH_ITEMS readings of one sensor to one node. */
export async function publishFigure(server: XmppTestServer, repetitions: number, progress: (line: string) => void): Promise<Figure> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-publish-"));
  try {
    const samples = bme280Samples("p", 1, PUBLISH_ITEMS);
    const xedge: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      // Fresh nodes per run, so that no run overwrites items and the two sides see the same node state.
      await inTurn(i, [
        async () => baseline.push(perSecond(samples.length, await bareRun(server, work, `bench/bare${i}`, samples))),
        async () => xedge.push(perSecond(samples.length, await xedgeRun(server, work, `bench/xedge${i}`, samples))),
      ]);
      progress(`publish ${server.kind} ${i + 1}/${repetitions}: bare ${baseline.at(-1)?.toFixed(0)}, xedge ${xedge.at(-1)?.toFixed(0)} items/s`);
    }
    return figure(`publish throughput, ${PUBLISH_ITEMS} items, window ${WINDOW} (${server.kind})`, "items/s", { xedge, baseline }, { atLeast: 0.8 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Sensors d1…d20 as the agent's config names them, unplugged from the start so the outbox only drains. */
function unpluggedSensors(count: number): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `  - { id: d${i + 1}, driver: bme280, i2c: { bus: ${Math.floor(i / 2) + 1}, address: ${i % 2 ? "0x77" : "0x76"} }, interval: 1s, sim: { faults: [{ kind: unplug, at: 0s }] } }`,
  ).join("\n");
}

/**
 * The agent bundle started over a store holding the backlog: ms from its "online" log line to the commit that
 * left the outbox empty (MAX(published_at); polling every 100 ms only detects it). Acknowledgements are committed
 * with the agent's default 1 s commit interval, so the last ones wait for up to 1 s: that is part of the figure.
 */
async function agentDrainRun(server: XmppTestServer, nodePrefix: string, samples: Sample[]): Promise<{ ms: number; rows: number }> {
  const { file, dir } = writeAgentConfig(server, { user: GATEWAY.user, password: GATEWAY.password, sensors: unpluggedSensors(DRAIN_SENSORS), commitInterval: "1s" });
  writeFileSync(file, readFileSync(file, "utf8").replace("nodePrefix: xedge/gw1", `nodePrefix: ${nodePrefix}`).replace("level: debug", "level: info"));
  const dbPath = join(dir, "xedge.db");
  try {
    const filler = await Store.open(dbPath, { commitIntervalMs: 3_600_000 });
    for (const sample of samples) filler.append(sample);
    await filler.close();
    const agent = AgentProcess.start(file);
    let drained: { ms: number; rows: number };
    try {
      const online = Date.parse((await agent.waitForMessage("online", 30_000)).time);
      drained = await waitForEmptyOutbox(dbPath, online);
    } finally {
      await agent.stop();
    }
    const code = await agent.exited;
    if (code !== 0) throw new Error(`agent exited with ${code}: ${agent.stderr.slice(-10).join("\n")}`);
    return drained;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ms from `since` to the commit that emptied the outbox, and the rows the store holds then. */
async function waitForEmptyOutbox(dbPath: string, since: number): Promise<{ ms: number; rows: number }> {
  const db = await Database.open(dbPath, { readonly: true });
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const outbox = await db.get<{ unsent: number; rows: number; last: number | null }>(
        "SELECT SUM(published_at IS NULL) AS unsent, COUNT(*) AS rows, MAX(published_at) AS last FROM readings",
      );
      if (outbox?.unsent === 0 && outbox.last !== null) return { ms: outbox.last - since, rows: outbox.rows };
      if (Date.now() > deadline) throw new Error(`the outbox did not drain within 120 s (${outbox?.unsent} left)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await db.close();
  }
}

/** Figure 3: seconds to drain a 20 × 600 backlog (a 10-minute outage of 20 sensors at 1 Hz). */
export async function drainFigure(server: XmppTestServer, repetitions: number, progress: (line: string) => void): Promise<Figure> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-drain-"));
  try {
    const samples = bme280Samples("d", DRAIN_SENSORS, DRAIN_PER_SENSOR);
    const xedge: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      let extra = 0;
      await inTurn(i, [
        async () => baseline.push((await bareRun(server, work, `drain/bare${i}`, samples)) / 1000),
        async () => {
          const run = await agentDrainRun(server, `drain/xedge${i}`, samples);
          xedge.push(run.ms / 1000);
          extra = run.rows - samples.length;
        },
      ]);
      progress(`drain ${server.kind} ${i + 1}/${repetitions}: bare ${baseline.at(-1)?.toFixed(2)} s, xedge ${xedge.at(-1)?.toFixed(2)} s${extra ? ` (+${extra} live readings)` : ""}`);
    }
    return figure(`drain ${samples.length} readings, ${DRAIN_SENSORS} nodes (${server.kind})`, "s", { xedge, baseline }, { atMost: 1.5 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

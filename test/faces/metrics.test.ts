// The metrics endpoint of the bundled agent (sim hardware) against a real Prosody: scraped over HTTP and over a
// unix socket, the counts move as the agent works, and the text is read by a real OpenMetrics parser (the Python
// prometheus_client's, as Prometheus' own tooling reads it).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { freePort } from "../support/ports.ts";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { createClient, xml } from "../../agent/xmpp/client.ts";

const OPENMETRICS = "application/openmetrics-text; version=1.0.0";
const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }
  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 }, interval: 200ms, sim: { faults: [{ kind: eio }] } }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }`;

interface Scrape {
  status: number;
  contentType: string;
  text: string;
}

/** GET `path` from the endpoint at host:port or on a unix socket. */
function scrape(where: { port: number } | { socketPath: string }, path = "/metrics"): Promise<Scrape> {
  return new Promise((resolveScrape, reject) => {
    const target = "port" in where ? { host: "127.0.0.1", port: where.port } : { socketPath: where.socketPath };
    const req = request({ ...target, path, timeout: 5000 }, (response) => {
      let text = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolveScrape({ status: response.statusCode ?? 0, contentType: String(response.headers["content-type"]), text }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The value of the sample `name{labels}`; undefined when absent. */
function valueOf(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface ParsedFamily {
  name: string;
  type: string;
  /** As Python writes the float ("12.0", "inf", "nan"): JSON has no words for the last two. */
  samples: { name: string; labels: Record<string, string>; value: string }[];
}

/** Parses `text` with prometheus_client's OpenMetrics parser; rejects with the parser's complaint. */
function parseOpenMetrics(text: string): Promise<ParsedFamily[]> {
  const script = [
    "import json, sys",
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families",
    "families = text_string_to_metric_families(sys.stdin.read())",
    "print(json.dumps([{'name': f.name, 'type': f.type, 'samples': [{'name': s.name, 'labels': s.labels, 'value': str(s.value)} for s in f.samples]} for f in families]))",
  ].join("\n");
  return new Promise((resolveParse, reject) => {
    const child = spawn("/usr/bin/python3", ["-c", script], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolveParse(JSON.parse(stdout) as ParsedFamily[]) : reject(new Error(`the OpenMetrics parser refused the text:\n${stderr}`))));
    child.stdin.end(text);
  });
}

describe("metrics endpoint on prosody", () => {
  let server: XmppTestServer;
  let agent: AgentProcess;
  let port: number;

  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    port = await freePort();
    const { file } = writeAgentConfig(server, { devices: DEVICES, operators: [{ jid: "ops@localhost", role: "read" }] });
    appendFileSync(file, `metrics: { listen: "127.0.0.1:${port}" }\n`);
    agent = AgentProcess.start(file);
    await agent.waitForMessage("online", 30_000);
  });
  after(async () => {
    if (agent) assert.equal(await agent.stop(), 0);
    await server?.stop();
  });

  it("serves OpenMetrics text at /metrics, ending in # EOF, and nothing elsewhere", async () => {
    const { status, contentType, text } = await scrape({ port });
    assert.equal(status, 200);
    assert.ok(contentType.startsWith(OPENMETRICS), contentType);
    assert.match(text, /\n# EOF\n$/);
    assert.equal((await scrape({ port }, "/")).status, 404);
  });

  it("counts what the agent does: published readings grow per sensor, the link is up, failures counted", async () => {
    const first = (await scrape({ port })).text;
    const before = valueOf(first, "xedge_readings_published_total", 'sensor="boiler"') ?? 0;
    const later = await until("more readings published", async () => {
      const { text } = await scrape({ port });
      return (valueOf(text, "xedge_readings_published_total", 'sensor="boiler"') ?? 0) >= before + 3 ? text : undefined;
    });
    assert.equal(valueOf(later, "xedge_connected"), 1);
    assert.ok((valueOf(later, "xedge_readings_sampled_total", 'sensor="boiler"') ?? 0) >= (valueOf(later, "xedge_readings_committed_total", 'sensor="boiler"') ?? 0));
    assert.ok((valueOf(later, "xedge_readings_committed_total", 'sensor="boiler"') ?? 0) >= before + 3);
    assert.equal(valueOf(later, "xedge_readings_published_total", 'sensor="attic"'), 0);
    assert.ok((valueOf(later, "xedge_sensor_failures_total", 'sensor="attic"') ?? 0) >= 1);
    assert.equal(valueOf(later, "xedge_sensor_failing", 'sensor="attic"'), 1);
    assert.equal(valueOf(later, "xedge_sensor_failing", 'sensor="boiler"'), 0);
    assert.ok((valueOf(later, "xedge_publish_round_trip_seconds_count") ?? 0) >= before + 3);
    assert.equal(valueOf(later, "xedge_reconnects_total"), 0);
    assert.ok((valueOf(later, "process_resident_memory_bytes") ?? 0) > 10_000_000);
  });

  it("counts a readout an operator asked for, and a control request by its result", async () => {
    const readouts = valueOf((await scrape({ port })).text, "xedge_readouts_served_total") ?? 0;
    const client = createClient({ service: server.service, domain: server.domain, username: "ops", password: "ops-secret", resource: "probe", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    try {
      await client.request(xml("iq", { type: "get", to: "gw1@localhost/edge" }, xml("req", { xmlns: "urn:xmpp:iot:sensordata", seqnr: "1", momentary: "true" })), 10_000);
      await until("the readout counted", async () => {
        const served = valueOf((await scrape({ port })).text, "xedge_readouts_served_total") ?? 0;
        return served >= readouts + 1 ? served : undefined;
      });
      // A read-only operator may not set the relay: refused, audited, counted as forbidden.
      const set = xml("set", { xmlns: "urn:xmpp:iot:control" }, xml("node", { nodeId: "pump" }), xml("boolean", { name: "state", value: "true" }));
      await assert.rejects(client.request(xml("iq", { type: "set", to: "gw1@localhost/edge" }, set), 10_000));
      const text = (await scrape({ port })).text;
      assert.equal(valueOf(text, "xedge_control_requests_total", 'result="forbidden"'), 1);
      assert.equal(valueOf(text, "xedge_control_requests_total", 'result="ok"'), undefined, "no request succeeded");
    } finally {
      await client.entity.stop().catch(() => undefined);
    }
  });

  it("is read by a real OpenMetrics parser: every family typed, the xedge ones with their samples", async () => {
    const families = await parseOpenMetrics((await scrape({ port })).text);
    const byName = new Map(families.map((family) => [family.name, family]));
    // OpenMetrics names a counter's family without _total; its samples carry it.
    const expected: [name: string, type: string][] = [
      ["xedge_readings_sampled", "counter"],
      ["xedge_readings_committed", "counter"],
      ["xedge_readings_published", "counter"],
      ["xedge_readings_dropped", "counter"],
      ["xedge_sensor_failures", "counter"],
      ["xedge_sensor_failing", "gauge"],
      ["xedge_buffered_readings", "gauge"],
      ["xedge_connected", "gauge"],
      ["xedge_reconnects", "counter"],
      ["xedge_readouts_served", "counter"],
      ["xedge_control_requests", "counter"],
      ["xedge_publish_round_trip_seconds", "histogram"],
      ["process_resident_memory_bytes", "gauge"],
      ["nodejs_heap_size_used_bytes", "gauge"],
      ["nodejs_heap_size_total_bytes", "gauge"],
      ["nodejs_eventloop_lag_p99_seconds", "gauge"],
      ["nodejs_eventloop_lag_max_seconds", "gauge"],
    ];
    for (const [name, type] of expected) {
      assert.equal(byName.get(name)?.type, type, name);
    }
    const published = byName.get("xedge_readings_published")?.samples ?? [];
    assert.deepEqual(published.map((sample) => [sample.name, sample.labels.sensor]).sort(), [
      ["xedge_readings_published_total", "attic"],
      ["xedge_readings_published_total", "boiler"],
    ]);
    assert.ok(Number(published.find((sample) => sample.labels.sensor === "boiler")?.value) > 0);
  });
});

describe("metrics endpoint on a unix socket, agent offline", () => {
  let agent: AgentProcess;
  let socketPath: string;
  let configFile: string;

  before(async () => {
    // No server: the agent samples and buffers, and its link stays down.
    const port = await freePort();
    const nobody = { domain: "localhost" as const, service: `xmpp://127.0.0.1:${port}`, pubsubService: "pubsub.localhost", caFile: "" };
    const { file, dir } = writeAgentConfig(nobody, { devices: DEVICES, withoutCaFile: true });
    socketPath = join(dir, "metrics.sock");
    configFile = file;
    appendFileSync(file, `metrics: { listen: ${socketPath} }\n`);
    agent = AgentProcess.start(file);
    await agent.waitForMessage("metrics endpoint listening", 30_000);
  });
  after(async () => {
    if (agent) assert.equal(await agent.stop(), 0);
  });

  it("answers on the socket: link down, readings committed and buffered, none published", async () => {
    const text = await until("readings buffered", async () => {
      const { status, contentType, text } = await scrape({ socketPath });
      assert.equal(status, 200);
      assert.ok(contentType.startsWith(OPENMETRICS), contentType);
      return (valueOf(text, "xedge_readings_committed_total", 'sensor="boiler"') ?? 0) >= 2 ? text : undefined;
    });
    assert.equal(valueOf(text, "xedge_connected"), 0);
    assert.equal(valueOf(text, "xedge_readings_published_total", 'sensor="boiler"'), 0);
    // The outbox holds every committed reading (and those awaiting the next commit).
    assert.ok((valueOf(text, "xedge_buffered_readings") ?? 0) >= (valueOf(text, "xedge_readings_committed_total", 'sensor="boiler"') ?? 0));
    await parseOpenMetrics(text);
  });

  it("a reload gives a new sensor its series, and a changed listen address waits for a restart", async () => {
    const config = readFileSync(configFile, "utf8")
      .replace(`metrics: { listen: ${socketPath} }`, `metrics: { listen: ${socketPath}.new }`)
      .replace("sensors:\n", "sensors:\n  - { id: cellar, driver: bme280, i2c: { bus: 2, address: 0x76 }, interval: 200ms }\n");
    writeFileSync(configFile, config);
    const from = agent.logs.length;
    agent.child.kill("SIGHUP");
    const waiting = await agent.waitForMessage("config change waits for a restart", 10_000, from);
    assert.equal(waiting["change"], `metrics.listen: ${socketPath} → ${socketPath}.new`);
    await agent.waitForMessage("config reloaded", 10_000, from);
    const { text } = await scrape({ socketPath });
    assert.equal(valueOf(text, "xedge_readings_published_total", 'sensor="cellar"'), 0);
    assert.ok(valueOf(text, "xedge_readings_sampled_total", 'sensor="boiler"') !== undefined);
  });
});

// A fleet of simulated gateways in one Node process, against one test server: each gateway is a whole agent
// (`startAgent`) with its own account gwNNNN@localhost, its own SQLite store in its own folder, its own XMPP
// connection and its own pubsub nodes (xedge/gwNNNN/<sensor>), on firmware-sim I2C sensors only (serial sensors
// would cost a socat process each). Only the code is shared. Each config is a file in the gateway's folder.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../agent/config.ts";
import { createLogger, type Level } from "../../agent/log.ts";
import { startAgent, type Agent } from "../../agent/main.ts";
import type { Observer } from "./observer.ts";
import type { XmppTestServer } from "./servers.ts";

/** The sensors a gateway may have, in order: two I2C chips on bus 1. */
const SENSOR_KINDS = [
  { id: "climate", line: "driver: bme280, i2c: { bus: 1, address: 0x76 }" },
  { id: "cellar", line: "driver: sht3x, i2c: { bus: 1, address: 0x44 }" },
] as const;

export const MAX_SENSORS_PER_GATEWAY = SENSOR_KINDS.length;

export interface FleetOptions {
  server: XmppTestServer;
  /** Where the gateways connect, when not straight to `server` (e.g. a load balancer in front of a cluster). */
  service?: string;
  /** Their trust anchor, when not `server`'s CA (e.g. the CAs of every node behind a balancer, in one file). */
  caFile?: string;
  gateways: number;
  /** Index of the first gateway (default 0, gw0001): fleets on several servers of one cluster number on. */
  firstGateway?: number;
  /** 1 or 2 (a BME280, then an SHT3x). */
  sensorsPerGateway: number;
  /** Sampling interval of every sensor, as the config writes it ("2s"). */
  interval: string;
  /** Folder under which each gateway gets its own folder and store. */
  dir: string;
  /** Bare JIDs allowed to read (XEP-0323) every gateway. */
  readers?: string[];
  /** Bare JIDs that may fetch and push every gateway's config. */
  admins?: string[];
  /** Each gateway's remoteConfig.rollbackAfter, as the config writes it ("10s"); default the agent's. */
  rollbackAfter?: string;
  /**
   * Logins in flight at once (default 8). Each connection costs the one event loop every gateway shares a TLS
   * context (25–90 ms of CPU here) and the server a login; a thousand at once would run into the 30 s attempt
   * timeout and turn into a retry storm.
   */
  loginConcurrency?: number;
  /** Longest one gateway may take to come online. */
  onlineTimeoutMs?: number;
  /** Gateways' log level (default warn); each entry goes to `onLog` with the gateway's account. */
  logLevel?: Level;
  onLog?: (gateway: string, entry: LogEntry) => void;
  /** Called each time a gateway comes online: how many are online now. */
  onOnline?: (online: number) => void;
}

/** A gateway's log line: the agent's JSON log format. */
export interface LogEntry {
  time: string;
  level: Level;
  message: string;
  [field: string]: unknown;
}

export interface Gateway {
  readonly user: string;
  readonly jid: string;
  /** The full JID readouts go to. */
  readonly fullJid: string;
  readonly nodePrefix: string;
  readonly sensorIds: string[];
  readonly agent: Agent;
}

/** gw0001, gw0002, …: the account of gateway `index` (0-based). */
export function gatewayUser(index: number): string {
  return `gw${String(index + 1).padStart(4, "0")}`;
}

export function gatewayPassword(user: string): string {
  return `${user}-secret`;
}

/** The accounts of a fleet of `count` (from gateway index `first`), for startServer({ accounts }). */
export function fleetAccounts(count: number, first = 0): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, index) => gatewayUser(first + index)).map((user) => [user, gatewayPassword(user)]));
}

function gatewayConfigText(options: FleetOptions, user: string, dir: string): string {
  const { server } = options;
  const sensors = SENSOR_KINDS.slice(0, options.sensorsPerGateway).map((kind) => `  - { id: ${kind.id}, ${kind.line}, interval: ${options.interval} }`);
  const operators = [...(options.readers ?? []).map((jid) => ({ jid, role: "read" })), ...(options.admins ?? []).map((jid) => ({ jid, role: "admin" }))];
  return [
    "hardware: sim",
    "xmpp:",
    `  jid: ${user}@${server.domain}`,
    `  password: ${gatewayPassword(user)}`,
    `  service: "${options.service ?? server.service}"`,
    `  caFile: ${options.caFile ?? server.caFile}`,
    "pubsub:",
    `  service: ${server.pubsubService}`,
    `  nodePrefix: xedge/${user}`,
    "store:",
    `  path: ${join(dir, "xedge.db")}`,
    // The format stays JSON when a pushed config is reloaded: the fleet's log reader parses every line.
    `log: { level: ${options.logLevel ?? "warn"}, json: true }`,
    ...(options.rollbackAfter ? [`remoteConfig: { rollbackAfter: ${options.rollbackAfter} }`] : []),
    ...(operators.length > 0 ? ["operators:", ...operators.map(({ jid, role }) => `  - { jid: "${jid}", role: ${role} }`)] : []),
    "sensors:",
    ...sensors,
    "",
  ].join("\n");
}

export class Fleet {
  private publishedCount = 0;
  private readonly publishedPerNode = new Map<string, number>();
  /** Each gateway's latest warning or error, for saying why one did not come online. */
  private readonly lastTrouble = new Map<string, LogEntry>();
  private stopping: Promise<void> | undefined;

  private constructor(readonly gateways: Gateway[]) {}

  /** Starts every gateway, at most `loginConcurrency` logging in at once; resolves when all are online. */
  static async start(options: FleetOptions): Promise<Fleet> {
    if (!Number.isInteger(options.gateways) || options.gateways < 1) throw new Error(`gateways must be a positive integer, got ${options.gateways}`);
    if (!Number.isInteger(options.sensorsPerGateway) || options.sensorsPerGateway < 1 || options.sensorsPerGateway > MAX_SENSORS_PER_GATEWAY) {
      throw new Error(`sensorsPerGateway must be 1..${MAX_SENSORS_PER_GATEWAY}, got ${options.sensorsPerGateway}`);
    }
    const fleet = new Fleet([]);
    const concurrency = options.loginConcurrency ?? 8;
    const first = options.firstGateway ?? 0;
    let next = first;
    let online = 0;
    const bringUp = async (): Promise<void> => {
      while (next < first + options.gateways) {
        const index = next++;
        const gateway = await fleet.startGateway(options, index);
        await waitOnline(gateway, options.onlineTimeoutMs ?? 60_000, () => fleet.lastTrouble.get(gateway.user));
        options.onOnline?.(++online);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, options.gateways) }, bringUp));
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    fleet.gateways.sort((a, b) => a.user.localeCompare(b.user));
    return fleet;
  }

  private async startGateway(options: FleetOptions, index: number): Promise<Gateway> {
    const user = gatewayUser(index);
    const dir = join(options.dir, user);
    mkdirSync(dir, { recursive: true });
    // Written to a file, as on a gateway: a remote config push replaces it, and a rollback puts it back.
    const file = join(dir, "xedge.yaml");
    writeFileSync(file, gatewayConfigText(options, user, dir), { mode: 0o600 });
    const config = loadConfig(file, {});
    const onLog = options.onLog;
    const log = createLogger({
      level: options.logLevel ?? "warn",
      json: true,
      write: (line) => {
        const entry = JSON.parse(line) as LogEntry;
        if (entry.level === "warn" || entry.level === "error") this.lastTrouble.set(user, entry);
        onLog?.(user, entry);
      },
    });
    const agent = await startAgent(config, log);
    agent.publisher.on("published", (reading) => {
      this.publishedCount += 1;
      const node = `${config.pubsub.nodePrefix}/${reading.sensorId}`;
      this.publishedPerNode.set(node, (this.publishedPerNode.get(node) ?? 0) + 1);
    });
    const gateway: Gateway = {
      user,
      jid: config.xmpp.jid,
      fullJid: `${config.xmpp.jid}/${config.xmpp.resource}`,
      nodePrefix: config.pubsub.nodePrefix,
      sensorIds: config.sensors.map((sensor) => sensor.id),
      agent,
    };
    this.gateways.push(gateway);
    return gateway;
  }

  /** Readings the server has acknowledged (iq result of the publish), over the whole fleet, since the start. */
  get published(): number {
    return this.publishedCount;
  }

  /** The fewest readings the server has acknowledged on any one node of the fleet. */
  get leastPublishedPerNode(): number {
    const counts = this.gateways.flatMap((gateway) => gateway.sensorIds.map((sensorId) => this.publishedPerNode.get(`${gateway.nodePrefix}/${sensorId}`) ?? 0));
    return Math.min(...counts);
  }

  get online(): number {
    return this.gateways.filter((gateway) => gateway.agent.connection.isOnline).length;
  }

  /** Stops sampling everywhere and commits what was sampled: from now on every store's readings are final. */
  async stopSampling(): Promise<void> {
    await Promise.all(this.gateways.map(async ({ agent }) => {
      await agent.sampler.stop();
      await agent.store.flush();
    }));
  }

  /** Resolves once no gateway has an unsent reading left; rejects after `timeoutMs` naming those that do. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = this.gateways.filter(({ agent }) => agent.store.buffered > 0);
      if (behind.length === 0) return;
      if (Date.now() > deadline) {
        const sample = behind.slice(0, 5).map((gateway) => `${gateway.user}: ${gateway.agent.store.buffered}`).join(", ");
        throw new Error(`${behind.length} gateways still have unsent readings after ${timeoutMs} ms (${sample})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Stops every gateway (sampling, store, link). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.gateways.map((gateway) => gateway.agent.stop())).then(() => undefined);
    return this.stopping;
  }
}

function waitOnline(gateway: Gateway, timeoutMs: number, lastTrouble: () => LogEntry | undefined): Promise<void> {
  const { connection } = gateway.agent;
  if (connection.isOnline) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off("online", onOnline);
      const trouble = lastTrouble();
      reject(new Error(`${gateway.user} not online after ${timeoutMs} ms${trouble ? `; its last warning: ${JSON.stringify(trouble)}` : ""}`));
    }, timeoutMs);
    const onOnline = (): void => {
      clearTimeout(timer);
      resolve();
    };
    connection.once("online", onOnline);
  });
}

/** What one node held compared with the store's committed readings of its sensor. */
export interface NodeCheck {
  gateway: string;
  node: string;
  /** The store's last sequence number: items 1..committed must be on the node. */
  committed: number;
  items: number;
  missing: number[];
  duplicated: number[];
  /** Item ids the store never committed, or whose payload is not the committed reading. */
  wrong: string[];
}

/**
 * Compares every node of every gateway with its store, as an operator reading the items through the server:
 * the node must hold items 1..lastSeq, each once, each the committed reading (its timestamp). Call after
 * stopSampling() and drained(). `concurrency` item queries are in flight at once.
 */
export async function checkNodes(fleet: Fleet, reader: Observer, pubsubService: string, concurrency = 16): Promise<NodeCheck[]> {
  const work = fleet.gateways.flatMap((gateway) => gateway.sensorIds.map((sensorId) => ({ gateway, sensorId })));
  const checks: NodeCheck[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) {
      const { gateway, sensorId } = work[next++]!;
      const node = `${gateway.nodePrefix}/${sensorId}`;
      const committed = new Map((await gateway.agent.store.history(sensorId)).map((reading) => [reading.seq, reading.timestamp.toISOString()]));
      const items = await reader.items(pubsubService, node);
      const lastSeq = Math.max(0, ...committed.keys());
      const seen = new Map<number, number>();
      const wrong: string[] = [];
      for (const item of items) {
        const seq = Number(item.id);
        seen.set(seq, (seen.get(seq) ?? 0) + 1);
        const reading = item.payload?.getChild("node");
        const stamp: unknown = reading?.getChild("timestamp")?.attrs.value;
        if (reading?.attrs.nodeId !== sensorId || typeof stamp !== "string" || committed.get(seq) !== stamp) wrong.push(item.id);
      }
      checks.push({
        gateway: gateway.user,
        node,
        committed: lastSeq,
        items: items.length,
        missing: range(1, lastSeq).filter((seq) => !seen.has(seq)),
        duplicated: [...seen].filter(([, count]) => count > 1).map(([seq]) => seq),
        wrong,
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return checks.sort((a, b) => a.node.localeCompare(b.node));
}

/** The checks that found a problem. */
export function nodeProblems(checks: NodeCheck[]): NodeCheck[] {
  return checks.filter((check) => check.committed === 0 || check.missing.length > 0 || check.duplicated.length > 0 || check.wrong.length > 0);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

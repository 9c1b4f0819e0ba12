// The simulated gateway the operator-facing tests talk to: a private server with accounts for the agent (gw1), a
// control operator (ops), a read operator (viewer) and a stranger (mallory), and the bundled agent running
// examples/sim-sensors.yaml (sensors, and the actuator `pump`) for the two operators. Every account's password
// is "<user>-secret".
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { AgentProcess, runCli, writeAgentConfig } from "./agent.ts";
import { startServer, type ServerKind, type XmppTestServer } from "./servers.ts";

/** The agent's full JID, where operators send their requests. */
export const AGENT_JID = "gw1@localhost/edge";
const SIM_GATEWAY = readFileSync(resolve(import.meta.dirname, "../../examples/sim-sensors.yaml"), "utf8").replace(/^#.*\n/gm, "");
const SENSOR_IDS = (parse(SIM_GATEWAY) as { sensors: { id: string }[] }).sensors.map((sensor) => sensor.id);
const POLL_MS = 250;

export interface SimGateway {
  server: XmppTestServer;
  agent: AgentProcess;
  /** The agent's config file. */
  configFile: string;
  /** The agent's folder, with the config and the store (xedge.db). */
  dir: string;
  /** Stops the agent, then the server; resolves with the agent's exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the server and the agent, and resolves once the agent is online. `devices` replaces the example's
 * sensors and actuators (YAML `sensors:` / `actuators:` sections); `fileUpload` gives the server its XEP-0363
 * upload service.
 */
export async function startSimGateway(kind: ServerKind, { devices = SIM_GATEWAY, fileUpload = false }: { devices?: string; fileUpload?: boolean } = {}): Promise<SimGateway> {
  const server = await startServer(kind, {
    accounts: { gw1: "gw1-secret", ops: "ops-secret", viewer: "viewer-secret", mallory: "mallory-secret" },
    pubsubAdmins: ["gw1@localhost"],
    fileUpload,
  });
  let agent: AgentProcess | undefined;
  try {
    const config = writeAgentConfig(server, {
      devices,
      operators: [
        { jid: "ops@localhost", role: "control" },
        { jid: "viewer@localhost", role: "read" },
      ],
    });
    agent = AgentProcess.start(config.file);
    await agent.waitForMessage("online", 30_000);
    const started = agent;
    return {
      server,
      agent,
      configFile: config.file,
      dir: config.dir,
      stop: async () => {
        const code = await started.stop();
        await server.stop();
        return code;
      },
    };
  } catch (error) {
    await agent?.stop();
    await server.stop();
    throw error;
  }
}

/** Resolves once every sensor of the gateway has a reading in the store, as `xedge status --json` tells it. */
export async function waitForFirstReadings(gateway: SimGateway, timeoutMs = 30_000): Promise<void> {
  const args = ["status", "--json", "--config", gateway.configFile];
  const deadline = Date.now() + timeoutMs;
  let missing = SENSOR_IDS;
  while (Date.now() < deadline) {
    const result = await runCli(args);
    if (result.code !== 0) throw new Error(`xedge status failed (${result.code}): ${result.stderr}`);
    const { sensors } = JSON.parse(result.stdout) as { sensors: { sensorId: string; lastSeq: number }[] };
    const sampled = new Set(sensors.filter((sensor) => sensor.lastSeq > 0).map((sensor) => sensor.sensorId));
    missing = SENSOR_IDS.filter((id) => !sampled.has(id));
    if (missing.length === 0) return;
    await sleep(POLL_MS);
  }
  throw new Error(`no reading within ${timeoutMs} ms from: ${missing.join(", ")}`);
}

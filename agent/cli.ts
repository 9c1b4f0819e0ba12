// The `xedge` command: run, check, status (README.md, Running it). Exit codes: 0 ok, 1 runtime failure, 2 bad
// usage or bad config.
import { Command, CommanderError } from "commander";
import { ConfigError, loadConfig, type AgentConfig } from "./config.ts";
import { createLogger, errorText, type AgentLogger } from "./log.ts";
import { connectionOptions, startAgent, type Agent } from "./main.ts";
import { checkDevices, checkExitCode, checkStore, configLine, formatCheckLine, type CheckLine } from "./check.ts";
import { hardwareBackends } from "./hardware.ts";
import { checkServer } from "./xmpp/server-check.ts";
import { connectSystemd, type SystemdNotifier } from "./sd-notify.ts";
import { openForStatus, type StoreStatus } from "./store.ts";
import { agentReportSchema, statusLine, storedHealth, type AgentReport, type HealthFacts } from "./health.ts";
import { NoAnswer, queryStatus } from "./status-endpoint.ts";
import { version } from "./version.ts";
import { formatFieldValue } from "../lib/model.ts";
import { age, span } from "../lib/text.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;
/** How often systemd's status line may change: `systemctl status` is read by people, not polled by machines. */
const STATUS_LINE_EVERY_MS = 5_000;

function load(file: string): AgentConfig {
  try {
    return loadConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`${problem}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

async function run(file: string): Promise<void> {
  const config = load(file);
  const log = createLogger(config.log);
  const systemd = await connectSystemd({ onError: (message) => log.warn(message) });
  let agent: Agent | undefined;
  // A stop asked for while the store waits for space (the agent is not started yet) ends the wait.
  const beforeStart = new AbortController();
  let report: (() => AgentReport) | undefined;
  const stop = (running: Agent) =>
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error: errorText(error) });
        process.exit(EXIT_RUNTIME);
      },
    );
  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    systemd.stopping();
    if (agent) void stop(agent);
    else beforeStart.abort();
  };
  let shown = "";
  setInterval(() => {
    if (!report) return;
    const line = statusLine(report());
    if (line !== shown) systemd.status(line);
    shown = line;
  }, STATUS_LINE_EVERY_MS).unref();
  // Installed before any READY=1, which lets `systemctl reload` send SIGHUP: its default action ends the process.
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGHUP", () => {
    if (agent) void reload(agent, log, file, systemd);
    else log.warn("config reload ignored: the agent has not started yet (waiting for its store to open?); it reads the config file when it starts", { file });
  });
  try {
    agent = await startAgent(config, log, {
      signal: beforeStart.signal,
      // The agent is up and says why it waits: READY=1, or systemd's start timeout would kill it (and a killed
      // start is restarted every 5 s, saying nothing); its watchdog guards the event loop meanwhile.
      onStoreWaiting: (waiting) => {
        report = waiting;
        systemd.ready(statusLine(waiting()));
      },
    });
  } catch (error) {
    if (!beforeStart.signal.aborted) throw error;
    log.info("agent stopped before its store opened");
    process.exit(0);
  }
  const started = agent;
  report = () => started.report();
  // A stop asked for after the store opened, while the rest started.
  if (beforeStart.signal.aborted) {
    void stop(started);
    return;
  }
  // Ready once the store is open and sampling runs; the XMPP link comes up (or not) on its own.
  systemd.ready(`sampling ${config.sensors.length} sensors`);
}

/** SIGHUP: reads the config file again. A bad one is refused with its problems and the running config stays. */
async function reload(agent: Agent, log: AgentLogger, file: string, systemd: SystemdNotifier): Promise<void> {
  // `systemctl reload` waits from RELOADING=1 until READY=1, whatever the outcome.
  systemd.reloading();
  try {
    const outcome = await agent.reloadFile();
    if (!outcome.ok) {
      for (const problem of outcome.problems) log.error(`config reload refused: ${problem}`);
      log.error("config reload refused; the running config stays", { file, problems: outcome.problems.length });
      return;
    }
    for (const change of outcome.needsRestart) log.warn("config change waits for a restart", { change });
    log.info("config reloaded", { file, changes: outcome.applied.join("; ") || "none" });
  } catch (error) {
    log.error("config reload failed", { file, error: errorText(error) });
  } finally {
    systemd.ready(`sampling ${agent.sampler.states.length} sensors`);
  }
}

/**
 * The test mode: validates the config (a bad one exits 2 with its problems), opens and reads every sensor once,
 * lists the actuators with their safe state, checks the store (read-only, never recovered here), and unless
 * offline logs in and probes each pubsub node. One line per item on stdout, marked ✓ or ✗; exit 0 when all
 * pass, 1 when any fails.
 */
async function check(file: string, offline: boolean): Promise<void> {
  const config = load(file);
  const print = (lines: CheckLine[]) => lines.forEach((line) => process.stdout.write(`${formatCheckLine(line)}\n`));
  const lines = [configLine(file, config)];
  print(lines);
  const log = createLogger({ level: "warn", json: false });
  try {
    const hardware = await hardwareBackends[config.hardware].open(config, log);
    try {
      lines.push(...(await checkDevices(config, hardware, { sensors: sensorDrivers, actuators: actuatorDrivers })));
    } finally {
      await hardware.close();
    }
  } catch (error) {
    lines.push({ ok: false, item: "hardware", detail: `${config.hardware}: ${errorText(error)}` });
  }
  lines.push(await checkStore(config.store.path));
  print(lines.slice(1));
  if (!offline) {
    const server = await checkServer({
      client: connectionOptions(config.xmpp),
      pubsub: { ...config.pubsub, gatewayJid: config.xmpp.jid },
      sensorIds: config.sensors.map((sensor) => sensor.id),
    });
    print(server);
    lines.push(...server);
  }
  process.exit(checkExitCode(lines));
}

/** The running agent's answer on its status socket, or why there is none. */
type Live = { running: true; report: AgentReport } | { running: false; reason: string };

async function askAgent(socket: string): Promise<Live> {
  try {
    const parsed = agentReportSchema.safeParse(await queryStatus(socket, 3_000));
    return parsed.success ? { running: true, report: parsed.data } : { running: false, reason: "its answer was not a status report" };
  } catch (error) {
    if (error instanceof NoAnswer) return { running: false, reason: error.message };
    throw error;
  }
}

/**
 * The health model: the running agent's (with its link) when it answers, else what the store recorded; the store
 * adds what only it knows (the oldest unsent reading, each sensor's last values).
 */
function renderStatus(status: StoreStatus, live: Live, socket: string, now: Date): string {
  const stamp = (date: Date) => `${date.toISOString()} (${age(date, now)})`;
  const health: HealthFacts = live.running ? live.report : storedHealth(status);
  const lines = live.running
    ? [
        `agent:             running (pid ${live.report.pid}, xedge ${live.report.version}), up ${span(now.getTime() - live.report.startedAt.getTime())}`,
        `link:              ${live.report.online ? "online" : "offline"} since ${stamp(live.report.linkSince)}`,
        `health:            ${live.report.health.text}`,
        `alerts:            ${live.report.alerts.length === 0 ? "none active" : `${live.report.alerts.length} active`}`,
        ...live.report.alerts.map((line) => `  ${line}`),
      ]
    : [`agent:             not running (${socket}: ${live.reason}); below is what the store recorded`];
  lines.push(
    `buffered readings: ${health.buffered}`,
    `oldest unsent:     ${status.oldestUnsent ? stamp(status.oldestUnsent) : "none"}`,
    `dropped:           ${health.dropped}`,
    // A store that cannot open (the agent waits for space) names itself; one that cannot commit says how it stands.
    ...(live.running && live.report.storeFault
      ? [`${live.report.storeFault.startsWith("store cannot open") ? "" : "store cannot commit: "}${live.report.storeFault} (the journal says why and what to do)`]
      : []),
    ...(live.running && live.report.clockUnsynced ? [`clock:             ${live.report.clockUnsynced} (readings taken meanwhile are marked, and corrected once it is)`] : []),
    ...(status.unsyncedTimestamps ? [`unsure timestamps: ${status.unsyncedTimestamps} readings taken before the clock was synchronized, not corrected (marked on the wire)`] : []),
    ...(status.lostUnwritable ? [`lost, not committed: ${status.lostUnwritable} (held in memory while the store could not commit, past the bound)`] : []),
    `set aside:         ${health.setAside ?? 0}${status.lastSetAside ? ` (refused by the pubsub service for good; newest: ${status.lastSetAside.sensorId} #${status.lastSetAside.seq} at ${stamp(status.lastSetAside.at)}: ${status.lastSetAside.reason})` : ""}`,
    `last publish:      ${health.lastPublished ? stamp(health.lastPublished) : "never"}`,
  );
  const recovery = status.lastRecovery;
  if (recovery) {
    lines.push(
      `store recovered:   ${stamp(recovery.at)}, damaged (${recovery.reason}); kept as ${recovery.keptAs}`,
      `                   ${recovery.readings} readings recovered (${recovery.unpublished} unpublished); unreadable row ids: ${recovery.unreadable}; item ids ${recovery.sequencesProvenAt ? `checked against the nodes ${stamp(recovery.sequencesProvenAt)}` : "not yet checked against the nodes: publishing waits for that"}`,
    );
  }
  lines.push("sensors:");
  for (const stored of status.sensors) {
    const last = stored.lastReading;
    const values = last ? last.fields.map((f) => `${f.name} ${formatFieldValue(f)}${"unit" in f && f.unit ? ` ${f.unit}` : ""}`).join(", ") : "no reading";
    lines.push(`  ${stored.sensorId}  #${stored.lastSeq}  ${values}${last ? `  (${age(last.timestamp, now)})` : ""}`);
    const sensor = health.sensors.find((known) => known.id === stored.sensorId);
    if (sensor?.error !== undefined) lines.push(`    FAILING since ${sensor.failingSince?.toISOString() ?? "?"}: ${sensor.error}`);
    if (stored.setAside) lines.push(`    ${stored.setAside} set aside (refused by the pubsub service; kept in the store)`);
  }
  return `${lines.join("\n")}\n`;
}

/** The running agent's report alone, when the store cannot be read. */
function renderWithoutStore(report: AgentReport, storeError: string, now: Date): string {
  return [
    `agent:             running (pid ${report.pid}, xedge ${report.version}), up ${span(now.getTime() - report.startedAt.getTime())}`,
    `link:              ${report.online ? "online" : "offline"} since ${report.linkSince.toISOString()} (${age(report.linkSince, now)})`,
    `health:            ${report.health.text}`,
    `store:             ${storeError}`,
    ...(report.storeFault ? [`                   ${report.storeFault} (the journal says why and what to do)`] : []),
    "",
  ].join("\n");
}

async function status(file: string, json: boolean): Promise<void> {
  const config = load(file);
  let opened;
  try {
    opened = await openForStatus(config.store.path);
  } catch (error) {
    // A store on a full disk does not open even to read (SQLite needs room for its -shm): the agent, waiting for
    // space, still says why.
    const storeError = `cannot open ${config.store.path}: ${errorText(error)}`;
    const live = await askAgent(config.status.socket);
    if (!live.running) {
      process.stderr.write(`store.path: ${storeError}\n`);
      process.exit(EXIT_RUNTIME);
    }
    process.stdout.write(json ? `${JSON.stringify({ storeError, agent: { running: true, ...live.report } }, null, 2)}\n` : renderWithoutStore(live.report, storeError, new Date()));
    return;
  }
  await opened.close();
  const live = await askAgent(config.status.socket);
  const agent = live.running ? { running: true, ...live.report } : { running: false, reason: live.reason };
  process.stdout.write(json ? `${JSON.stringify({ ...opened.status, agent }, null, 2)}\n` : renderStatus(opened.status, live, config.status.socket, new Date()));
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("xedge")
    .description("IoT edge agent: reads sensors and publishes every reading to XMPP pubsub")
    .version(version, "-V, --version", "print the version and exit")
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  program.command("run").description("run the agent in the foreground").requiredOption("-c, --config <file>", "config file").action((o: { config: string }) => run(o.config));
  program
    .command("check")
    .description("test mode: validate the config, read every sensor once, list the actuators' safe states, log in and check each pubsub node")
    .requiredOption("-c, --config <file>", "config file")
    .option("--offline", "skip the server: no login, no pubsub nodes")
    .action((o: { config: string; offline?: boolean }) => check(o.config, o.offline === true));
  program
    .command("status")
    .description("whether the agent runs and is online, buffered readings, last publish and each sensor's last value")
    .requiredOption("-c, --config <file>", "config file")
    .option("--json", "machine-readable output")
    .action((o: { config: string; json?: boolean }) => status(o.config, o.json === true));
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    process.stderr.write(`xedge: ${errorText(error)}\n`);
    process.exit(EXIT_RUNTIME);
  }
}

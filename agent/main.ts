// Composes the agent: store, hardware, sampler, XMPP link, publisher. Start and stop in one place.
import { basename } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ConfigError, changesConnection, loadConfig, type AgentConfig } from "./config.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";
import { hardwareBackends, type OpenHal } from "./hardware.ts";
import { Actuators } from "./actuators.ts";
import { Authz, bareJid } from "./authz.ts";
import { TimedActions } from "./timed-actions.ts";
import { heldBound, type Store, type StoreFault, type StoreFaultEnd, type StoreLimits, type StoreOptions } from "./store.ts";
import { HeldBeforeOpen } from "./held-before-open.ts";
import { openStoreWhenSpace, type StoreOpenWait } from "./store-open.ts";
import { ClockWatch, TIMESYNCD_SYNCHRONIZED, type ClockJump } from "./clock-watch.ts";
import { span } from "../lib/text.ts";
import { describeCause } from "./write-faults.ts";
import { OneAtATime } from "../lib/one-at-a-time.ts";
import { Sampler } from "./sampler.ts";
import { AlertEngine } from "./alerts.ts";
import { AlertDelivery, alertText } from "./operator/alert-delivery.ts";
import { Watches } from "./operator/watches.ts";
import { alertSender, registerAlertMessages } from "./xmpp/alert-messages.ts";
import { EventSubscriptions } from "./subscriptions.ts";
import { Publisher } from "./publisher.ts";
import { XmppConnection, type ConnectionOptions } from "./xmpp/connection.ts";
import { PubsubSink } from "./xmpp/pubsub.ts";
import { registerPresence } from "./xmpp/presence.ts";
import { registerSoftwareVersion } from "./xmpp/version.ts";
import { Control, type AuditEntry } from "./control.ts";
import { registerControl } from "./xmpp/control.ts";
import { registerNfControl } from "./xmpp/nf-control.ts";
import { Readout } from "./readout.ts";
import { registerSensorData } from "./xmpp/sensordata.ts";
import { registerNfSensorData } from "./xmpp/nf-sensordata.ts";
import { registerNfEvents } from "./xmpp/nf-events.ts";
import { OperatorDesk } from "./operator/desk.ts";
import { HealthMonitor, reportOf, snapshotOf, type AgentReport, type HealthSources, type LinkState } from "./health.ts";
import { StatusEndpoint } from "./status-endpoint.ts";
import { AgentMetrics, describeListen } from "./metrics.ts";
import { MetricsEndpoint } from "./metrics-endpoint.ts";
import { version } from "./version.ts";
import type { Face } from "./xmpp/face.ts";
import { registerChat } from "./xmpp/chat.ts";
import { registerAdhoc } from "./xmpp/adhoc.ts";
import { registerSensorNodes } from "./xmpp/sensor-nodes.ts";
import { HttpUpload } from "./xmpp/upload.ts";
import { RemoteConfig, type FileReload } from "./remote-config.ts";
import { xml } from "./xmpp/client.ts";
import { errorText, type AgentLogger, type Logger } from "./log.ts";

export interface Agent {
  readonly config: AgentConfig;
  readonly store: Store;
  readonly sampler: Sampler;
  readonly actuators: Actuators;
  readonly publisher: Publisher;
  readonly connection: XmppConnection;
  /** The alert rules' states (config rules and chat watches); each event is logged and delivered to its subscribers. */
  readonly alerts: AlertEngine;
  /** What `xedge status` and systemd's status line show: the health, the link and since when. */
  report(): AgentReport;
  /**
   * Applies a new config without a restart and without touching buffered readings: sensors and actuators that
   * were added, removed or changed; operators, store bounds, connection and node settings. What only a restart
   * can change (hardware, store.path) is kept as it was and named in `needsRestart`.
   */
  reload(next: AgentConfig): Promise<ReloadOutcome>;
  /** What SIGHUP does: reads the config file again and reloads it; a bad file is refused and changes nothing. */
  reloadFile: FileReload;
  /** Stops sampling, puts actuators in their safe state, finishes store writes, closes the store, goes offline. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Ends a wait for the store (a stop asked for before the agent started): startAgent then rejects. */
  signal?: AbortSignal;
  /** The store cannot open (disk full) and the agent waits for space: told once, with what it reports meanwhile. */
  onStoreWaiting?: (report: () => AgentReport) => void;
}

export interface ReloadOutcome {
  /** One line per change applied, e.g. "sensors added: cellar". Empty when the config did not change. */
  applied: string[];
  /** One line per change that waits for a restart, naming its config path. */
  needsRestart: string[];
}

/** The hardware backend the config names (hardware.ts), opened for the devices it configures. */
function openHal(config: AgentConfig, log: Logger): Promise<OpenHal> {
  return hardwareBackends[config.hardware].open(config, log);
}

/** Says loudly what the store found at start: a damaged file kept aside, what was recovered and what was not. */
function reportStoreFaults(store: Store, log: Logger): void {
  const stray = store.strayWalKept;
  if (stray) log.warn("store: a WAL file SQLite could not use (not a WAL, or torn) was moved aside; it held nothing SQLite could read", { keptAs: stray.keptAs });
  const recovery = store.recovery;
  if (!recovery) {
    if (store.sequencesUnproven) log.warn("store: the item ids of an earlier recovery are not yet checked against the nodes; publishing waits for that at the next connection");
    return;
  }
  log.error("store damaged at start: kept aside, a fresh store holds what could be read", {
    reason: recovery.reason,
    keptAs: recovery.keptAs,
    recovered: recovery.readings,
    unpublished: recovery.unpublished,
    unreadableIds: recovery.unreadable,
    itemIds: "publishing waits until each node's highest item id is known",
  });
}

/**
 * Asks each sensor's node for its highest item id and moves the sequence past it (renumbering what was sampled
 * since the recovery), then records that the store's numbers are proven. Sensors of the store no longer
 * configured are asked too: their readings still drain from the outbox.
 */
async function proveSequences(store: Store, sink: PubsubSink, configured: readonly string[], log: Logger): Promise<void> {
  for (const sensorId of new Set([...configured, ...store.sensorIds])) {
    const highest = await sink.highestItemId(sensorId);
    const moved = await store.continueAfter(sensorId, highest);
    if (moved > 0) log.warn("store recovered: the node holds higher item ids than the store could prove; readings sampled since are renumbered after them", { sensor: sensorId, highestItemId: highest, movedBy: moved });
  }
  await store.sequencesProven();
  log.info("store recovered: every sensor's sequence continues after its node's highest item id");
}

/**
 * The store's commit faults in the log: one error line when commits start failing (why, the mount, the fix), one
 * warning when the bound on held readings is first reached, one line when commits succeed again (what was held,
 * what was lost). Held readings the bound drops are counted in the metrics.
 */
function commitFaultReports(log: Logger, lost: (bySensor: ReadonlyMap<string, number>) => void) {
  let boundReached = false;
  const facts = (fault: StoreFault) => ({ cause: fault.cause, mount: fault.mount, since: fault.since.toISOString(), error: fault.error });
  return {
    onCommitFailing: (fault: StoreFault) => {
      boundReached = false;
      log.error(`store cannot commit (${describeCause(fault)}): new readings are held in memory`, { ...facts(fault), maxHeld: fault.maxHeld, fix: fault.fix });
    },
    onHeldLost: (bySensor: ReadonlyMap<string, number>) => {
      lost(bySensor);
      if (boundReached) return;
      boundReached = true;
      log.warn("store cannot commit: readings held in memory reached their bound; the oldest are dropped and counted");
    },
    onCommitRecovered: ({ fault, committed, lostBySensor }: StoreFaultEnd) => {
      log.info("store commits again: the readings held in memory are committed", {
        ...facts(fault),
        committed,
        lost: fault.lost,
        ...(fault.lost > 0 ? { lostBySensor: [...lostBySensor].map(([sensor, n]) => `${sensor}=${n}`).join(",") } : {}),
      });
    },
  };
}

/** The sampler while the store cannot open, what holds its readings until it does, and the clock they are read on. */
interface SamplingBeforeOpen {
  sampler: Sampler;
  held: HeldBeforeOpen;
  clock: ClockWatch;
}

/**
 * Opens the store; on a full disk the agent waits for space instead of exiting (agent/store-open.ts), and says why
 * meanwhile: one error line with the mount and the fix, presence `dnd` with the reason to the operators, the same
 * on the status socket, and to systemd through `start.onStoreWaiting`. The sensors are sampled from the start of
 * the wait: their readings are held in memory (agent/held-before-open.ts) within the bound of readings the store
 * cannot commit, and numbered once they go to the store (a number comes from the store, whose last numbers are
 * unknown until it opens: numbers given blind could repeat item ids already on the nodes). The health counts them
 * (`buffer N`) and the sensors' failures. Operators are answered from what is in memory (showStoreWait); what
 * lives in the store (history, watches, timed sets, remote configuration, the audit trail) waits for it. The
 * actuators stay closed, as they were before the agent started.
 */
async function openStoreOrWait(config: AgentConfig, options: StoreOptions, sampling: SamplingBeforeOpen, log: Logger, start: StartOptions): Promise<Store> {
  let shown: { stop: () => Promise<void> } | undefined;
  try {
    return await openStoreWhenSpace(config.store.path, options, {
      ...(start.signal ? { signal: start.signal } : {}),
      onWaiting: async (wait) => {
        log.error(`store cannot open (${describeCause(wait)}): the agent waits for space and starts once the store opens`, {
          cause: wait.cause,
          mount: wait.mount,
          error: wait.error,
          fix: wait.fix,
        });
        sampling.sampler.start();
        shown = await showStoreWait(config, wait, sampling, log, start);
      },
      onOpened: (wait) => log.info("store opened: there is space again; the agent starts", { mount: wait.mount, waitedMs: Date.now() - wait.since.getTime() }),
    });
  } finally {
    await shown?.stop();
  }
}

/**
 * What the agent shows while its store cannot open: a link of its own with presence `dnd` and the reason with the
 * readings held meanwhile, and the status socket. Operators are answered from memory: readouts (both sensor-data
 * dialects) give the sensors' latest samples, and each request for history a failure with the reason; chat and
 * ad-hoc commands answer what needs no store (status, read) and say why the rest waits. The actuators stay closed:
 * a control request is refused with the reason, and its audit entry is held for the store. Everything here ends
 * before the normal start builds its own.
 */
async function showStoreWait(config: AgentConfig, wait: StoreOpenWait, { sampler, held, clock }: SamplingBeforeOpen, log: Logger, start: StartOptions): Promise<{ stop: () => Promise<void> }> {
  const reason = `store cannot open: ${describeCause(wait)}`;
  const connection = new XmppConnection(connectionOptions(config.xmpp), log);
  const link: LinkState = { online: false, since: new Date() };
  connection.on("online", () => Object.assign(link, { online: true, since: new Date() }));
  connection.on("offline", () => Object.assign(link, { online: false, since: new Date() }));
  const health: HealthSources = {
    sensors: () => sampler.states,
    buffered: () => held.held,
    dropped: () => 0,
    lastPublished: () => undefined,
    online: () => connection.isOnline,
    startedAt: wait.since,
    storeFault: () => `${reason}: ${held.held} readings held in memory${held.lost > 0 ? `, ${held.lost} lost` : ""}`,
  };
  const authz = new Authz(config.operators);
  const closed = config.actuators.map((actuator) => ({ id: actuator.id, driver: actuator.driver, error: `${reason}; the actuators open once it does` }));
  const actuators = { all: closed, get: (id: string) => closed.find((entry) => entry.id === id) };
  const history = () => Promise.reject(new Error(`${reason}; history is answered once it opens`));
  const readout = new Readout({ sampler, actuators, store: { history }, clock });
  const sensorIds = () => sampler.states.map((state) => state.id);
  const control = new Control({ actuators, authz, sensorIds, audit: (entry) => held.holdAudit(entry), log });
  const desk = new OperatorDesk({ authz, readout, control, health, storeWait: reason });
  const faces: Face[] = [registerPresence(connection, { desk, health, log }), ...requestFaces(connection, { desk, log })];
  const monitor = new HealthMonitor(health, undefined);
  const report = () => reportOf(snapshotOf(health), link, monitor.current(), { pid: process.pid, version });
  const endpoint = await StatusEndpoint.open(config.status.socket, report, log);
  connection.start();
  start.onStoreWaiting?.(report);
  return {
    stop: async () => {
      for (const face of faces) face.stop();
      await endpoint?.close();
      await connection.stop();
    },
  };
}

/**
 * The faces that answer operators' requests through the desk alone: the running agent's, and the same while it
 * waits for its store (where the desk says what waits for it). A face that needs more than the desk is added
 * beside this list.
 */
function requestFaces(connection: XmppConnection, deps: { desk: OperatorDesk; log: Logger; upload?: HttpUpload }): Face[] {
  return [
    registerSoftwareVersion(connection, deps),
    registerSensorData(connection, deps),
    registerNfSensorData(connection, deps),
    registerControl(connection, deps),
    registerNfControl(connection, deps),
    registerChat(connection, deps),
    registerAdhoc(connection, deps),
  ];
}

export function connectionOptions(xmpp: AgentConfig["xmpp"]): ConnectionOptions {
  const [username = ""] = xmpp.jid.split("@");
  return {
    service: xmpp.service,
    domain: xmpp.domain,
    username,
    password: xmpp.password,
    resource: xmpp.resource,
    caFile: xmpp.caFile,
    pingIntervalMs: xmpp.pingIntervalMs,
    pingTimeoutMs: xmpp.pingTimeoutMs,
    reconnect: xmpp.reconnect,
  };
}

/** A step of the wall clock beyond this is a jump (NTP slews smaller errors at most 0.5 ms a second). */
const CLOCK_JUMP_THRESHOLD_MS = 1_000;

/** One line per jump: its size and direction, and whether timestamps taken before it are known to be wrong. */
function reportClockJump(jump: ClockJump, log: Logger): void {
  const direction = jump.byMs > 0 ? "forward" : "backward";
  // To the second: the two looks that see a step measure it with a millisecond or so of noise.
  log.warn(`clock jumped ${direction} by ${span(Math.round(Math.abs(jump.byMs) / 1000) * 1000)}`, {
    byMs: Math.round(jump.byMs),
    from: jump.from.toISOString(),
    to: jump.to.toISOString(),
    synchronized: jump.trusted,
    ordering: "sequence numbers, alert for:, timed actions, maxSilence and retention do not follow the wall clock",
  });
}

function storeLimits(store: AgentConfig["store"]): StoreLimits {
  return { commitIntervalMs: store.commitIntervalMs, maxReadings: store.maxReadings, retentionMs: store.retentionMs };
}

/** Which of `before` are gone or changed in `after`, and which of `after` are new or changed, by id. */
function changesById<T extends { id: string }>(before: readonly T[], after: readonly T[]) {
  const old = new Map(before.map((item) => [item.id, item]));
  const now = new Map(after.map((item) => [item.id, item]));
  const removed = before.filter((item) => !now.has(item.id)).map((item) => item.id);
  const added = after.filter((item) => !old.has(item.id)).map((item) => item.id);
  const changed = after.filter((item) => old.has(item.id) && !isDeepStrictEqual(old.get(item.id), item)).map((item) => item.id);
  return { removed, added, changed, leaving: new Set([...removed, ...changed]) };
}

/** A logger; when it is the agent's own, a reloaded config sets its level and format too. */
type ReloadableLogger = Logger & Partial<Pick<AgentLogger, "reconfigure">>;

export async function startAgent(config: AgentConfig, log: ReloadableLogger, start: StartOptions = {}): Promise<Agent> {
  let current = config;
  // Whether readings' timestamps can be trusted: timesyncd's flag file (another path for tests), and jumps.
  const syncFile = process.env.XEDGE_CLOCK_SYNC_FILE || TIMESYNCD_SYNCHRONIZED;
  // What keeps wall times across restarts and must move them with a step (timed actions, set up further down).
  const stepFollowers: ((byMs: number) => void)[] = [];
  const clock = new ClockWatch({
    syncFile,
    jumpThresholdMs: CLOCK_JUMP_THRESHOLD_MS,
    onJump: (jump) => {
      reportClockJump(jump, log);
      metrics?.clockJumped(jump.byMs > 0 ? "forward" : "backward");
      for (const follow of stepFollowers) follow(jump.byMs);
    },
    onSynchronized: (offsetMs) => {
      store.correctClock(offsetMs).then(
        (corrected) => log.info("clock synchronized: readings taken before it are corrected from the monotonic clock", { corrected, syncFile }),
        (error: unknown) => log.error("clock synchronized, but correcting the readings taken before it failed; they stay marked unsynced", { error: errorText(error) }),
      );
    },
  });
  // Only with a `metrics:` block: the gauges are read at a scrape, once everything below exists.
  const metrics: AgentMetrics | undefined = config.metrics
    ? await AgentMetrics.create(
        config.sensors.map((sensor) => sensor.id),
        {
          buffered: () => store.buffered,
          online: () => connection.isOnline,
          failing: () => sampler.states.filter((state) => state.error !== undefined).map((state) => state.id),
          held: () => store.held,
          clockSynchronized: () => clock.trusted,
        },
      )
    : undefined;
  // The hardware opens before the store: on a full disk the store cannot open, and the sensors are sampled all the
  // same, their readings held in memory until it does (agent/held-before-open.ts).
  const hardware = await openHal(config, log);
  const { hal } = hardware;
  let heldBoundReached = false;
  const held = new HeldBeforeOpen({
    maxHeld: heldBound(config.store.maxReadings),
    clock,
    onLost: (bySensor) => {
      metrics?.lostUnwritable(bySensor);
      if (heldBoundReached) return;
      heldBoundReached = true;
      log.warn("store cannot open: readings held in memory reached their bound; the oldest are dropped and counted");
    },
  });
  const sampler: Sampler = new Sampler(config.sensors, sensorDrivers, hal, held, log, metrics);
  if (!clock.trusted) log.warn("clock not synchronized yet: readings are marked until it is, then corrected from the monotonic clock", { syncFile });
  const store: Store = await openStoreOrWait(config, {
    ...storeLimits(config.store),
    onDropped: (dropped, total, bySensor) => {
      log.warn("store full: dropped the oldest unsent readings", { dropped, total, maxReadings: config.store.maxReadings });
      metrics?.dropped(bySensor);
    },
    ...commitFaultReports(log, (bySensor) => metrics?.lostUnwritable(bySensor)),
    clock,
  }, { sampler, held, clock }, log, start).catch(async (error: unknown) => {
    // A stop during the wait (or a store that cannot open at all): what was held is lost, and said so.
    await sampler.stop();
    if (held.held > 0) log.warn("readings taken while the store could not open are lost: it never opened", { readings: held.held });
    await hardware.close();
    throw error;
  });
  if (metrics) store.onCommitted((readings) => metrics.committed(readings));
  reportStoreFaults(store, log);
  const recovery = store.recovery;
  if (recovery) metrics?.storeRecovered();
  const actuators = new Actuators(config.actuators, actuatorDrivers, hal, log);
  await actuators.open();
  // The fields a subscription or a watch may name: what the sensor's driver declares or, without a declaration,
  // what its latest sample carried; undefined for a node that is no sensor.
  const fieldsOf = (sensorId: string): readonly string[] | undefined => {
    const sensor = sampler.states.find((state) => state.id === sensorId);
    return sensor ? (sensorDrivers[sensor.driver]?.fields ?? sensor.lastSample?.fields.map((field) => field.name)) : undefined;
  };
  // Event subscriptions see committed readings, as the alerts do.
  const subscriptions = new EventSubscriptions<string>({ fieldsOf });
  store.onCommitted((readings) => {
    for (const reading of readings) subscriptions.observe(reading);
  });

  const connection = new XmppConnection(connectionOptions(config.xmpp), log);
  const sinkOptions = (next: AgentConfig) => ({ ...next.pubsub, gatewayJid: next.xmpp.jid, notice: (message: string) => log.warn(message) });
  const sink = new PubsubSink(connection, sinkOptions(config));
  const publisher = new Publisher(store, metrics ? metrics.timed(sink) : sink, { window: 32 }, log);
  if (metrics) publisher.on("published", (reading) => metrics.published(reading.sensorId));
  const link: LinkState = { online: false, since: new Date() };
  // After a recovery the store cannot prove which item ids were published: the nodes are asked before any publish.
  let proving = false;
  let proveTimer: NodeJS.Timeout | undefined;
  const proveThenPublish = async () => {
    if (proving) return;
    proving = true;
    try {
      await proveSequences(store, sink, current.sensors.map((sensor) => sensor.id), log);
      if (connection.isOnline && !stopping) publisher.resume();
    } catch (error) {
      log.error("store recovered: cannot ask the pubsub nodes for their highest item ids; publishing waits so that no item id is reused, retrying in 30 s", {
        error: errorText(error),
      });
      clearTimeout(proveTimer);
      proveTimer = setTimeout(() => {
        if (connection.isOnline && !stopping) void proveThenPublish();
      }, 30_000);
    } finally {
      proving = false;
    }
  };
  connection.on("online", () => {
    Object.assign(link, { online: true, since: new Date() });
    metrics?.online();
    if (store.sequencesUnproven) void proveThenPublish();
    else publisher.resume();
  });
  connection.on("offline", () => {
    Object.assign(link, { online: false, since: new Date() });
    publisher.pause();
  });

  // Alerts see what the store committed: readings, then sensors that started failing or work again. Each event
  // becomes a chat message to its subscribers (queued in the store while the link is down) and tells the
  // listeners (presence) that the active alerts changed.
  const alertListeners = new Set<() => void>();
  const delivery = new AlertDelivery({ operators: () => current.operators, send: alertSender(connection), isOnline: () => connection.isOnline, outbox: store, log });
  await delivery.start();
  const alerts = new AlertEngine(config.alerts, {
    onEvent: (event) => {
      log.info(`alert ${event.kind}`, {
        alert: event.ruleId,
        sensor: event.sensorId,
        ...(event.field !== undefined ? { field: event.field } : {}),
        ...(event.value !== undefined ? { value: event.value } : {}),
        ...(event.error !== undefined ? { error: event.error } : {}),
        condition: event.threshold,
        since: event.since.toISOString(),
      });
      delivery.deliver(event);
      for (const listener of alertListeners) listener();
    },
  });
  store.onCommitted((readings) => {
    for (const reading of readings) alerts.observe(reading);
  });
  store.onSensorErrorsCommitted((changes) => {
    for (const { sensorId, error, since } of changes) {
      alerts.observe({ sensorId, timestamp: since ?? new Date(), fields: [], ...(error !== undefined ? { error } : {}) });
    }
  });
  // Chat watches are rules of the same engine, after the config's.
  const watches = new Watches({
    store,
    sensorIds: () => sampler.states.map((state) => state.id),
    fieldsOf: (sensorId) => fieldsOf(sensorId) ?? [],
    changed: () => alerts.replace([...current.alerts, ...watches.rules()]),
  });
  await watches.start();

  // The operator-facing XMPP faces, each a thin translator over the core; the desk is their only way in.
  const authz = new Authz(config.operators);
  const readout = new Readout({ sampler, actuators, store, clock });
  const audit = (entry: AuditEntry) => {
    metrics?.control(entry.result);
    return store.audit(entry);
  };
  const control = new Control({ actuators, authz, sensorIds: () => sampler.states.map((state) => state.id), audit, log });
  const health: HealthSources = {
    sensors: () => sampler.states,
    buffered: () => store.buffered,
    dropped: () => store.dropped,
    setAside: () => store.setAsideCount,
    lastPublished: () => publisher.lastPublished,
    online: () => connection.isOnline,
    startedAt: new Date(),
    ...(recovery ? { storeDamage: () => `store damaged at start: ${recovery.readings} readings recovered, kept as ${basename(recovery.keptAs)}` } : {}),
    storeFault: () => {
      const fault = store.commitFault;
      return fault && `${describeCause(fault)}: ${fault.held} readings held in memory${fault.lost > 0 ? `, ${fault.lost} lost` : ""}`;
    },
    clockUnsynced: () => (clock.trusted ? undefined : "clock not synchronized"),
  };
  const remoteConfig = new RemoteConfig({
    authz,
    running: () => current,
    reloadFile: () => reloadFile(),
    link: {
      isOnline: () => connection.isOnline,
      onOnline: (listener) => {
        connection.on("online", listener);
        return () => connection.off("online", listener);
      },
      lastConnectError: () => connection.lastConnectError,
    },
    tell: (jid, text) => void connection.sendUnprompted("notice", xml("message", { to: jid, type: "chat" }, xml("body", {}, text))),
    audit: (entry) => store.auditConfig(entry),
    log,
  });
  // A notice that comes back as an error did not reach its operator: logged, not sent again (it would bounce again).
  connection.onBounce("notice", ({ jid, condition }) => log.warn("notice not delivered", { to: jid, condition }));
  // A timed switch back may come while the link is down, or at start: its message waits for the link. It goes to
  // the bare JID, since the resource that set the timer may be gone by then.
  const tellOperator = (jid: string, text: string) => {
    const message = xml("message", { to: bareJid(jid), type: "chat" }, xml("body", {}, text));
    void connection.sendUnprompted("notice", message).then((sent) => {
      if (sent) return;
      const retry = () => {
        connection.off("online", retry);
        void connection.sendUnprompted("notice", message);
      };
      connection.on("online", retry);
    });
  };
  const timed = new TimedActions({ control, store, audit, tell: tellOperator, log });
  await timed.start();
  stepFollowers.push((byMs) => void timed.clockStepped(byMs));
  const desk = new OperatorDesk({ authz, readout, control, timed, watches, activeAlerts: () => alerts.active(), health, config: remoteConfig, audit: store, ...(metrics ? { readoutServed: () => metrics.readoutServed() } : {}) });
  const monitor = new HealthMonitor(health, undefined);
  const activeAlertLines = () => alerts.active().map((event) => alertText(event, { now: new Date() }));
  const report = () => reportOf(snapshotOf(health), link, monitor.current(), { pid: process.pid, version }, activeAlertLines());
  const endpoint = await StatusEndpoint.open(config.status.socket, report, log);
  const metricsEndpoint = metrics && config.metrics ? await MetricsEndpoint.open(config.metrics.listen, metrics, log) : undefined;
  // Charts go to the server's XEP-0363 upload service, trusted as the connection is (a reloaded caFile applies).
  const upload = new HttpUpload(connection, { caFile: () => current.xmpp.caFile });
  // FACES: each face registers itself here; those that need the desk alone come from requestFaces, which the wait
  // for the store registers too.
  const faces: Face[] = [
    registerPresence(connection, { desk, health, log, alerts: { active: () => alerts.active(), onChange: (listener) => alertListeners.add(listener) } }),
    registerAlertMessages(connection, { delivery, log }),
    ...requestFaces(connection, { desk, log, upload }),
    registerNfEvents(connection, { desk, subscriptions, log }),
    registerSensorNodes(connection, {
      isOperator: (from) => desk.for(from).admitted,
      publishing: () => ({ ...current.pubsub, gatewayJid: current.xmpp.jid, sensorIds: current.sensors.map((sensor) => sensor.id) }),
    }),
  ];

  // A pushed config whose try a restart interrupted is watched again before the link starts.
  remoteConfig.resume();
  // Readings taken while the store could not open go to it first, in the order taken, and the sampler appends to
  // the store from then on: one synchronous step, so no reading falls between. Here, once everything that watches
  // commits listens. The clock watch starts with them: should its first look find the clock synchronized, every
  // reading held meanwhile is in the store, which corrects it under the clock state it was taken under.
  const handed = held.handTo(store);
  sampler.sinkTo(store);
  for (const entry of handed.audits) {
    await audit(entry).catch((error: unknown) => log.error("audit trail write failed", { requester: entry.requester, via: entry.via, result: entry.result, error: errorText(error) }));
  }
  if (handed.auditsLost > 0) log.warn("store opened: control requests refused while it could not open were too many to keep; the oldest are not in the audit trail", { lost: handed.auditsLost });
  if (handed.readings > 0 || handed.lostBySensor.size > 0) {
    const lost = [...handed.lostBySensor.values()].reduce((sum, n) => sum + n, 0);
    log.info("store opened: the readings taken while it could not open are appended to it", {
      readings: handed.readings,
      lost,
      ...(lost > 0 ? { lostBySensor: [...handed.lostBySensor].map(([sensor, n]) => `${sensor}=${n}`).join(",") } : {}),
    });
  }
  clock.start();
  sampler.start();
  connection.start();
  log.info("agent started", { sensors: config.sensors.length, hardware: config.hardware, store: config.store.path });

  let stopping: Promise<void> | undefined;
  const reloads = new OneAtATime();

  const applyReload = async (requested: AgentConfig): Promise<ReloadOutcome> => {
    const needsRestart: string[] = [];
    if (requested.hardware !== current.hardware) needsRestart.push(`hardware: ${current.hardware} → ${requested.hardware}`);
    if (requested.store.path !== current.store.path) needsRestart.push(`store.path: ${current.store.path} → ${requested.store.path}`);
    if (requested.status.socket !== current.status.socket) needsRestart.push(`status.socket: ${current.status.socket} → ${requested.status.socket}`);
    const listenOf = (of: AgentConfig) => (of.metrics ? describeListen(of.metrics.listen) : "off");
    if (listenOf(requested) !== listenOf(current)) needsRestart.push(`metrics.listen: ${listenOf(current)} → ${listenOf(requested)}`);
    // What waits for a restart keeps its running value, so the config in force is always one consistent whole.
    const next: AgentConfig = {
      ...requested,
      hardware: current.hardware,
      store: { ...requested.store, path: current.store.path },
      status: current.status,
      metrics: current.metrics,
    };
    const applied: string[] = [];
    const sensorChanges = changesById(current.sensors, next.sensors);
    const actuatorChanges = changesById(current.actuators, next.actuators);
    // Devices leave before the hardware changes under them; a changed device is closed, then opened anew.
    await sampler.retire(sensorChanges.leaving);
    await actuators.retire(actuatorChanges.leaving);
    for (const id of sensorChanges.removed) store.setSensorError(id);
    try {
      await hardware.update(next);
    } catch (error) {
      // The sensors still start: each one that cannot open its device reports that as its error.
      log.error("the simulated hardware could not follow the new config", { error: errorText(error) });
    }
    sampler.adopt(next.sensors);
    metrics?.adoptSensors(next.sensors.map((sensor) => sensor.id));
    await actuators.adopt(next.actuators);
    for (const [what, changes] of [["sensors", sensorChanges], ["actuators", actuatorChanges]] as const) {
      if (changes.added.length > 0) applied.push(`${what} added: ${changes.added.join(", ")}`);
      if (changes.removed.length > 0) applied.push(`${what} removed: ${changes.removed.join(", ")}`);
      if (changes.changed.length > 0) applied.push(`${what} changed: ${changes.changed.join(", ")}`);
    }
    if (!isDeepStrictEqual(next.operators, current.operators)) {
      authz.replace(next.operators);
      applied.push(`operators: ${next.operators.length}`);
    }
    if (!isDeepStrictEqual(storeLimits(next.store), storeLimits(current.store))) {
      store.reconfigure(storeLimits(next.store));
      applied.push("store limits");
    }
    if (changesConnection(current, next)) {
      // Unacknowledged readings stay in the outbox and go out again, in order, on the new link.
      sink.reconfigure(sinkOptions(next));
      connection.reconfigure(connectionOptions(next.xmpp));
      applied.push("connection settings: reconnecting");
    }
    if (!isDeepStrictEqual(next.alerts, current.alerts)) {
      alerts.replace([...next.alerts, ...watches.rules()]);
      applied.push(`alerts: ${next.alerts.length}`);
    }
    if (!isDeepStrictEqual(next.log, current.log)) applied.push("log settings");
    current = next;
    return { applied, needsRestart };
  };

  const reload = (requested: AgentConfig) => {
    if (stopping) return Promise.resolve({ applied: [], needsRestart: [] });
    return reloads.run(() => applyReload(requested));
  };

  const reloadFile: FileReload = async () => {
    let next: AgentConfig;
    try {
      next = loadConfig(current.file);
    } catch (error) {
      return { ok: false, problems: error instanceof ConfigError ? error.problems : [errorText(error)] };
    }
    const outcome = await reload(next);
    log.reconfigure?.(current.log);
    return { ok: true, ...outcome };
  };

  const stop = () =>
    (stopping ??= (async () => {
      remoteConfig.stop();
      clock.stop();
      clearTimeout(proveTimer);
      await reloads.idle();
      await endpoint?.close();
      await metricsEndpoint?.close();
      metrics?.close();
      for (const face of faces) face.stop();
      subscriptions.stop();
      // The safe state wins: no timer switches anything while the actuators go to it; the store keeps the timers.
      timed.stop();
      await sampler.stop();
      alerts.stop();
      await delivery.stop();
      await actuators.close();
      publisher.stop();
      try {
        await store.close();
      } catch (error) {
        log.error("closing the store failed", { error: errorText(error) });
      }
      await hardware.close();
      await connection.stop();
      log.info("agent stopped");
    })());

  return {
    get config() {
      return current;
    },
    store,
    sampler,
    actuators,
    publisher,
    connection,
    alerts,
    report,
    reload,
    reloadFile,
    stop,
  };
}

// Composes the agent: store, hardware, sampler, XMPP link, publisher. Start and stop in one place.
import type { AgentConfig } from "./config.ts";
import type { Hal } from "../drivers/hal.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";
import { Actuators } from "./actuators.ts";
import { Authz } from "./authz.ts";
import { Store } from "./store.ts";
import { Sampler } from "./sampler.ts";
import { Publisher } from "./publisher.ts";
import { XmppConnection } from "./xmpp/connection.ts";
import { PubsubSink } from "./xmpp/pubsub.ts";
import { registerHealthPresence, registerPresenceSubscriptions } from "./xmpp/presence.ts";
import { registerSoftwareVersion } from "./xmpp/version.ts";
import { Control } from "./control.ts";
import { registerControl } from "./xmpp/control.ts";
import { Readout } from "./readout.ts";
import { registerSensorData } from "./xmpp/sensordata.ts";
import { ChatCommands, statusOf } from "./chat-commands.ts";
import { registerChat } from "./xmpp/chat.ts";
import { registerAdhoc } from "./xmpp/adhoc.ts";
import { errorText, type Logger } from "./log.ts";

export interface Agent {
  readonly store: Store;
  readonly sampler: Sampler;
  readonly actuators: Actuators;
  readonly publisher: Publisher;
  readonly connection: XmppConnection;
  /** Stops sampling, puts actuators in their safe state, finishes store writes, closes the store, goes offline. */
  stop(): Promise<void>;
}

/** The hardware backends for the config: firmware-sim or the real device nodes, loaded only when used. */
async function openHal(config: AgentConfig, log: Logger): Promise<{ hal: Hal; close: () => Promise<void> }> {
  if (config.hardware === "sim") {
    const { createSimHal } = await import("../firmware-sim/index.ts");
    const { populate } = await import("../firmware-sim/world.ts");
    const hal = createSimHal();
    const world = await populate(hal, config);
    if (world.unsimulated.length > 0) log.warn("no simulation for these devices", { ids: world.unsimulated.join(",") });
    return { hal, close: () => world.close() };
  }
  const { createRealHal } = await import("../drivers/real/index.ts");
  return { hal: createRealHal(), close: async () => undefined };
}

export async function startAgent(config: AgentConfig, log: Logger): Promise<Agent> {
  const store = await Store.open(config.store.path, {
    commitIntervalMs: config.store.commitIntervalMs,
    maxReadings: config.store.maxReadings,
    retentionMs: config.store.retentionMs,
    onDropped: (dropped, total) =>
      log.warn("store full: dropped the oldest unsent readings", { dropped, total, maxReadings: config.store.maxReadings }),
  });
  const { hal, close: closeHal } = await openHal(config, log);
  const sampler = new Sampler(config.sensors, sensorDrivers, hal, store, log);
  const actuators = new Actuators(config.actuators, actuatorDrivers, hal, log);
  await actuators.open();

  const [username = ""] = config.xmpp.jid.split("@");
  const connection = new XmppConnection(
    {
      service: config.xmpp.service,
      domain: config.xmpp.domain,
      username,
      password: config.xmpp.password,
      resource: config.xmpp.resource,
      caFile: config.xmpp.caFile,
      pingIntervalMs: config.xmpp.pingIntervalMs,
      pingTimeoutMs: config.xmpp.pingTimeoutMs,
      reconnect: config.xmpp.reconnect,
    },
    log,
  );
  const sink = new PubsubSink(connection, {
    ...config.pubsub,
    gatewayJid: config.xmpp.jid,
    notice: (message) => log.warn(message),
  });
  const publisher = new Publisher(store, sink, { window: 32 }, log);
  connection.on("online", () => publisher.resume());
  connection.on("offline", () => publisher.pause());

  // The operator-facing XMPP faces, each a thin translator over the core, all asking `authz`.
  const authz = new Authz(config.operators);
  registerPresenceSubscriptions(connection, authz, log);
  const health = registerHealthPresence(connection, {
    sensors: () => sampler.states,
    buffered: () => store.buffered,
    dropped: () => store.dropped,
    lastPublished: () => publisher.lastPublished,
  });
  registerSoftwareVersion(connection, authz);
  // FACES: each face registers itself here.
  const readout = new Readout({ sampler, actuators, store });
  const control = new Control({ actuators, authz, sensorIds: config.sensors.map((sensor) => sensor.id), audit: (entry) => store.audit(entry), log });
  const status = statusOf({ sampler, store, publisher, connection, startedAt: new Date() });
  const stopSensorData = registerSensorData(connection, { readout, authz, log });
  registerControl(connection, control, log);
  registerChat(connection, { commands: new ChatCommands({ readout, control, status }), authz, log });
  registerAdhoc(connection, { readout, control, status, authz, log });

  sampler.start();
  connection.start();
  log.info("agent started", { sensors: config.sensors.length, hardware: config.hardware, store: config.store.path });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      stopSensorData();
      health.stop();
      await sampler.stop();
      await actuators.close();
      publisher.stop();
      try {
        await store.close();
      } catch (error) {
        log.error("closing the store failed", { error: errorText(error) });
      }
      await closeHal();
      await connection.stop();
      log.info("agent stopped");
    })());

  return { store, sampler, actuators, publisher, connection, stop };
}

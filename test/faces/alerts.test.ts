// Alerts delivered by chat, through a real Prosody, from the bundled agent on simulated hardware: an operator sets a
// watch by chat, the simulated sensor crosses it and they get the fired message, later the cleared one; a config
// rule for a role reaches both operators; a watch outlives a restart of the agent; an alert fired while the link is
// down (cut by the fault proxy) arrives once it is back; a sensor that starts failing, and recovers, is an alert to
// whoever watches it failing. The agent's presence shows the active alerts.
//
// The sensor is an ADS1115 channel on the simulated 2.5 V rail; its scale offset, changed by a config reload
// (SIGHUP), moves the reading from 2.5 V to 102.5 V and back, across the thresholds; a reload with a `sim:` fault
// makes it fail.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, runCli, writeAgentConfig } from "../support/agent.ts";
import { AGENT_JID } from "../support/gateway-fixture.ts";
import { FaultProxy } from "../support/fault-proxy.ts";
import { Arrivals } from "../support/arrivals.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { REFUSAL } from "../../agent/xmpp/chat.ts";

const QUICK_RECONNECT = "  reconnect: { initialDelay: 200ms, maxDelay: 1s }";
const devices = (offset: number) =>
  [
    "sensors:",
    "  - id: tank",
    "    driver: ads1115",
    "    i2c: { bus: 1, address: 0x48 }",
    "    interval: 200ms",
    "    channels:",
    `      - { channel: 3, name: rail, gain: 4.096, scale: { unit: V, factor: 1, offset: ${offset} } }`,
  ].join("\n");
const ALERTS = "alerts:\n  - { id: rail-high, sensor: tank, field: rail, above: 80, notify: [{ role: read }] }";
const TIME = String.raw`\d\d:\d\d:\d\d`;

/** An operator's chat client, available, collecting the agent's messages. */
class Operator {
  readonly bodies: string[] = [];
  /** The status of each presence the agent sent. */
  readonly statuses: string[] = [];
  private readonly arrivals = new Arrivals();

  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("presence") && String(stanza.attrs.from) === AGENT_JID) {
        this.statuses.push(stanza.getChildText("status") ?? "");
        this.arrivals.notify();
      }
      const body = stanza.is("message") && stanza.attrs.type === "chat" ? stanza.getChildText("body") : null;
      if (body === null || String(stanza.attrs.from) !== AGENT_JID) return;
      this.bodies.push(body);
      this.arrivals.notify();
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Operator> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "phone", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    await client.entity.send(xml("presence", {}));
    return new Operator(client);
  }

  async ask(body: string): Promise<string> {
    const seen = this.bodies.length;
    await this.client.entity.send(xml("message", { to: AGENT_JID, type: "chat" }, xml("body", {}, body)));
    return (await this.take(seen, 1))[0] ?? "";
  }

  /** The `count` messages after the first `seen`, once they are all there. */
  take(seen: number, count: number, timeoutMs = 15_000): Promise<string[]> {
    return this.arrivals.until(
      () => (this.bodies.length >= seen + count ? this.bodies.slice(seen, seen + count) : undefined),
      timeoutMs,
      () => `${count} message(s) expected within ${timeoutMs} ms; got: ${JSON.stringify(this.bodies.slice(seen))}`,
    );
  }

  /** Asks to see the agent's presence (the agent accepts operators). */
  subscribe(): Promise<void> {
    return this.client.entity.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
  }

  /** The first presence status of the agent's from index `from` that matches. */
  status(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<string> {
    return this.arrivals.until(
      () => this.statuses.slice(from).find((status) => pattern.test(status)),
      timeoutMs,
      () => `no presence status ${String(pattern)} within ${timeoutMs} ms; got: ${JSON.stringify(this.statuses.slice(from))}`,
    );
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

describe("alerts by chat on prosody", () => {
  let server: XmppTestServer;
  let proxy: FaultProxy;
  let agent: AgentProcess;
  let file: string;
  let ops: Operator;
  let viewer: Operator;
  let mallory: Operator;

  /** Rewrites the rail's offset and reloads the agent's config. */
  const setOffset = async (offset: number) => {
    writeFileSync(file, readFileSync(file, "utf8").replace(/offset: \d+/, `offset: ${offset}`));
    const mark = agent.logs.length;
    agent.child.kill("SIGHUP");
    await agent.waitForMessage("config reloaded", 20_000, mark);
  };

  /** Makes the tank's device fail (a bus error on every transfer), or work again, by a config reload. */
  const setFailing = async (failing: boolean) => {
    const text = readFileSync(file, "utf8").replace(/\n {4}sim: .*/, "");
    writeFileSync(file, failing ? text.replace("    interval: 200ms", "    interval: 200ms\n    sim: { faults: [{ kind: eio }] }") : text);
    const mark = agent.logs.length;
    agent.child.kill("SIGHUP");
    await agent.waitForMessage("config reloaded", 20_000, mark);
  };

  before(async () => {
    server = await startServer("prosody", {
      accounts: { gw1: "gw1-secret", ops: "ops-secret", viewer: "viewer-secret", mallory: "mallory-secret" },
      pubsubAdmins: ["gw1@localhost"],
    });
    proxy = await FaultProxy.start({ host: server.host, port: server.port });
    ({ file } = writeAgentConfig(server, {
      service: proxy.service,
      xmppExtra: QUICK_RECONNECT,
      devices: devices(0),
      extra: ALERTS,
      operators: [
        { jid: "ops@localhost", role: "control" },
        { jid: "viewer@localhost", role: "read" },
      ],
    }));
    agent = AgentProcess.start(file);
    [ops, viewer, mallory] = await Promise.all([Operator.connect(server, "ops"), Operator.connect(server, "viewer"), Operator.connect(server, "mallory")]);
    await agent.waitForMessage("online", 30_000);
  });
  after(async () => {
    await Promise.all([ops, viewer, mallory].map((client) => client?.close()));
    if (agent) assert.equal(await agent.stop(), 0);
    await proxy?.close();
    await server?.stop();
  });

  it("a watch set by chat fires and clears; a rule for the read role reaches both operators", async () => {
    assert.equal(await mallory.ask("watch tank rail > 50"), REFUSAL);
    assert.equal(await viewer.ask("watch tank volts > 50"), "Not watching: tank has no field 'volts'. Its fields: rail.");
    assert.equal(await ops.ask("watch tank rail > 50"), "Watching 1: tank rail above 50. You get a message when it fires and when it clears; 'unwatch 1' ends it.");
    await viewer.subscribe();
    await viewer.status(/^1 sensor · /);
    const [opsSeen, viewerSeen, presenceSeen] = [ops.bodies.length, viewer.bodies.length, viewer.statuses.length];

    await setOffset(100);
    const fired = (await ops.take(opsSeen, 2)).sort();
    assert.match(fired[0] ?? "", new RegExp(`^⚠ tank rail 102\\.\\d+ V: above 50 V since ${TIME} \\(watch 1\\)$`));
    assert.match(fired[1] ?? "", new RegExp(`^⚠ tank rail 102\\.\\d+ V: above 80 V since ${TIME} \\(alert rail-high\\)$`));
    const status = (await ops.ask("status")).split("\n");
    assert.ok(status.includes("alerts: 2 active"), status.join("\n"));
    const onGateway = (await runCli(["status", "--config", file])).stdout;
    assert.match(onGateway, /^alerts: +2 active$/m);
    assert.match(onGateway, new RegExp(`^  ⚠ tank rail 102\\.\\d+ V: above 50 V since ${TIME} \\(watch 1\\)$`, "m"));
    assert.match(onGateway, new RegExp(`^  ⚠ tank rail 102\\.\\d+ V: above 80 V since ${TIME} \\(alert rail-high\\)$`, "m"));
    await viewer.status(/^2 alerts: tank rail above 80 V, tank rail above 50 V · 1 sensor · /, presenceSeen);
    const firedPresences = viewer.statuses.length;

    await setOffset(0);
    const cleared = (await ops.take(opsSeen + 3, 2)).sort();
    assert.match(cleared[0] ?? "", new RegExp(`^✓ tank rail 2\\.\\d+ V: no longer above 50 V since ${TIME} \\(watch 1\\)$`));
    assert.match(cleared[1] ?? "", new RegExp(`^✓ tank rail 2\\.\\d+ V: no longer above 80 V since ${TIME} \\(alert rail-high\\)$`));
    const viewerGot = await viewer.take(viewerSeen, 2);
    assert.match(viewerGot[0] ?? "", /^⚠ tank rail 102\.\d+ V: above 80 V since .* \(alert rail-high\)$/);
    assert.match(viewerGot[1] ?? "", /^✓ tank rail 2\.\d+ V: no longer above 80 V since .* \(alert rail-high\)$/);
    await sleep(500);
    assert.equal(viewer.bodies.length, viewerSeen + 2, "the viewer hears nothing of ops's watch");
    // Presence follows alerts at most every 2 s: the one without alerts may come a little after the messages.
    await viewer.status(/^1 sensor · /, firedPresences);
    assert.equal(mallory.bodies.length, 1, "the stranger got one refusal and no alert");
    assert.match((await runCli(["status", "--config", file])).stdout, /^alerts: +none active$/m);
  });

  it("a watch outlives a restart; an alert fired while the link is down arrives, in order, once it is back", async () => {
    assert.equal(await agent.stop(), 0);
    agent = AgentProcess.start(file);
    await agent.waitForMessage("online", 30_000);
    assert.match(await ops.ask("watches"), new RegExp(`^Your watches:\\n  1: tank rail above 50 \\(set ${TIME}\\)$`));

    const mark = agent.logs.length;
    proxy.drop();
    await agent.waitForMessage("link lost", 10_000, mark);
    const [opsSeen, viewerSeen] = [ops.bodies.length, viewer.bodies.length];
    await setOffset(100);
    await agent.waitForLog((line) => line.message === "alert fired" && line.alert === "watch:1", 10_000, mark);
    await sleep(500);
    assert.equal(ops.bodies.length, opsSeen, "nothing reaches the operator while the link is down");

    proxy.heal();
    await agent.waitForMessage("online", 20_000, mark);
    const delivered = await ops.take(opsSeen, 2);
    assert.match(delivered[0] ?? "", /^⚠ tank rail 102\.\d+ V: above 80 V since .* \(alert rail-high\)$/);
    assert.match(delivered[1] ?? "", /^⚠ tank rail 102\.\d+ V: above 50 V since .* \(watch 1\)$/);
    assert.match((await viewer.take(viewerSeen, 1))[0] ?? "", /\(alert rail-high\)$/);
    assert.equal(await ops.ask("unwatch 1"), "Stopped watch 1: tank rail above 50.");
  });

  it("a sensor that starts failing is an alert to whoever watches it failing, and so is its recovery", async () => {
    assert.equal(await viewer.ask("watch tank failing"), "Watching 2: tank failing. You get a message when it fires and when it clears; 'unwatch 2' ends it.");
    const seen = viewer.bodies.length;
    await setFailing(true);
    assert.match((await viewer.take(seen, 1))[0] ?? "", new RegExp(`^⚠ tank is failing since ${TIME}: .+ \\(watch 2\\)$`));
    await setFailing(false);
    assert.match((await viewer.take(seen + 1, 1))[0] ?? "", new RegExp(`^✓ tank reads again since ${TIME} \\(watch 2\\)$`));
  });
});

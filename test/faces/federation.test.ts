// Operators on another XMPP server than the gateway's, through two real servers federating over loopback
// (test/support/federation.ts): the gateway's account is gw1@a.test, the operators' are on b.test, listed in the
// agent's config by bare JID. Readouts in both dialects, control, chat and ad-hoc commands, the presence
// subscription with the health, a pubsub subscription to a sensor's node on pubsub.a.test, an alert, and the
// refusals, all over the s2s link; then the link between the servers cut while the gateway keeps publishing, and
// what the agent makes of the alerts and nf event notifications that a.test's server sends back meanwhile.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DOMAIN_A, DOMAIN_B, startFederation, type Federation } from "../support/federation.ts";
import { AgentProcess, writeAgentConfig, type LogLine } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { createTestPki, createUntrustedCa } from "../support/tls.ts";
import { openStartTls, s2sExternal } from "../support/xmpp-probe.ts";
import type { ServerKind } from "../support/servers.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";
import { REFUSAL } from "../../agent/xmpp/chat.ts";

const AGENT = `gw1@${DOMAIN_A}/edge`;
const NODE = "xedge/gw1/boiler";
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const NS_NF_SENSORDATA = "urn:nf:iot:sd:1.0";
const NS_NF_EVENTS = "urn:nf:iot:events:1.0";
const NS_CONTROL = "urn:xmpp:iot:control";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }`;

/** The condition of the error an iq got; fails when it succeeded. */
async function refusal(reply: Promise<unknown>): Promise<string> {
  try {
    await reply;
  } catch (error) {
    return String((error as { condition?: unknown }).condition);
  }
  assert.fail("expected an iq error");
}

/** An operator on b.test: an Observer (pubsub, presences, iq) that also keeps the agent's chat messages. */
class RemoteOperator {
  readonly chats: string[] = [];
  readonly messages: Element[] = [];

  private constructor(readonly observer: Observer) {
    observer.onMessage((message) => {
      this.messages.push(message);
      const body = message.getChildText("body");
      if (String(message.attrs.from) === AGENT && message.attrs.type === "chat" && body !== null) this.chats.push(body);
    });
  }

  static async connect(federation: Federation, user: string): Promise<RemoteOperator> {
    return new RemoteOperator(await Observer.connect(federation.b, user, `${user}-secret`));
  }

  /** Sends a chat line to the agent and resolves with the next chat answer. */
  async ask(body: string): Promise<string> {
    const seen = this.chats.length;
    await this.observer.send(xml("message", { to: AGENT, type: "chat" }, xml("body", {}, body)));
    return this.nextChat(seen);
  }

  async nextChat(seen: number, timeoutMs = 15_000): Promise<string> {
    const chats = await this.observer.until(() => this.chats, (all) => all.length > seen, timeoutMs, `a chat message after #${seen}`);
    return chats[seen] ?? "";
  }

  /** A XEP-0323 momentary readout of `nodeId`: the <fields> of the readout's messages, up to the one marked done. */
  async readout(seqnr: string, nodeId: string): Promise<Element[]> {
    const reply = await this.observer.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr, momentary: "true" }, xml("node", { nodeId })));
    assert.equal(reply.getChild("accepted", NS_SENSORDATA)?.attrs.seqnr, seqnr, reply.toString());
    const ofReadout = () => this.messages.map((m) => m.getChild("fields", NS_SENSORDATA)).filter((f): f is Element => f?.attrs.seqnr === seqnr);
    return this.observer.until(ofReadout, (fields) => fields.some((f) => f.attrs.done === "true"), 15_000, `readout ${seqnr}`);
  }

  setPump(value: "true" | "false"): Promise<Element> {
    return this.observer.iq("set", AGENT, xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "pump" }), xml("boolean", { name: "state", value })));
  }

  close(): Promise<void> {
    return this.observer.close();
  }
}

function numericField(fields: Element[], name: string): number {
  const field = fields
    .flatMap((f) => f.getChildren("node"))
    .flatMap((node) => node.getChildren("timestamp"))
    .flatMap((ts) => ts.getChildren("numeric"))
    .find((numeric) => numeric.attrs.name === name);
  return Number(field?.attrs.value);
}

interface Gateway {
  federation: Federation;
  agent: AgentProcess;
  ops: RemoteOperator;
  viewer: RemoteOperator;
  mallory: RemoteOperator;
  stop(): Promise<void>;
}

/**
 * Two federated servers: the agent on a.test (with `plant`, an account there that reads its nodes), a control
 * operator, a read operator and a stranger on b.test.
 */
async function startGateway(kinds: [ServerKind, ServerKind]): Promise<Gateway> {
  const t0 = Date.now();
  // ejabberd's accounts written into its SQL storage before it starts: an ejabberdctl register per account costs
  // a second of Erlang VM boot.
  const accountsOf = (kind: ServerKind) => (kind === "ejabberd" ? { accountStorage: "sql" as const } : {});
  const federation = await startFederation(kinds, {
    a: { accounts: { gw1: "gw1-secret", plant: "plant-secret" }, pubsubAdmins: [`gw1@${DOMAIN_A}`], ...accountsOf(kinds[0]) },
    b: { accounts: { ops: "ops-secret", viewer: "viewer-secret", mallory: "mallory-secret" }, ...accountsOf(kinds[1]) },
  });
  const started = Date.now() - t0;
  let agent: AgentProcess | undefined;
  const operators: RemoteOperator[] = [];
  try {
    const { file } = writeAgentConfig(federation.a, {
      devices: DEVICES,
      operators: [
        { jid: `ops@${DOMAIN_B}`, role: "control" },
        { jid: `viewer@${DOMAIN_B}`, role: "read" },
      ],
    });
    agent = AgentProcess.start(file);
    await agent.waitForMessage("online", 30_000);
    for (const user of ["ops", "viewer", "mallory"]) operators.push(await RemoteOperator.connect(federation, user));
    const [ops, viewer, mallory] = operators as [RemoteOperator, RemoteOperator, RemoteOperator];
    console.log(`# ${kinds.join("↔")} federation started in ${started} ms (s2s port ${federation.s2sPort}), agent online after ${Date.now() - t0} ms`);
    const running = agent;
    return {
      federation,
      agent,
      ops,
      viewer,
      mallory,
      stop: async () => {
        await Promise.all(operators.map((operator) => operator.close()));
        const code = await running.stop();
        await federation.stop();
        assert.equal(code, 0, "the agent exits cleanly");
      },
    };
  } catch (error) {
    await Promise.all(operators.map((operator) => operator.close()));
    await agent?.stop();
    await federation.stop();
    throw error;
  }
}

/** Everything an operator on b.test does, over the s2s link. */
function operatorTests(get: () => Gateway, full: boolean): void {
  it("an operator on b.test reads the gateway on a.test (XEP-0323) and a stranger there is refused", async () => {
    const { ops, mallory } = get();
    const fields = await ops.readout("1", "boiler");
    assert.ok(Math.abs(numericField(fields, "temperature") - 21) <= 3.2, `temperature near 21 °C: ${fields.map(String).join("")}`);
    assert.equal(await refusal(mallory.observer.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr: "2", momentary: "true" }))), "forbidden");
  });

  it("a control operator on b.test switches the pump (XEP-0325); a read operator there is refused", async () => {
    const { ops, viewer } = get();
    assert.ok((await ops.setPump("true")).getChild("setResponse", NS_CONTROL));
    assert.equal(await refusal(viewer.setPump("false")), "forbidden");
    const fields = await ops.readout("3", "pump");
    const state = fields.flatMap((f) => f.getChildren("node")).flatMap((n) => n.getChildren("timestamp")).flatMap((ts) => ts.getChildren("boolean"))[0];
    assert.equal(state?.attrs.value, "true");
    assert.ok((await ops.setPump("false")).getChild("setResponse", NS_CONTROL));
  });

  it("a remote subscriber gets live notifications from the sensor's node on pubsub.a.test", async () => {
    const { ops, federation } = get();
    const service = federation.a.pubsubService;
    await ops.observer.until(() => ops.observer.items(service, NODE), (items) => items.length > 0, 15_000, "the node's first items");
    await ops.observer.subscribe(service, NODE);
    const seen = ops.observer.notifications.length;
    await ops.observer.until(() => ops.observer.notifications.length, (n) => n >= seen + 3, 15_000, "three live notifications");
    const payload = ops.observer.notifications.at(-1)?.payload;
    assert.ok(payload?.is("fields", NS_SENSORDATA), String(payload));
  });

  it("a.test's server requires TLS on s2s and lets in only a peer whose certificate the run's CA signed", async () => {
    const { federation } = get();
    const probe = (clientCertificate: { cert: Buffer; key: Buffer }) =>
      openStartTls({ host: federation.s2sAddresses.a, port: federation.s2sPort, domain: DOMAIN_A, ca: readFileSync(federation.a.caFile), s2sFrom: DOMAIN_B, clientCertificate });
    const pemsOf = (pki: { certFile: string; keyFile: string }) => ({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
    const genuine = await probe(pemsOf({ certFile: join(federation.b.dir, "pki", "server.crt"), keyFile: join(federation.b.dir, "pki", "server.key") }));
    assert.ok(genuine.starttlsRequired, genuine.featuresBeforeTls);
    assert.equal(genuine.socket.authorized, true, String(genuine.socket.authorizationError));
    assert.equal(await s2sExternal(genuine.socket, DOMAIN_A, DOMAIN_B), "success");

    // The same name from another CA: refused (Prosody closes the stream, ejabberd fails SASL EXTERNAL), and no
    // dialback is offered to fall back on.
    const scratch = await mkdtemp(join(tmpdir(), "xedge-forged-"));
    try {
      const forged = await createTestPki(join(scratch, "pki"), { domain: DOMAIN_B, ca: await createUntrustedCa(scratch) });
      const opened = await probe(pemsOf(forged));
      const features = /<stream:features[\s\S]*$/.exec(opened.featuresBeforeTls)?.[0] ?? "";
      assert.doesNotMatch(features, /<dialback\b/, features);
      const outcome = await s2sExternal(opened.socket, DOMAIN_A, DOMAIN_B).catch((error: unknown) => `stream closed: ${String(error)}`);
      assert.ok(outcome === "failure" || outcome.startsWith("stream closed"), outcome);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  if (!full) return;

  it("answers the nf dialect (urn:nf:iot:sd:1.0) from b.test: current values in the iq result", async () => {
    const { ops, mallory } = get();
    const request = (id: string) => xml("req", { xmlns: NS_NF_SENSORDATA, id, m: "true" }, xml("nd", { id: "boiler" }));
    const reply = await ops.observer.iq("get", AGENT, request("nf1"));
    const resp = reply.getChild("resp", NS_NF_SENSORDATA);
    const names = resp?.getChildren("nd").flatMap((nd) => nd.getChildren("ts")).flatMap((ts) => ts.getChildElements().map((f) => String(f.attrs.n)));
    assert.deepEqual(names?.sort(), ["humidity", "pressure", "temperature"], reply.toString());
    assert.equal(await refusal(mallory.observer.iq("get", AGENT, request("nf2"))), "forbidden");
  });

  it("answers chat commands from b.test, and refuses the stranger there", async () => {
    const { ops, mallory } = get();
    assert.match(await ops.ask("read boiler"), /temperature/);
    assert.equal(await mallory.ask("read boiler"), REFUSAL);
  });

  it("runs an ad-hoc command for b.test (XEP-0050)", async () => {
    const { viewer } = get();
    const reply = await viewer.observer.iq("set", AGENT, xml("command", { xmlns: NS_COMMANDS, node: "status", action: "execute" }));
    const command = reply.getChild("command", NS_COMMANDS);
    assert.equal(command?.attrs.status, "completed", reply.toString());
    const connection = command?.getChild("x", NS_DATA)?.getChildren("field").find((field) => field.attrs.var === "connection");
    assert.equal(connection?.getChildText("value"), "online");
  });

  it("accepts the presence subscription of an operator on b.test and shows it the health", async () => {
    const { viewer } = get();
    // Servers deliver subscription answers to resources that fetched their roster.
    await viewer.observer.iq("get", `viewer@${DOMAIN_B}`, xml("query", { xmlns: "jabber:iq:roster" }));
    await viewer.observer.send(xml("presence", { to: `gw1@${DOMAIN_A}`, type: "subscribe" }));
    const fromAgent = (presences: Element[]) => presences.filter((p) => String(p.attrs.from) === AGENT && p.attrs.type === undefined);
    const presences = await viewer.observer.until(() => fromAgent(viewer.observer.presences), (p) => p.length > 0, 15_000, "the gateway's presence");
    assert.match(presences.at(-1)?.getChildText("status") ?? "", /^1 sensor · buffer \d+ · /);
  });

  it("delivers an alert (a chat watch) to the operator on b.test", async () => {
    const { ops } = get();
    const seen = ops.chats.length;
    assert.match(await ops.ask("watch boiler temperature > 0"), /^Watching \d+: boiler temperature above 0\b/);
    // The alert may come right behind the answer.
    const alert = await ops.nextChat(seen + 1);
    assert.match(alert, /^⚠ boiler temperature [\d.]+ °C: above 0 °C since/);
  });
}

/**
 * An nf event subscription of ops@b.test notifying every second, taken before the cut: its notifications bounce at
 * a.test's server while the link is cut. `bounced` waits for the agent's one log line about them, `afterHeal`
 * checks what that line said.
 */
async function subscribeEverySecond(ops: RemoteOperator, agent: AgentProcess, gatewayKind: ServerKind) {
  const notified = () => ops.messages.filter((message) => message.getChild("resp", NS_NF_SENSORDATA)?.attrs.id === "cut").length;
  const unsubscribe = () => ops.observer.iq("set", AGENT, xml("unsubscribe", { xmlns: NS_NF_EVENTS, id: "cut" }));
  await ops.observer.iq("set", AGENT, xml("subscribe", { xmlns: NS_NF_EVENTS, id: "cut", m: "true", maxInt: "PT1S" }, xml("nd", { id: "boiler" })));
  await ops.observer.until(notified, (n) => n > 0, 15_000, "an nf event notification before the cut");
  const ENDED = "nf event subscriptions ended: not reachable";
  let logged: LogLine | undefined;
  return {
    // A condition for good ends the subscription, one that may pass keeps it.
    bounced: async (mark: number) => {
      logged = await agent.waitForLog((line) => [ENDED, "nf event notification not delivered"].includes(line.message), 15_000, mark);
      console.log(`# ${gatewayKind} (a.test) sent the nf event back with ${String(logged.condition)}: ${logged.message}`);
      assert.match(String(logged.subscriber), new RegExp(`^ops@${DOMAIN_B}/`));
      assert.equal(logged.message === ENDED, logged.condition === "remote-server-not-found", `ended on ${String(logged.condition)}`);
    },
    // An ended subscription is gone; a kept one notifies again. Either way the bounces were logged once.
    afterHeal: async (mark: number, healedAt: number) => {
      assert.ok(logged, "the bounce was logged");
      if (logged.message === ENDED) assert.equal(await refusal(unsubscribe()), "item-not-found");
      else {
        const before = notified();
        await ops.observer.until(notified, (n) => n > before, 15_000, "an nf event notification after the heal");
        console.log(`# the kept subscription notified b.test again ${Date.now() - healedAt} ms after the heal`);
        await unsubscribe();
      }
      const message = logged.message;
      assert.equal(agent.logs.slice(mark).filter((line) => line.message === message).length, 1, "the bounces of the notifications are logged once");
    },
  };
}

/**
 * The link between the two servers cut and healed while the gateway publishes; what b.test's server answers. With
 * `nfEvents`, an nf subscriber's notifications bounce too (left out on ejabberd↔ejabberd, where it proves nothing
 * more and its notifications during the cut made the first readout after the heal go unanswered: 10 s more).
 */
function cutTests(get: () => Gateway, nfEvents: boolean): void {
  it("a cut s2s link: the gateway stays online and publishes every reading; b.test's requests bounce, then work again", async () => {
    const { ops, agent, federation } = get();
    const service = federation.a.pubsubService;
    const subscription = nfEvents ? await subscribeEverySecond(ops, agent, federation.a.kind) : undefined;
    // A watch that fires while the link is cut (the cut comes at once): its message to ops@b.test bounces back to
    // the agent.
    assert.match(await ops.ask("watch boiler temperature > 0 for 3s"), /^Watching \d+: /);
    assert.ok(federation.relayed().toA > 0 && federation.relayed().toB > 0, "both directions went through the proxies before the cut");
    const mark = agent.logs.length;
    federation.cut();
    const cutAt = Date.now();
    // A stanza written to a link as it drops is lost without a bounce (neither server resends on a new link):
    // the request goes once b.test's server has seen its link close.
    await sleep(1_000);
    const started = Date.now();
    const bounced = await refusal(ops.readout("10", "boiler"));
    console.log(`# ${federation.b.kind} (b.test) answered a request to a.test over the cut link with ${bounced} after ${Date.now() - started} ms`);
    assert.ok(["remote-server-not-found", "remote-server-timeout"].includes(bounced), `bounced with ${bounced}`);
    await agent.waitForLog((line) => line.message === "alert fired", 15_000, mark);
    // a.test's server sends the alert back: the agent logs who missed it, and its own link stays as it is.
    const missed = await agent.waitForLog((line) => line.message === "alert not delivered", 15_000, mark);
    console.log(`# ${federation.a.kind} (a.test) sent the agent's alert back with ${String(missed.condition)}`);
    assert.equal(missed.to, `ops@${DOMAIN_B}`);
    assert.ok(["remote-server-not-found", "remote-server-timeout"].includes(String(missed.condition)), `alert bounced with ${String(missed.condition)}`);
    await subscription?.bounced(mark);
    // Long enough for a few commits more while the link is cut.
    await sleep(Math.max(0, cutAt + 6_000 - Date.now()));
    federation.heal();
    const healedAt = Date.now();

    // The operator's requests work again once the servers reconnect.
    let seqnr = 10;
    const fields = await ops.observer.until(
      () => ops.readout(String(++seqnr), "boiler"),
      (got) => got.length > 0,
      30_000,
      "a readout after the link is back",
    );
    assert.ok(numericField(fields, "temperature") > 0);
    console.log(`# a readout from b.test worked again ${Date.now() - healedAt} ms after the heal`);
    await subscription?.afterHeal(mark, healedAt);
    const during = agent.logs.slice(mark);
    assert.deepEqual(during.filter((line) => ["link lost", "reconnecting", "online", "connection failed"].includes(line.message)).map((line) => line.message), [], "the agent's own link is unaffected");
    // Every reading is on the node, in order, with nothing missing: the ones committed while the link was cut too.
    // Read on a.test itself: what the gateway's side holds, whatever the link between the servers does.
    const plant = await Observer.connect(federation.a, "plant", "plant-secret");
    const items = await plant.items(service, NODE).finally(() => plant.close());
    const ids = items.map((item) => Number(item.id)).sort((x, y) => x - y);
    assert.deepEqual(ids, ids.map((_, i) => i + 1), `item ids 1..N: ${ids.join(",")}`);
    assert.ok(ids.length >= 25, `readings every 200 ms for over 5 s are on the node: ${ids.length}`);
  });
}

const PAIRINGS: { kinds: [ServerKind, ServerKind]; full: boolean; nfEvents: boolean }[] = [
  // The whole set with the operators on Prosody; readout, control, pubsub and the cut with the gateway on Prosody,
  // and on ejabberd↔ejabberd. An nf subscriber across the cut with the gateway on each server.
  { kinds: ["ejabberd", "prosody"], full: true, nfEvents: true },
  { kinds: ["prosody", "ejabberd"], full: false, nfEvents: true },
  { kinds: ["ejabberd", "ejabberd"], full: false, nfEvents: false },
];

// The servers' mount namespaces and the DNS responder on port 53 need root, as CI has.
const skip = process.getuid?.() === 0 ? false : "federation needs root (unshare, mount, port 53)";

for (const { kinds, full, nfEvents } of PAIRINGS) {
  describe(`operators on ${kinds[1]} (b.test), gateway on ${kinds[0]} (a.test)`, { skip }, () => {
    let gateway: Gateway | undefined;
    const get = (): Gateway => {
      assert.ok(gateway, "the gateway started");
      return gateway;
    };
    before(async () => {
      gateway = await startGateway(kinds);
    });
    after(async () => {
      await gateway?.stop();
    });
    operatorTests(get, full);
    cutTests(get, nfEvents);
  });
}

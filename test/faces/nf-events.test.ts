// Event subscriptions in urn:nf:iot:events:1.0 on the real servers: the running agent (sim hardware, a BME280
// whose simulated temperature moves a little every second) notifies a subscriber with <resp> messages when the
// temperature moves by the subscribed amount and not before, at least every maxInt (with no change at all), and
// no more once the subscription ended (unsubscribe, or the subscriber going offline). Most cases use our own
// client, sending what the dialect's reference client sends; an independent client (slixmpp,
// test/faces/interop/slix_nf_events.py) subscribes and reads the notifications as the reference client does.
//
// The subscriptions are built as IoTGateway's Networking/Waher.Networking.XMPP.Sensor/SensorClient.cs (commit
// d7a0bab6af0dbad025b41e4f986882230f706c86) builds them: Subscribe writes <subscribe xmlns='urn:nf:iot:events:1.0'
// id='<GUID without dashes>'> with the one-letter types, minInt/maxInt/maxAge as xs:duration, req='true' for a
// readout at once, then <nd id/> and <f n [v] [by] [up] [dn]/>; it sends it as an iq get and takes <accepted>
// (by local name) in the result. SensorDataSubscriptionRequest.Unsubscribe sends <unsubscribe id/> as an iq set.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { runSlixScript } from "../support/slix.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";

const EVENTS = "urn:nf:iot:events:1.0";
const SD = "urn:nf:iot:sd:1.0";
const AGENT = "gw1@localhost/edge";

/** The id SensorClient.cs gives a subscription: a GUID without its dashes. */
const guid = () => randomUUID().replaceAll("-", "");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function subscribe(id: string, attrs: Record<string, string>, rules: Record<string, string>[] = []): Element {
  return xml("subscribe", { xmlns: EVENTS, id, m: "true", ...attrs }, xml("nd", { id: "boiler" }), ...rules.map((rule) => xml("f", rule)));
}

/** A subscriber's XMPP client that keeps every message it receives, with when it came. */
class Subscriber {
  readonly messages: { at: number; stanza: Element }[] = [];
  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("message")) this.messages.push({ at: Date.now(), stanza });
    });
  }

  static async connect(server: XmppTestServer, user: string, resource = "probe"): Promise<Subscriber> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource, caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new Subscriber(client);
  }

  async payload(child: Element, type: "get" | "set" = "get"): Promise<Element | undefined> {
    return (await this.client.request(xml("iq", { type, to: AGENT }, child), 10_000)).getChildElements()[0];
  }

  send(stanza: Element): Promise<void> {
    return this.client.entity.send(stanza);
  }

  /** The <resp> notifications for subscription `id`, with their arrival times. */
  notifications(id: string): { at: number; resp: Element; message: Element }[] {
    return this.messages.flatMap(({ at, stanza }) => stanza.getChildren("resp", SD).filter((resp) => resp.attrs.id === id).map((resp) => ({ at, resp, message: stanza })));
  }

  async until(id: string, count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.notifications(id).length < count) {
      if (Date.now() > deadline) throw new Error(`${count} notifications for ${id} did not come within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

/** The boiler's temperature in a <resp>, as a number. */
function temperature(resp: Element | undefined): number {
  const q = resp?.getChild("nd")?.getChild("ts")?.getChildByAttr("n", "temperature");
  return Number(q?.attrs.v);
}

async function rejection(promise: Promise<unknown>): Promise<{ type: string; condition: string; text: string }> {
  try {
    await promise;
  } catch (error) {
    const { type, condition, text } = error as { type?: string; condition?: string; text?: string };
    return { type: String(type), condition: String(condition), text: String(text) };
  }
  throw new Error("expected an iq error");
}

interface SlixEvent {
  event: string;
  answer?: string;
  answer_ns?: string;
  id_matches?: boolean;
  notifications?: number;
  fields?: { node: string | null; element: string; name: string; value: string; unit?: string; types: string[] }[];
  dropped?: unknown[];
  errors?: unknown[];
  result?: string;
  payload?: string[];
  after?: number;
  error?: string;
}

/** Runs test/faces/interop/slix_nf_events.py as `user` on NODE's FIELD; resolves with its JSON lines. */
function slixSubscription(server: XmppTestServer, user: string, node: string, field: string): Promise<SlixEvent[]> {
  return runSlixScript<SlixEvent>("slix_nf_events.py", server, user, AGENT, [node, field]);
}

for (const kind of serverKinds) {
  describe(`urn:nf:iot:events subscriptions on ${kind}`, () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    let viewer: Subscriber;

    before(async () => {
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", viewer: "viewer-secret", stranger: "stranger-secret" },
        pubsubAdmins: ["gw1@localhost"],
      });
      const { file } = writeAgentConfig(server, { operators: [{ jid: "viewer@localhost", role: "read" }] });
      agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
      viewer = await Subscriber.connect(server, "viewer");
    });
    after(async () => {
      await viewer?.close();
      if (agent) assert.equal(await agent.stop(), 0);
      await server?.stop();
    });

    it("announces urn:nf:iot:events:1.0 in disco#info", async () => {
      const info = await viewer.payload(xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
      assert.ok(info?.getChildren("feature").some((feature) => feature.attrs.var === EVENTS));
    });

    it("notifies a read operator when the temperature moves by `by` from the value it holds, and not before", async () => {
      const now = await viewer.payload(xml("req", { xmlns: SD, id: guid(), m: "true" }, xml("nd", { id: "boiler" }), xml("f", { n: "temperature" })));
      const held = temperature(now);
      assert.ok(Number.isFinite(held), String(now));
      const small = guid();
      const large = guid();
      assert.deepEqual((await viewer.payload(subscribe(small, {}, [{ n: "temperature", v: held.toFixed(2), by: "0.01" }])))?.attrs, { xmlns: SD, id: small });
      assert.deepEqual((await viewer.payload(subscribe(large, {}, [{ n: "temperature", v: held.toFixed(2), by: "50" }])))?.attrs, { xmlns: SD, id: large });
      // The simulated temperature moves by a few hundredths every second.
      await viewer.until(small, 1, 10_000);
      const [first] = viewer.notifications(small);
      assert.equal(first?.message.attrs.from, AGENT);
      assert.equal(first?.message.attrs.to, "viewer@localhost/probe");
      assert.ok(Math.abs(temperature(first?.resp) - held) >= 0.01 - 1e-9, `${temperature(first?.resp)} against ${held}`);
      assert.deepEqual(first?.resp.getChild("nd")?.getChild("ts")?.getChildElements().map((field) => String(field.attrs.n)), ["temperature"]);
      await sleep(1500);
      assert.deepEqual(viewer.notifications(large), [], "50 degrees is far off");
      for (const id of [small, large]) assert.equal(await viewer.payload(xml("unsubscribe", { xmlns: EVENTS, id }), "set"), undefined, "an empty result");
      const again = await rejection(viewer.payload(xml("unsubscribe", { xmlns: EVENTS, id: small }), "set"));
      assert.deepEqual([again.type, again.condition], ["modify", "item-not-found"]);
    });

    it("with req='true' accepts in the events namespace and reads at once", async () => {
      const id = guid();
      assert.deepEqual((await viewer.payload(subscribe(id, { req: "true" }, [{ n: "temperature", by: "1000", v: "500" }])))?.attrs, { xmlns: EVENTS, id });
      await viewer.until(id, 1, 5_000);
      assert.ok(Number.isFinite(temperature(viewer.notifications(id)[0]?.resp)));
      await viewer.payload(xml("unsubscribe", { xmlns: EVENTS, id }), "set");
    });

    it("ends the subscriptions of a subscriber that goes offline", async () => {
      const leaving = await Subscriber.connect(server, "viewer", "leaving");
      // Directed presence: the server tells the gateway when this resource goes.
      await leaving.send(xml("presence", { to: AGENT }));
      const id = guid();
      await leaving.payload(subscribe(id, { maxInt: "PT1S" }));
      await leaving.until(id, 1, 5_000);
      const mark = agent.logs.length;
      await leaving.close();
      const ended = await agent.waitForMessage("nf event subscriptions ended: presence", 10_000, mark);
      assert.deepEqual([ended.subscriber, ended.ended], ["viewer@localhost/leaving", 1]);
      const back = await Subscriber.connect(server, "viewer", "leaving");
      try {
        await sleep(1500);
        assert.deepEqual(back.notifications(id), [], "the same full JID again hears nothing of the old subscription");
      } finally {
        await back.close();
      }
    });

    it("serves an independent client subscribing as SensorClient.cs does: maxInt notifications it parses, none once unsubscribed", async () => {
      const events = await slixSubscription(server, "viewer", "boiler", "temperature");
      assert.deepEqual(events.filter((e) => e.event === "exception" || e.event === "failed_auth"), [], JSON.stringify(events));
      const subscription = events.find((e) => e.event === "subscription");
      assert.deepEqual([subscription?.answer, subscription?.answer_ns, subscription?.id_matches], ["accepted", SD, true], JSON.stringify(subscription));
      assert.ok((subscription?.notifications ?? 0) >= 2, `maxInt PT1S over 3.2 s: ${subscription?.notifications} notifications`);
      assert.deepEqual([subscription?.dropped, subscription?.errors], [[], []], "every field parses as the reference client parses it");
      assert.deepEqual(subscription?.fields?.map((f) => [f.node, f.element, f.name, f.unit, f.types]), [["boiler", "q", "temperature", "°C", ["m"]]]);
      const unsubscribed = events.find((e) => e.event === "unsubscribe");
      assert.deepEqual([unsubscribed?.result, unsubscribed?.payload, unsubscribed?.after], ["result", [], 0], JSON.stringify(unsubscribed));
    });

    it("refuses a stranger, malformed subscriptions, unknown nodes and fields", async () => {
      const stranger = await Subscriber.connect(server, "stranger");
      try {
        const refused = await rejection(stranger.payload(subscribe(guid(), { maxInt: "PT1S" })));
        assert.deepEqual(refused, { type: "cancel", condition: "forbidden", text: "stranger@localhost may not read this gateway" });
        await sleep(1500);
        assert.deepEqual(stranger.messages, []);
      } finally {
        await stranger.close();
      }
      const cases: [Element, string, RegExp][] = [
        [xml("subscribe", { xmlns: EVENTS }), "bad-request", /^id is required$/],
        [subscribe(guid(), { maxInt: "1s" }), "bad-request", /^maxInt must be an xs:duration/],
        [subscribe(guid(), {}, [{ n: "temperature", by: "-1" }]), "bad-request", /^by of <f> must be a number of at least 0/],
        [xml("subscribe", { xmlns: EVENTS, id: guid() }, xml("nd", { id: "nope" })), "item-not-found", /^no node nope$/],
        [subscribe(guid(), {}, [{ n: "colour" }]), "item-not-found", /^no field colour on boiler$/],
      ];
      for (const [element, condition, text] of cases) {
        const error = await rejection(viewer.payload(element));
        assert.equal(error.condition, condition, element.toString());
        assert.match(error.text, text);
      }
      assert.equal(agent.child.exitCode, null, "the agent is still running");
    });
  });
}

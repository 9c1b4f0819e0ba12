// The XEP-0060 sink without a server: how refusals are classified, and what a publisher-only account does.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import StanzaError from "@xmpp/middleware/lib/StanzaError.js";
import { xml, type Element } from "./client.ts";
import { NS_CHECK, PubsubSink, publishSeverity, type PubsubOptions } from "./pubsub.ts";
import { PublishError } from "../publisher.ts";
import type { Reading } from "../../lib/model.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_ERRORS = `${NS_PUBSUB}#errors`;

/** A stanza error as agent/xmpp/iq.ts makes it from a reply. */
function refusal(type: string, condition: string, application?: string, text?: string): StanzaError {
  return new StanzaError(condition, text, application ? xml(application, { xmlns: NS_ERRORS }) : undefined, type);
}

describe("publishSeverity", () => {
  const cases: [string, unknown, PublishError["severity"]][] = [
    ["payload-too-big (XEP-0060 §7.1.3.6)", refusal("modify", "not-acceptable", "payload-too-big"), "rejected"],
    ["invalid-payload (XEP-0060 §7.1.3.5)", refusal("modify", "bad-request", "invalid-payload"), "rejected"],
    ["payload-too-big of type wait: retry as it is", refusal("wait", "not-acceptable", "payload-too-big"), "transient"],
    ["forbidden", refusal("auth", "forbidden"), "fatal"],
    ["closed-node", refusal("cancel", "not-allowed", "closed-node"), "fatal"],
    ["item-forbidden: every item of the node would be refused", refusal("modify", "bad-request", "item-forbidden"), "fatal"],
    ["unsupported publish", refusal("cancel", "feature-not-implemented", "unsupported"), "fatal"],
    ["resource-constraint (wait)", refusal("wait", "resource-constraint"), "transient"],
    ["internal-server-error", refusal("cancel", "internal-server-error"), "transient"],
    ["item-not-found: the node is made again", refusal("cancel", "item-not-found"), "transient"],
    ["a timeout or a lost link (no stanza error)", new Error("timeout"), "transient"],
    ["a PublishError keeps its own severity", new PublishError("x", "rejected"), "rejected"],
  ];
  for (const [name, error, severity] of cases) {
    it(`${name} → ${severity}`, () => assert.equal(publishSeverity(error), severity));
  }
});

/** What the fake service is asked, as a short label, and how it answers. */
type Answer = Element | StanzaError;

class FakeService {
  readonly asked: string[] = [];
  constructor(private readonly answer: (label: string, iq: Element) => Answer) {}

  request = (iq: Element): Promise<Element> => {
    const label = describeIq(iq);
    this.asked.push(label);
    const answer = this.answer(label, iq);
    return answer instanceof StanzaError ? Promise.reject(answer) : Promise.resolve(answer);
  };
}

/** e.g. "publish+options xedge/gw1/gps#1", "create xedge/gw1/gps", "disco#info xedge/gw1/gps". */
function describeIq(iq: Element): string {
  const query = iq.getChild("query");
  if (query) return `disco#info${query.attrs.node ? ` ${String(query.attrs.node)}` : ""}`;
  const pubsub = iq.getChild("pubsub");
  const action = pubsub?.getChildElements()[0];
  if (!action) return "?";
  const node = String(action.attrs.node);
  if (action.name === "publish") return `publish${pubsub?.getChild("publish-options") ? "+options" : ""} ${node}#${String(action.getChild("item")?.attrs.id)}`;
  return `${action.name} ${node}`;
}

const result = () => xml("iq", { type: "result" });
const features = (...vars: string[]) => xml("iq", { type: "result" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }, ...vars.map((v) => xml("feature", { var: v }))));
const metadata = (values: Record<string, string>) =>
  xml(
    "iq",
    { type: "result" },
    xml(
      "query",
      { xmlns: "http://jabber.org/protocol/disco#info" },
      xml("identity", { category: "pubsub", type: "leaf" }),
      xml(
        "x",
        { xmlns: "jabber:x:data", type: "result" },
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#meta-data`)),
        ...Object.entries(values).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))),
      ),
    ),
  );

const reading = (sensorId: string, seq: number, text = "ok"): Reading => ({
  sensorId,
  seq,
  timestamp: new Date(Date.UTC(2025, 0, 5, 10, 0, seq)),
  fields: [{ type: "string", name: "status", value: text }],
});

function sink(service: FakeService, notices: string[]): PubsubSink {
  const options: PubsubOptions = { service: "pubsub.example", nodePrefix: "xedge/gw1", maxItems: 1000, accessModel: "open", gatewayJid: "gw1@example", notice: (m) => notices.push(m) };
  return new PubsubSink(service, options);
}

describe("PubsubSink as a publisher of someone else's node", () => {
  /** A node made by its owner with max_items 10; this account may publish to it, never create or configure it. */
  const publisherOnly = (label: string): Answer => {
    if (label === "disco#info") return features(`${NS_PUBSUB}#publish-options`);
    if (label.startsWith("publish+options")) return refusal("cancel", "conflict", "precondition-not-met");
    if (label.startsWith("create")) return refusal("auth", "forbidden");
    if (label.startsWith("disco#info ")) return metadata({ "pubsub#persist_items": "true", "pubsub#max_items": "10", "pubsub#access_model": "open" });
    if (label.startsWith("publish ")) return result();
    return refusal("cancel", "feature-not-implemented");
  };

  it("publishes without publish-options and says once per node what the node keeps that differs", async () => {
    const service = new FakeService(publisherOnly);
    const notices: string[] = [];
    const pubsub = sink(service, notices);
    await pubsub.publish(reading("gps", 1));
    await pubsub.publish(reading("gps", 2));
    assert.deepEqual(service.asked, [
      "disco#info",
      "publish+options xedge/gw1/gps#1",
      "create xedge/gw1/gps",
      "publish xedge/gw1/gps#1",
      "disco#info xedge/gw1/gps",
      "publish xedge/gw1/gps#2",
    ]);
    assert.equal(notices.length, 1);
    assert.match(notices[0] ?? "", /^pubsub\.example does not let gw1@example create or configure node xedge\/gw1\/gps \(forbidden\): publishing to it without publish-options/);
    assert.match(notices[0] ?? "", /differs from the pubsub settings: max_items 10 \(wanted 1000\)$/);

    // A new session (link lost and back) tries its options again, publishes, and does not say it again.
    pubsub.reset();
    await pubsub.publish(reading("gps", 3));
    assert.ok(service.asked.includes("publish xedge/gw1/gps#3"));
    assert.equal(notices.length, 1);
    // Another node is reported for itself.
    await pubsub.publish(reading("boiler", 1));
    assert.equal(notices.length, 2);
  });

  it("says which settings the service does not disclose (Prosody's meta-data has the access model only)", async () => {
    const service = new FakeService((label) =>
      label.startsWith("disco#info ") ? metadata({ "pubsub#access_model": "open", "pubsub#publish_model": "publishers" }) : publisherOnly(label),
    );
    const notices: string[] = [];
    await sink(service, notices).publish(reading("gps", 1));
    assert.match(notices[0] ?? "", /differs from the pubsub settings: nothing the service discloses; not disclosed by the service: persist_items \(wanted true\), max_items \(wanted 1000\)$/);
  });

  it("when the node does not exist and may not be created, fails saying what to grant", async () => {
    const service = new FakeService((label) => (label.startsWith("publish ") ? refusal("cancel", "item-not-found") : publisherOnly(label)));
    const error = await sink(service, []).publish(reading("gps", 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof PublishError);
    assert.equal(error.severity, "fatal");
    assert.match(error.message, /refused to let gw1@example create node xedge\/gw1\/gps \(forbidden\)/);
  });
});

describe("PubsubSink and a reading the service refuses for good", () => {
  const tooBig = (label: string): Answer => {
    if (label === "disco#info") return features(`${NS_PUBSUB}#publish-options`);
    if (label.includes("gps#1")) return refusal("modify", "not-acceptable", "payload-too-big");
    return result();
  };

  it("rejects that reading only: the next one, waiting for the node's first publish, goes out with the options", async () => {
    const service = new FakeService(tooBig);
    const pubsub = sink(service, []);
    const first = pubsub.publish(reading("gps", 1)).then(
      () => "published",
      (e: unknown) => (e instanceof PublishError ? `${e.severity}: ${e.message}` : String(e)),
    );
    const second = pubsub.publish(reading("gps", 2));
    assert.equal(await first, "rejected: pubsub.example refuses this reading for node xedge/gw1/gps for good (not-acceptable, payload-too-big)");
    await second;
    assert.deepEqual(service.asked, ["disco#info", "publish+options xedge/gw1/gps#1", "publish+options xedge/gw1/gps#2"]);
  });

  it("rejects a plain publish refused as invalid-payload", async () => {
    // A service without publish-options: the node is created, then published to plainly.
    const service = new FakeService((label) => {
      if (label === "disco#info") return features();
      if (label.includes("gps#2")) return refusal("modify", "bad-request", "invalid-payload", "schema");
      return result();
    });
    const pubsub = sink(service, []);
    await pubsub.publish(reading("gps", 1));
    const error = await pubsub.publish(reading("gps", 2)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof PublishError);
    assert.equal(error.severity, "rejected");
    assert.match(error.message, /\(bad-request, invalid-payload: schema\)$/);
    await pubsub.publish(reading("gps", 3));
    assert.deepEqual(service.asked, ["disco#info", "create xedge/gw1/gps", "publish xedge/gw1/gps#1", "publish xedge/gw1/gps#2", "publish xedge/gw1/gps#3"]);
  });
});

describe("PubsubSink.probe (xedge check)", () => {
  it("takes the first publish's road with a marked item that is no reading, then retracts it", async () => {
    const published: Element[] = [];
    const service = new FakeService((label, iq) => {
      if (label === "disco#info") return features(`${NS_PUBSUB}#publish-options`);
      if (label.startsWith("publish")) published.push(iq);
      return result();
    });
    const probe = await sink(service, []).probe("gps");
    assert.match(probe.itemId, /^xedge-check-\d+$/);
    assert.deepEqual(probe, { node: "xedge/gw1/gps", itemId: probe.itemId });
    assert.deepEqual(service.asked, ["disco#info", `publish+options xedge/gw1/gps#${probe.itemId}`, "retract xedge/gw1/gps"]);
    const payload = published[0]?.getChild("pubsub")?.getChild("publish")?.getChild("item")?.getChildElements()[0];
    assert.equal(payload?.attrs.xmlns, NS_CHECK);
  });

  it("on someone else's node publishes plainly and tells what the node keeps, as the agent will", async () => {
    const service = new FakeService((label) => {
      if (label === "disco#info") return features(`${NS_PUBSUB}#publish-options`);
      if (label.startsWith("publish+options")) return refusal("cancel", "conflict", "precondition-not-met");
      if (label.startsWith("create")) return refusal("auth", "forbidden");
      if (label.startsWith("disco#info ")) return metadata({ "pubsub#access_model": "whitelist" });
      return result();
    });
    const notices: string[] = [];
    const probe = await sink(service, notices).probe("gps");
    assert.deepEqual(service.asked.slice(2), ["create xedge/gw1/gps", `publish xedge/gw1/gps#${probe.itemId}`, "disco#info xedge/gw1/gps", "retract xedge/gw1/gps"]);
    assert.match(notices[0] ?? "", /does not let gw1@example create or configure node xedge\/gw1\/gps .*access_model whitelist \(wanted open\)/);
  });

  it("fails with the agent's own explanation when the node refuses this account", async () => {
    const service = new FakeService((label) => (label === "disco#info" ? features() : refusal("auth", "forbidden")));
    await assert.rejects(sink(service, []).probe("gps"), (error: unknown) => error instanceof PublishError && /refused to let gw1@example publish to node xedge\/gw1\/gps \(forbidden\): on Prosody add/.test(error.message));
  });

  it("says why its item stayed when the service refuses the retraction", async () => {
    const service = new FakeService((label) => (label === "disco#info" ? features() : label.startsWith("retract") ? refusal("auth", "forbidden") : result()));
    const probe = await sink(service, []).probe("gps");
    assert.equal(probe.retractError, "forbidden");
  });
});

describe("highestItemId", () => {
  const options: PubsubOptions = { service: "pubsub.example.net", nodePrefix: "xedge/gw1", maxItems: 256, gatewayJid: "gw1@example.net" };
  const items = (...names: string[]) =>
    xml("iq", { type: "result" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" }, ...names.map((name) => xml("item", { jid: "pubsub.example.net", name }))));

  it("is the highest numeric item id the node lists, ignoring others (a check item)", async () => {
    const asked: Element[] = [];
    const service = new FakeService((_, iq) => (asked.push(iq), items("7", "12", "xedge-check-1733000000000", "9")));
    assert.equal(await new PubsubSink(service, options).highestItemId("boiler"), 12);
    assert.deepEqual(asked.map((iq): unknown[] => [iq.attrs.to, iq.getChild("query")?.attrs.xmlns, iq.getChild("query")?.attrs.node]), [
      ["pubsub.example.net", "http://jabber.org/protocol/disco#items", "xedge/gw1/boiler"],
    ]);
  });

  it("is 0 for a node that does not exist, and names the node when the service refuses to list it", async () => {
    assert.equal(await new PubsubSink(new FakeService(() => refusal("cancel", "item-not-found")), options).highestItemId("boiler"), 0);
    await assert.rejects(new PubsubSink(new FakeService(() => refusal("auth", "forbidden")), options).highestItemId("boiler"), /cannot list the items of node xedge\/gw1\/boiler: forbidden/);
  });
});

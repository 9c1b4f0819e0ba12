// The gateway's presence tells its health to subscribed operators (show + status text), carries XEP-0115 caps
// that match its disco#info, and it answers XEP-0092 software version to operators only.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { startServer, serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";

const GATEWAY = "gw1@localhost/edge";
const NS_CAPS = "http://jabber.org/protocol/caps";
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** XEP-0115 §5.1 from a disco#info answer, written out independently of the agent's code. */
function verOf(query: Element): string {
  const octets = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const identities = query
    .getChildren("identity")
    .map((i) => [String(i.attrs.category), String(i.attrs.type), String(i.attrs["xml:lang"] ?? ""), String(i.attrs.name ?? "")])
    .sort((a, b) => octets(a[0]!, b[0]!) || octets(a[1]!, b[1]!) || octets(a[2]!, b[2]!))
    .map((parts) => `${parts.join("/")}<`);
  const features = query.getChildren("feature").map((f) => String(f.attrs.var)).sort(octets).map((f) => `${f}<`);
  return createHash("sha1").update([...identities, ...features].join("")).digest("base64");
}

const fromGateway = (stanza: Element) => stanza.attrs.from === GATEWAY && stanza.attrs.type === undefined;
const showOf = (stanza: Element) => stanza.getChildText("show") ?? "available";

for (const kind of serverKinds) {
  describe(`health presence, caps and version on ${kind}`, () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    let ops: Observer;
    before(async () => {
      server = await startServer(kind, {
        accounts: { gw1: "gw1-secret", ops: "ops-secret", stranger: "stranger-secret" },
        pubsubAdmins: ["gw1@localhost"],
      });
      const { file } = writeAgentConfig(server, {
        operators: [{ jid: "ops@localhost", role: "read" }],
        // attic's bus fails for its first 6 s, then recovers (the sampler's retry after that reads it again).
        sensors: [
          "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }",
          "  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 }, interval: 200ms, sim: { faults: [{ kind: eio, at: 0s, for: 6s }] } }",
        ].join("\n"),
      });
      agent = AgentProcess.start(file);
      await agent.waitForMessage("online", 30_000);
      ops = await Observer.connect(server, "ops", "ops-secret");
      // Servers deliver subscription answers to resources that fetched their roster.
      await ops.iq("get", "ops@localhost", xml("query", { xmlns: "jabber:iq:roster" }));
      await ops.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
    });
    after(async () => {
      await ops?.close();
      await agent?.stop();
      await server?.stop();
    });

    it("shows dnd naming the failing sensor, then available when it recovers", async () => {
      const failing = await ops.until(() => ops.presences.filter(fromGateway), (p) => p.some((s) => showOf(s) === "dnd"), 10_000, "a dnd presence");
      const dnd = failing.find((s) => showOf(s) === "dnd")!;
      assert.match(dnd.getChildText("status") ?? "", /^1 failing: attic · 2 sensors · buffer \d+ · /);
      const recovered = await ops.until(
        () => ops.presences.filter(fromGateway),
        (p) => showOf(p.at(-1)!) === "available",
        20_000,
        "the gateway available again",
      );
      assert.match(recovered.at(-1)!.getChildText("status") ?? "", /^2 sensors · buffer \d+ · (published (\d+ s ago|just now)|nothing published yet)$/);
      assert.ok(recovered.at(-1)!.getChild("show") === undefined, "available has no <show>");
    });

    it("carries caps whose ver is the hash of its disco#info (which says it sends caps), answered on node#ver too", async () => {
      const presence = ops.presences.filter(fromGateway).at(-1)!;
      const caps = presence.getChild("c", NS_CAPS);
      assert.ok(caps, "a <c/> in the presence");
      assert.equal(caps.attrs.hash, "sha-1");
      const node = `${String(caps.attrs.node)}#${String(caps.attrs.ver)}`;
      const reply = await ops.iq("get", GATEWAY, xml("query", { xmlns: "http://jabber.org/protocol/disco#info", node }));
      const query = reply.getChild("query", "http://jabber.org/protocol/disco#info")!;
      assert.equal(query.attrs.node, node);
      assert.equal(verOf(query), caps.attrs.ver);
      const plain = await ops.iq("get", GATEWAY, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
      assert.equal(verOf(plain.getChild("query")!), caps.attrs.ver);
      const features = query.getChildren("feature").map((f) => String(f.attrs.var));
      assert.ok(features.includes("jabber:iq:version"));
      // XEP-0115: an entity that sends caps announces the feature; getForm's forms are XEP-0336 dynamic forms.
      assert.ok(features.includes(NS_CAPS), features.join(" "));
      assert.ok(features.includes("urn:xmpp:xdata:dynamic"), features.join(" "));
    });

    it("answers software version to an operator and refuses a stranger", async () => {
      const reply = await ops.iq("get", GATEWAY, xml("query", { xmlns: "jabber:iq:version" }));
      const query = reply.getChild("query", "jabber:iq:version")!;
      assert.equal(query.getChildText("name"), "xedge");
      assert.equal(query.getChildText("version"), PACKAGE_VERSION);
      assert.match(query.getChildText("os") ?? "", /^Linux (x64|arm64|arm|ia32)$/);
      const stranger = await Observer.connect(server, "stranger", "stranger-secret");
      try {
        await assert.rejects(stranger.iq("get", GATEWAY, xml("query", { xmlns: "jabber:iq:version" })), (error: { condition?: string }) => error.condition === "forbidden");
      } finally {
        await stranger.close();
      }
    });
  });
}

// The alert messages' face: what an alert looks like on the wire, and an alert that comes back as an error
// (the operator's server unreachable over federation) logged as not delivered, never taken for the agent's own link.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { alertSender, registerAlertMessages } from "./alert-messages.ts";
import { xml, type Element } from "./client.ts";
import { Bounces, type Bounce, type UnpromptedKind } from "./link/bounces.ts";

/** The connection's part the face uses, with the connection's own bounce routing in front of its stanzas. */
class FakeConnection {
  readonly events = new EventEmitter<{ online: []; stanza: [stanza: Element] }>();
  readonly sent: Element[] = [];
  private readonly bounces = new Bounces();
  on(event: "online", listener: () => void): void {
    this.events.on(event, listener);
  }
  sendUnprompted(kind: UnpromptedKind, stanza: Element): Promise<boolean> {
    this.sent.push(this.bounces.mark(kind, stanza));
    return Promise.resolve(true);
  }
  onBounce(kind: UnpromptedKind, listener: (bounce: Bounce) => void): void {
    this.bounces.on(kind, listener);
  }
  /** A stanza from the server, as the connection takes it. */
  receive(stanza: Element): void {
    if (!this.bounces.route(stanza)) this.events.emit("stanza", stanza);
  }
}

function setUp() {
  const connection = new FakeConnection();
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  let linkUps = 0;
  const delivery = { linkUp: () => Promise.resolve(void (linkUps += 1)) };
  registerAlertMessages(connection, { delivery, log: { warn: (message, fields) => void warnings.push({ message, fields }) } });
  return { connection, warnings, linkUps: () => linkUps };
}

/** What a server sends back for a stanza it could not route: the original's id, from and to swapped. */
function bounce(original: Element, condition: string): Element {
  return xml(
    "message",
    { type: "error", id: String(original.attrs.id), from: String(original.attrs.to), to: "gw1@a.example/edge" },
    xml("error", { type: "cancel" }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })),
  );
}

describe("alert messages", () => {
  it("sends a chat message with an id that marks it as an alert", async () => {
    const connection = new FakeConnection();
    assert.equal(await alertSender(connection)("ops@b.example", "⚠ boiler temperature 31 °C: above 30 °C"), true);
    const [message] = connection.sent;
    assert.equal(message?.attrs.to, "ops@b.example");
    assert.equal(message?.attrs.type, "chat");
    assert.match(String(message?.attrs.id), /^alert-[0-9a-f-]{36}$/);
    assert.equal(message?.getChildText("body"), "⚠ boiler temperature 31 °C: above 30 °C");
  });

  it("logs an alert that bounces (remote-server-not-found) as not delivered, and nothing else happens", async () => {
    const { connection, warnings, linkUps } = setUp();
    await alertSender(connection)("ops@b.example", "⚠ alert");
    const [alert] = connection.sent;
    assert.ok(alert);
    connection.receive(bounce(alert, "remote-server-not-found"));
    assert.deepEqual(warnings, [{ message: "alert not delivered", fields: { to: "ops@b.example", condition: "remote-server-not-found" } }]);
    assert.equal(connection.sent.length, 1, "the alert is not sent again");
    assert.equal(linkUps(), 0, "a bounce is not the agent's link coming back");
  });

  it("leaves other errors alone: a bounced chat reply, an alert id without type error", () => {
    const { connection, warnings } = setUp();
    connection.receive(xml("message", { type: "error", id: "reply-1", from: "ops@b.example/phone" }, xml("error", { type: "cancel" })));
    connection.receive(xml("message", { type: "chat", id: "alert-1", from: "ops@b.example/phone" }, xml("body", {}, "thanks")));
    assert.deepEqual(warnings, []);
  });

  it("hands the queued alerts over whenever the link comes online", () => {
    const { connection, linkUps } = setUp();
    connection.events.emit("online");
    assert.equal(linkUps(), 1);
  });
});

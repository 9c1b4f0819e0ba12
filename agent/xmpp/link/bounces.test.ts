// The routing of bounces: an error that comes back for a marked stanza reaches the listener of its kind, with who
// could not be reached and whether for good; anything else is left to the faces' stanza listeners.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "../client.ts";
import { Bounces, isPermanentCondition, type Bounce } from "./bounces.ts";

/** What a server sends back for a stanza it could not deliver: the original's id, from and to swapped. */
function errorFor(original: Element, condition: string, name = original.name): Element {
  return xml(
    name,
    { type: "error", id: String(original.attrs.id), from: String(original.attrs.to), to: "gw1@a.example/edge" },
    xml("error", { type: "cancel" }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })),
  );
}

function setUp() {
  const bounces = new Bounces();
  const heard: Record<string, Bounce[]> = { alert: [], event: [], notice: [] };
  bounces.on("alert", (bounce) => heard.alert?.push(bounce));
  bounces.on("event", (bounce) => heard.event?.push(bounce));
  bounces.on("notice", (bounce) => heard.notice?.push(bounce));
  return { bounces, heard };
}

describe("bounces", () => {
  it("marks a stanza with an id of its kind, a new one each time", () => {
    const { bounces } = setUp();
    const first = bounces.mark("event", xml("message", { to: "ops@b.example/phone" }));
    const second = bounces.mark("event", xml("message", { to: "ops@b.example/phone" }));
    assert.match(String(first.attrs.id), /^event-[0-9a-f-]{36}$/);
    assert.notEqual(first.attrs.id, second.attrs.id);
  });

  it("routes an error to the listener of the kind that sent the stanza, and only to it", () => {
    const { bounces, heard } = setUp();
    const event = bounces.mark("event", xml("message", { to: "ops@b.example/phone" }));
    const alert = bounces.mark("alert", xml("message", { to: "ops@c.example", type: "chat" }));
    const notice = bounces.mark("notice", xml("message", { to: "tech@d.example", type: "chat" }));
    assert.equal(bounces.route(errorFor(event, "remote-server-not-found")), true);
    assert.equal(bounces.route(errorFor(alert, "remote-server-timeout")), true);
    assert.equal(bounces.route(errorFor(notice, "service-unavailable")), true);
    assert.deepEqual(heard, {
      event: [{ jid: "ops@b.example/phone", condition: "remote-server-not-found", permanent: true }],
      alert: [{ jid: "ops@c.example", condition: "remote-server-timeout", permanent: false }],
      notice: [{ jid: "tech@d.example", condition: "service-unavailable", permanent: true }],
    });
  });

  it("leaves alone what is not an error for a marked stanza", () => {
    const { bounces, heard } = setUp();
    const event = bounces.mark("event", xml("message", { to: "ops@b.example/phone" }));
    const notErrors = [
      xml("message", { id: String(event.attrs.id), from: "ops@b.example/phone", type: "chat" }, xml("body", {}, "thanks")),
      errorFor(xml("message", { id: "reply-1", to: "ops@b.example/phone" }), "service-unavailable"),
      errorFor(xml("message", { id: "chat-1", to: "ops@b.example/phone" }), "service-unavailable"),
      errorFor(xml("message", { id: "alert", to: "ops@b.example/phone" }), "service-unavailable"),
      errorFor(xml("message", { id: "alertx", to: "ops@b.example/phone" }), "service-unavailable"),
      errorFor(xml("message", { to: "ops@b.example/phone" }), "service-unavailable"),
      // An iq's error is its caller's answer.
      errorFor(xml("iq", { id: String(event.attrs.id), to: "ops@b.example/phone" }), "service-unavailable"),
    ];
    for (const stanza of notErrors) assert.equal(bounces.route(stanza), false, stanza.toString());
    assert.deepEqual(heard, { alert: [], event: [], notice: [] });
  });

  it("routes a presence error too, and an error without a condition as undefined-condition", () => {
    const { bounces, heard } = setUp();
    const event = bounces.mark("event", xml("message", { to: "ops@b.example/phone" }));
    assert.equal(bounces.route(errorFor(event, "gone", "presence")), true);
    assert.equal(bounces.route(xml("message", { type: "error", id: String(event.attrs.id), from: "ops@b.example/phone" })), true);
    assert.deepEqual(
      heard.event?.map(({ condition, permanent }) => [condition, permanent]),
      [
        ["gone", true],
        ["undefined-condition", false],
      ],
    );
  });

  it("takes the conditions that say a recipient is not there as permanent, the others as passing", () => {
    for (const condition of ["item-not-found", "service-unavailable", "remote-server-not-found", "gone"]) assert.equal(isPermanentCondition(condition), true, condition);
    for (const condition of ["remote-server-timeout", "recipient-unavailable", "resource-constraint", "policy-violation", "internal-server-error", "undefined-condition"]) {
      assert.equal(isPermanentCondition(condition), false, condition);
    }
  });

  it("has one listener per kind", () => {
    const { bounces } = setUp();
    assert.throws(() => bounces.on("alert", () => undefined), /bounces of alert already have a listener/);
  });
});

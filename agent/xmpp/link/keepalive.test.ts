// The keepalive against a fake link and a fake session: which pings go out, and which silence counts as death.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { TimeoutError } from "@xmpp/events";
import StanzaError from "@xmpp/middleware/lib/StanzaError.js";
import type { Element } from "@xmpp/xml";
import { xml } from "../client.ts";
import { Keepalive } from "./keepalive.ts";

interface FakeSession {
  pings: { to: string; timeoutMs: number }[];
  request(iq: Element, timeoutMs: number): Promise<Element>;
}

/** A session whose every ping is answered by `answer` (a reply, or a rejection as the requester would give). */
function session(answer: () => Promise<Element>): FakeSession {
  const pings: FakeSession["pings"] = [];
  return {
    pings,
    request: (iq, timeoutMs) => {
      assert.ok(iq.getChild("ping", "urn:xmpp:ping"), iq.toString());
      pings.push({ to: String(iq.attrs.to), timeoutMs });
      return answer();
    },
  };
}

function link(live: FakeSession | undefined) {
  const lost: { session: FakeSession; reason: string }[] = [];
  return { state: { live: () => live, lost: (dead: FakeSession, reason: string) => void lost.push({ session: dead, reason }) }, lost };
}

const options = () => ({ pingIntervalMs: 1000, pingTimeoutMs: 250, domain: "example.net" });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Keepalive", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setInterval"] }));
  afterEach(() => mock.timers.reset());

  it("pings the server once per interval while the session is live, and an answer keeps it", async () => {
    const live = session(() => Promise.resolve(xml("iq", { type: "result" })));
    const { state, lost } = link(live);
    const keepalive = new Keepalive(options, state);
    keepalive.start(live);
    mock.timers.tick(999);
    assert.equal(live.pings.length, 0);
    mock.timers.tick(1);
    mock.timers.tick(1000);
    await settle();
    assert.deepEqual(live.pings, [{ to: "example.net", timeoutMs: 250 }, { to: "example.net", timeoutMs: 250 }]);
    assert.deepEqual(lost, []);
    keepalive.stop();
    mock.timers.tick(5000);
    assert.equal(live.pings.length, 2);
  });

  it("reports the session lost when a ping gets no answer in time", async () => {
    const live = session(() => Promise.reject(new TimeoutError("no reply")));
    const { state, lost } = link(live);
    new Keepalive(options, state).start(live);
    mock.timers.tick(1000);
    await settle();
    assert.deepEqual(lost, [{ session: live, reason: "no answer to a ping within 250 ms" }]);
  });

  it("takes an error reply as an answer: the link is alive", async () => {
    const live = session(() => Promise.reject(new StanzaError("service-unavailable", undefined, undefined, "cancel")));
    const { state, lost } = link(live);
    new Keepalive(options, state).start(live);
    mock.timers.tick(1000);
    await settle();
    assert.equal(live.pings.length, 1);
    assert.deepEqual(lost, []);
  });

  it("does not ping on a session that is no longer the live one", async () => {
    const old = session(() => Promise.reject(new TimeoutError("no reply")));
    const { state, lost } = link(session(() => Promise.resolve(xml("iq", { type: "result" }))));
    new Keepalive(options, state).start(old);
    mock.timers.tick(1000);
    await settle();
    assert.deepEqual(old.pings, []);
    assert.deepEqual(lost, []);
  });
});

// The gateway's presence: the health as show + status, with the active alerts first, and how soon a change of
// alerts is announced.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { ALERT_PRESENCE_MS, healthPresence, registerPresence } from "./presence.ts";
import type { Element } from "./client.ts";
import type { AlertEvent } from "../alerts.ts";

const info = { identities: [{ category: "client", type: "bot" }], features: ["urn:xmpp:iot:sensordata"] };

describe("healthPresence", () => {
  it("shows the health alone while no alert is active", () => {
    const presence = healthPresence({ show: "available", text: "2 sensors · buffer 0 · published just now" }, info);
    assert.equal(presence.getChild("show"), undefined);
    assert.equal(presence.getChildText("status"), "2 sensors · buffer 0 · published just now");
  });

  it("puts the active alerts first and makes an available gateway away; a failing one stays dnd", () => {
    const alerts = "1 alert: boiler temperature above 30 °C";
    const away = healthPresence({ show: "available", text: "2 sensors · buffer 0" }, info, alerts);
    assert.equal(away.getChildText("show"), "away");
    assert.equal(away.getChildText("status"), "1 alert: boiler temperature above 30 °C · 2 sensors · buffer 0");
    assert.equal(healthPresence({ show: "dnd", text: "1 failing: attic" }, info, alerts).getChildText("show"), "dnd");
  });
});

/** Just enough of the connection for the presence face: it records each presence sent on updatePresence(). */
class FakeConnection {
  readonly bareJid = "gw1@example.net";
  readonly events = new EventEmitter<{ online: []; stanza: [stanza: Element] }>();
  readonly sent: string[] = [];
  private build: (() => Element) | undefined;
  on(event: "online" | "stanza", listener: (stanza: Element) => void): void {
    this.events.on(event, listener);
  }
  route(): void {}
  addDiscoNodes(): void {}
  send(): Promise<boolean> {
    return Promise.resolve(true);
  }
  request(): Promise<Element> {
    return Promise.reject(new Error("offline"));
  }
  discoInfo() {
    return info;
  }
  setPresence(build: () => Element): void {
    this.build = build;
  }
  updatePresence(): void {
    if (this.build) this.sent.push(this.build().getChildText("status") ?? "");
  }
}

describe("the presence face", () => {
  it(`announces a change of alerts soon, then at most every ${ALERT_PRESENCE_MS} ms with the latest`, async () => {
    const connection = new FakeConnection();
    const active: AlertEvent[] = [];
    const listeners: (() => void)[] = [];
    const changed = () => listeners.forEach((listener) => listener());
    const fired = (ruleId: string): AlertEvent => ({ kind: "fired", ruleId, sensorId: "boiler", field: "temperature", value: "31 °C", threshold: "above 30 °C", since: new Date(), notify: [] });
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const face = registerPresence(connection, {
      desk: { for: (requester) => ({ admitted: false, requester, control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")) } }) },
      health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date() },
      log: quiet,
      alerts: { active: () => active, onChange: (listener) => listeners.push(listener) },
    });
    try {
      active.push(fired("a"));
      changed();
      active.push(fired("b"));
      changed();
      await sleep(50);
      assert.deepEqual(connection.sent, ["2 alerts: boiler temperature above 30 °C, boiler temperature above 30 °C · 0 sensors · buffer 0 · nothing published yet"]);
      active.splice(0);
      changed();
      await sleep(ALERT_PRESENCE_MS / 2);
      assert.equal(connection.sent.length, 1, "not again within the interval");
      await sleep(ALERT_PRESENCE_MS / 2 + 100);
      assert.deepEqual(connection.sent.slice(1), ["0 sensors · buffer 0 · nothing published yet"]);
    } finally {
      face.stop();
    }
  });
});

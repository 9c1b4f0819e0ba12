// The gateway's presence stanza: the health as show + status, with the active alerts first.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { healthPresence } from "./presence.ts";

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

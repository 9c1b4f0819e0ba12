// The console reads what the agent writes: the agent's own renderings (agent/xmpp/fields.ts, the pubsub payload
// and the readout answer with its int twins) parsed by the console's reader, and the health line's alerts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client-core";
import { NS_SENSORDATA as AGENT_NS, nodeElement, readingPayload } from "../../agent/xmpp/fields.ts";
import type { Reading } from "../../lib/model.ts";
import { alertsOf, controlType, failuresOf, NS_SENSORDATA, readingsOf } from "../../console/sensordata.ts";

const READING: Reading = {
  sensorId: "rain",
  seq: 42,
  timestamp: new Date("2026-11-21T10:00:00.000Z"),
  fields: [
    { name: "count", type: "int", value: 118 },
    { name: "rate", type: "numeric", value: 0.28, unit: "mm/h", decimals: 2 },
    { name: "level", type: "numeric", value: 21.5, unit: "°C", decimals: 2 },
    { name: "raining", type: "boolean", value: true },
    { name: "note", type: "string", value: "ok" },
  ],
};

describe("console: what the agent writes", () => {
  it("speaks the agent's namespace", () => assert.equal(NS_SENSORDATA, AGENT_NS));

  it("reads a pubsub payload: every field with its value, the text as written, and the unit", () => {
    const [reading, ...more] = readingsOf(readingPayload(READING));
    assert.equal(more.length, 0);
    assert.equal(reading?.nodeId, "rain");
    assert.equal(reading?.time, Date.parse("2026-11-21T10:00:00.000Z"));
    assert.deepEqual(
      reading?.fields.map(({ name, value, text, unit }) => [name, value, text, unit]),
      [
        ["count", 118, "118", ""],
        ["rate", 0.28, "0.28", "mm/h"],
        ["level", 21.5, "21.50", "°C"],
        ["raining", true, "true", ""],
        ["note", "ok", "ok", ""],
      ],
    );
  });

  it("keeps one of a readout answer's numeric/int twins, and sees an actuator's writable state", () => {
    const answer = nodeElement(
      { sensorId: "pump", timestamp: READING.timestamp, fields: [{ name: "cycles", type: "int", value: 7 }, { name: "state", type: "boolean", value: false, flags: { writable: true } }] },
      { portableTypes: true },
    );
    const names = answer.getChild("timestamp")?.children.flatMap((child) => (typeof child === "string" ? [] : [child.attrs["name"] as string]));
    assert.deepEqual(names, ["cycles", "cycles", "state"], "the agent sends the twin");
    const [reading] = readingsOf(xml("fields", { xmlns: NS_SENSORDATA, seqnr: "1" }, answer));
    assert.deepEqual(
      reading?.fields.map(({ name, value, writable }) => [name, value, writable]),
      [
        ["cycles", 7, false],
        ["state", false, true],
      ],
    );
  });

  it("sets a writable field with the XEP-0325 type of what the readout showed", () => {
    const lamp = nodeElement(
      {
        sensorId: "lamp",
        timestamp: READING.timestamp,
        fields: [
          { name: "duty", type: "int", value: 1024, flags: { writable: true } },
          { name: "percent", type: "numeric", value: 25, unit: "%", decimals: 2, flags: { writable: true } },
          { name: "on", type: "boolean", value: true, flags: { writable: true } },
          { name: "mode", type: "string", value: "auto", flags: { writable: true } },
        ],
      },
      { portableTypes: true },
    );
    const [reading] = readingsOf(xml("fields", { xmlns: NS_SENSORDATA, seqnr: "1" }, lamp));
    // A readout's int comes as numeric first (its twin is dropped): the agent takes a whole double for an int.
    assert.deepEqual(
      reading?.fields.map((field) => [field.name, controlType(field)]),
      [
        ["duty", "double"],
        ["percent", "double"],
        ["on", "boolean"],
        ["mode", "string"],
      ],
    );
    const item = readingPayload({ ...READING, fields: [{ name: "duty", type: "int", value: 7 }, { name: "pulses", type: "int", value: 2 ** 40 }] });
    assert.deepEqual(readingsOf(item)[0]?.fields.map(controlType), ["int", "long"], "a pubsub item's int and long stay so");
  });

  it("reads a failure's node errors", () => {
    const failure = xml("failure", { xmlns: NS_SENSORDATA, seqnr: "3" }, xml("error", { nodeId: "gps", timestamp: "2026-11-21T10:00:00Z" }, "no fix"));
    assert.deepEqual([...failuresOf(failure)], [["gps", "no fix"]]);
  });

  it("takes the active alerts from the health line the presence carries", () => {
    assert.deepEqual(alertsOf("2 alerts: tank rail above 80 V, tank rail above 50 V · 1 sensor · buffer 0"), ["tank rail above 80 V", "tank rail above 50 V"]);
    assert.deepEqual(alertsOf("1 alert: greenhouse temperature above -40 °C · 1 sensor"), ["greenhouse temperature above -40 °C"]);
    assert.deepEqual(alertsOf("9 sensors · buffer 0 · published 3 s ago"), []);
  });
});

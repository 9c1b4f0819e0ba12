// Watches without XMPP: the chat parser of watch / watches / unwatch, and each command answered through the desk
// over a Watches kept in a fake store: who may watch, unknown sensors and fields, the limit, whose watches one sees
// and may remove, the rules handed to the engine, and watches taken up again after a restart.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Authz } from "../authz.ts";
import type { AlertRule } from "../alerts.ts";
import { OperatorDesk } from "./desk.ts";
import { ChatCommands, parseCommand, renderHelp } from "./chat-commands.ts";
import { MAX_WATCHES, Watches, type StoredWatch, type WatchSpec, type WatchStore } from "./watches.ts";

const NOW = new Date("2025-01-05T12:03:43.000Z");

describe("parsing watch, watches and unwatch", () => {
  it("reads > and <, the words above and below, an optional for, and failing", () => {
    assert.deepEqual(parseCommand("watch boiler temperature > 30 for 5m"), {
      name: "watch",
      request: { sensorId: "boiler", field: "temperature", condition: { kind: "above", threshold: 30 }, forMs: 300_000 },
    });
    assert.deepEqual(parseCommand("Watch Boiler temperature<-2.5"), {
      name: "watch",
      request: { sensorId: "Boiler", field: "temperature", condition: { kind: "below", threshold: -2.5 }, forMs: 0 },
    });
    assert.deepEqual(parseCommand("watch tank valvePosition above 2 FOR 30s"), {
      name: "watch",
      request: { sensorId: "tank", field: "valvePosition", condition: { kind: "above", threshold: 2 }, forMs: 30_000 },
    });
    assert.deepEqual(parseCommand("watch cellar humidity below 40"), {
      name: "watch",
      request: { sensorId: "cellar", field: "humidity", condition: { kind: "below", threshold: 40 }, forMs: 0 },
    });
    assert.deepEqual(parseCommand("watch cellar failing for 1m"), { name: "watch", request: { sensorId: "cellar", condition: { kind: "failing" }, forMs: 60_000 } });
    assert.deepEqual(parseCommand("watches"), { name: "watches" });
    assert.deepEqual(parseCommand("unwatch 12"), { name: "unwatch", id: 12 });
  });

  it("explains what is wrong with the usage", () => {
    const usage = "Usage: watch SENSOR FIELD > VALUE [for DURATION]";
    assert.deepEqual(parseCommand("watch boiler"), { name: "usage", text: `watch needs a sensor, a field, > or < and a number, or a sensor and the word failing. ${usage}` });
    assert.deepEqual(parseCommand("watch boiler temperature > warm"), { name: "usage", text: `watch needs a sensor, a field, > or < and a number, or a sensor and the word failing. ${usage}` });
    assert.deepEqual(parseCommand("watch boiler temperature > 30 for 2d"), { name: "usage", text: `'2d' is not a duration such as 30s, 5m or 2h (at most 1d). ${usage}` });
    assert.deepEqual(parseCommand("watch boiler temperature > 30 for ever"), { name: "usage", text: `'ever' is not a duration such as 30s, 5m or 2h (at most 1d). ${usage}` });
    assert.deepEqual(parseCommand("unwatch three"), { name: "usage", text: "unwatch needs the number of a watch. Usage: unwatch ID" });
    assert.deepEqual(parseCommand("watches all"), { name: "usage", text: "watches takes no argument. Usage: watches" });
  });

  it("help lists them for every role", () => {
    const help = renderHelp("read");
    for (const usage of ["watch SENSOR FIELD > VALUE [for DURATION]", "watches", "unwatch ID"]) assert.ok(help.includes(usage), help);
  });
});

/** Watches over a store in memory: the ids it gave, and the rules the engine was last handed. */
function setup(kept: StoredWatch[] = []) {
  let nextId = Math.max(0, ...kept.map((watch) => watch.id)) + 1;
  const store: WatchStore = {
    saveWatch: (watch: WatchSpec) => {
      const id = nextId++;
      kept.push({ id, ...watch });
      return Promise.resolve(id);
    },
    deleteWatch: (id) => {
      kept.splice(kept.findIndex((watch) => watch.id === id), 1);
      return Promise.resolve();
    },
    watches: () => Promise.resolve([...kept]),
  };
  const engine: { rules: AlertRule[] } = { rules: [] };
  const watches: Watches = new Watches({
    store,
    sensorIds: () => ["boiler", "cellar"],
    fieldsOf: (id) => (id === "boiler" ? ["temperature", "humidity", "pressure"] : []),
    changed: () => (engine.rules = watches.rules()),
    now: () => NOW.getTime(),
  });
  const authz = new Authz([
    { jid: "ops@example.net", role: "control" },
    { jid: "viewer@example.net", role: "read" },
    { jid: "root@example.net", role: "admin" },
  ]);
  const nothing = () => Promise.resolve({ ok: false as const, kind: "forbidden" as const, text: "no", applied: [] });
  const desk = new OperatorDesk({
    authz,
    readout: { nodeIds: ["boiler", "cellar"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
    control: { set: nothing, getForm: nothing, parametersOf: () => [] },
    health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: NOW },
    watches,
    activeAlerts: () => [{ kind: "fired", ruleId: "watch:1", sensorId: "boiler", field: "temperature", value: "31.00 °C", threshold: "above 30 °C", since: NOW, notify: [] }],
  });
  const chat = new ChatCommands({ now: () => NOW, timeZone: "UTC" });
  const say = (from: string, body: string) => {
    const session = desk.for(from);
    assert.ok(session.admitted, `${from} is an operator`);
    return chat.answer(session, body);
  };
  return { say, watches, engine, kept };
}

describe("watches through the chat", () => {
  it("a read operator sets a watch; it becomes a rule notifying only them", async () => {
    const { say, engine } = setup();
    assert.equal(
      await say("viewer@example.net/phone", "watch Boiler Temperature > 30 for 5m"),
      "Watching 1: boiler temperature above 30 for 5m. You get a message when it fires and when it clears; 'unwatch 1' ends it.",
    );
    assert.deepEqual(engine.rules, [
      { id: "watch:1", sensorId: "boiler", field: "temperature", condition: { kind: "above", threshold: 30 }, hysteresis: 0, forMs: 300_000, notify: [{ jid: "viewer@example.net" }] },
    ]);
    assert.equal(await say("viewer@example.net/phone", "watch cellar failing"), "Watching 2: cellar failing. You get a message when it fires and when it clears; 'unwatch 2' ends it.");
  });

  it("names the known sensors or fields when one is unknown", async () => {
    const { say } = setup();
    assert.equal(await say("ops@example.net/x", "watch attic temperature > 30"), "Not watching: no sensor 'attic'. Sensors: boiler, cellar.");
    assert.equal(await say("ops@example.net/x", "watch boiler temp > 30"), "Not watching: boiler has no field 'temp'. Its fields: temperature, humidity, pressure.");
  });

  it("lists one's own watches, marks the fired ones; an admin sees everyone's with the owner", async () => {
    const { say } = setup();
    await say("viewer@example.net/phone", "watch boiler temperature > 30");
    await say("ops@example.net/x", "watch boiler humidity < 20 for 10m");
    assert.equal(await say("viewer@example.net/laptop", "watches"), "Your watches:\n  1: boiler temperature above 30 · FIRED (set 12:03:43)");
    assert.equal(
      await say("root@example.net/x", "watches"),
      "Watches of every operator:\n  1: boiler temperature above 30 · FIRED · viewer@example.net (set 12:03:43)\n  2: boiler humidity below 20 for 10m · ops@example.net (set 12:03:43)",
    );
    assert.equal(await say("ops@example.net/x", "unwatch 1"), "Sorry, you have no watch 1; send 'watches' for yours.");
    assert.equal(await say("ops@example.net/x", "unwatch 2"), "Stopped watch 2: boiler humidity below 20 for 10m.");
    assert.equal(await say("ops@example.net/x", "watches"), "No watches. Set one with: watch SENSOR FIELD > VALUE [for DURATION] (at most 20).");
    assert.equal(await say("root@example.net/x", "unwatch 1"), "Stopped watch 1: boiler temperature above 30.");
  });

  it(`allows ${MAX_WATCHES} watches per operator`, async () => {
    const { say } = setup();
    for (let i = 0; i < MAX_WATCHES; i++) assert.match(await say("ops@example.net/x", `watch boiler temperature > ${i}`), /^Watching /);
    assert.equal(await say("ops@example.net/x", "watch boiler temperature > 99"), "Not watching: you have 20 watches, the most one operator may set; unwatch one first.");
    assert.match(await say("viewer@example.net/x", "watch boiler temperature > 99"), /^Watching 21: /, "the limit is per operator");
  });

  it("takes the kept watches up again after a restart", async () => {
    const first = setup();
    await first.say("viewer@example.net/phone", "watch boiler temperature > 30");
    const again = setup(first.kept);
    await again.watches.start();
    assert.deepEqual(again.engine.rules.map((rule) => [rule.id, rule.notify]), [["watch:1", [{ jid: "viewer@example.net" }]]]);
    assert.equal(await again.say("viewer@example.net/phone", "watch boiler pressure < 900"), "Watching 2: boiler pressure below 900. You get a message when it fires and when it clears; 'unwatch 2' ends it.");
  });

  it("status lists the active alerts", async () => {
    const { say } = setup();
    const lines = (await say("viewer@example.net/x", "status")).split("\n");
    assert.deepEqual(lines.slice(-2), ["alerts: 1 active", "  ⚠ boiler temperature 31.00 °C: above 30 °C since 12:03:43 (watch 1)"]);
  });
});

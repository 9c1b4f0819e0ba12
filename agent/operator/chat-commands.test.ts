// The operator layer without XMPP: chat parsing, typo suggestions, sparklines, time and status formatting, the
// history summary, and each chat command run through the desk over a Readout and Control with fakes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ActuatorDevice } from "../../drivers/driver.ts";
import { Readout } from "../readout.ts";
import { Control, type AuditEntry } from "../control.ts";
import type { ConfigAuditEntry } from "../remote-config.ts";
import type { Field } from "../../lib/model.ts";
import type { SensorState } from "../sampler.ts";
import type { StoredReading } from "../store.ts";
import type { Logger } from "../log.ts";
import { Authz } from "../authz.ts";
import { OperatorDesk } from "./desk.ts";
import { TimedActions, type TimedAction } from "../timed-actions.ts";
import {
  ChatCommands,
  bodyLimit,
  closestCommand,
  DELAYED_TEXT,
  editDistance,
  MAX_COMMAND_BODY,
  MAX_CONFIG_BODY,
  parseCommand,
  type Delayed,
} from "./chat-commands.ts";
import { historySummary, periodFor } from "./history.ts";
import type { ImageUpload } from "./chart-post.ts";
import { auditLine, renderAudit, renderStatus } from "./render.ts";
import { snapshotOf } from "../health.ts";
import { age, clockTime, span, sparkline } from "../../lib/text.ts";

const NOW = new Date("2025-01-05T12:03:43.000Z");
const UTC = { now: NOW, timeZone: "UTC" };
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const temperature = (value: number): Field => ({ name: "temperature", type: "numeric", value, unit: "°C", decimals: 2, flags: { momentary: true } });

describe("parseCommand", () => {
  it("reads each command and its arguments; command words ignore case, values keep their spaces", () => {
    assert.deepEqual(parseCommand("help"), { name: "help" });
    assert.deepEqual(parseCommand("  READ "), { name: "read" });
    assert.deepEqual(parseCommand("read boiler"), { name: "read", id: "boiler" });
    assert.deepEqual(parseCommand("Status"), { name: "status" });
    assert.deepEqual(parseCommand("set pump state true"), { name: "set", id: "pump", parameter: "state", value: "true" });
    assert.deepEqual(parseCommand("set lcd text hello  world"), { name: "set", id: "lcd", parameter: "text", value: "hello  world" });
    assert.deepEqual(parseCommand("history boiler"), { name: "history", id: "boiler", durationMs: 3_600_000 });
    assert.deepEqual(parseCommand("history boiler 15m"), { name: "history", id: "boiler", durationMs: 900_000 });
    assert.deepEqual(parseCommand("chart boiler temperature 24h"), { name: "chart", id: "boiler", field: "temperature", durationMs: 86_400_000 });
    assert.deepEqual(parseCommand("Chart boiler temperature"), { name: "chart", id: "boiler", field: "temperature", durationMs: 3_600_000 });
    assert.equal(parseCommand("chart boiler").name, "usage");
  });

  it("reads a timed set and cancel; 'for' followed by no duration stays part of the value", () => {
    assert.deepEqual(parseCommand("set pump state on for 10m"), { name: "set", id: "pump", parameter: "state", value: "on", durationMs: 600_000 });
    assert.deepEqual(parseCommand("SET lcd text hello world FOR 1.5s"), { name: "set", id: "lcd", parameter: "text", value: "hello world", durationMs: 1500 });
    assert.deepEqual(parseCommand("set lcd text wait for it"), { name: "set", id: "lcd", parameter: "text", value: "wait for it" });
    assert.deepEqual(parseCommand("set pump state on for 8d"), { name: "usage", text: "a timed set lasts more than 0 and at most 7d. Usage: set ID NAME VALUE [for DURATION]" });
    assert.equal(parseCommand("set pump state on for 0s").name, "usage");
    assert.deepEqual(parseCommand("cancel pump"), { name: "cancel", id: "pump" });
    assert.deepEqual(parseCommand("Cancel pump state"), { name: "cancel", id: "pump", parameter: "state" });
    assert.deepEqual(parseCommand("cancel"), { name: "usage", text: "cancel needs an id and optionally a parameter name. Usage: cancel ID [NAME]" });
  });

  it("reads config, and config set with the YAML on the following lines", () => {
    assert.deepEqual(parseCommand("config"), { name: "config" });
    assert.deepEqual(parseCommand("Config set\nhardware: sim\n  x: 1\n"), { name: "config set", text: "hardware: sim\n  x: 1\n", acceptInlineSecrets: false });
    assert.deepEqual(parseCommand("config set inline-secrets\nhardware: sim"), { name: "config set", text: "hardware: sim", acceptInlineSecrets: true });
    assert.equal(parseCommand("config set").name, "usage");
    assert.equal(parseCommand("config set please\nhardware: sim").name, "usage");
    assert.equal(parseCommand("config show").name, "usage");
    assert.equal(bodyLimit("config set\nhardware: sim"), MAX_CONFIG_BODY);
    assert.equal(bodyLimit("read boiler"), MAX_COMMAND_BODY);
    assert.equal(closestCommand("confg"), "config");
  });

  it("explains wrong arguments with the usage", () => {
    assert.deepEqual(parseCommand("set pump state"), { name: "usage", text: "set needs an id, a parameter name and a value. Usage: set ID NAME VALUE [for DURATION]" });
    assert.deepEqual(parseCommand("history"), { name: "usage", text: "history needs an id and optionally a duration. Usage: history ID [DURATION]" });
    assert.deepEqual(parseCommand("history boiler soon"), { name: "usage", text: "'soon' is not a duration such as 30m, 6h or 2d. Usage: history ID [DURATION]" });
    assert.equal(parseCommand("read a b").name, "usage");
  });

  it("audit takes an optional number of entries from 1 to 50; anything else gets the usage", () => {
    assert.deepEqual(parseCommand("audit"), { name: "audit", entries: 10 });
    assert.deepEqual(parseCommand("Audit 25"), { name: "audit", entries: 25 });
    assert.deepEqual(parseCommand("audit 50"), { name: "audit", entries: 50 });
    for (const wrong of ["0", "51", "-3", "2.5", "ten", "1e3"]) {
      assert.deepEqual(parseCommand(`audit ${wrong}`), { name: "usage", text: `'${wrong}' is not a number from 1 to 50. Usage: audit [N]` }, wrong);
    }
    assert.deepEqual(parseCommand("audit 5 6"), { name: "usage", text: "audit takes at most one number. Usage: audit [N]" });
  });

  it("suggests the closest command for a typo, and nothing for gibberish", () => {
    assert.deepEqual(parseCommand("raed"), { name: "unknown", word: "raed", suggestion: "read" });
    assert.deepEqual(parseCommand("xyzzy"), { name: "unknown", word: "xyzzy" });
    assert.equal(closestCommand("stauts"), "status");
    assert.equal(closestCommand("hist"), "history");
    assert.equal(closestCommand("sat"), "set");
    assert.equal(closestCommand("hepl"), "help");
    assert.equal(closestCommand("qqq"), undefined);
  });
});

describe("editDistance", () => {
  it("counts a swap of neighbours as one step (Damerau)", () => {
    assert.equal(editDistance("raed", "read"), 1);
    assert.equal(editDistance("read", "read"), 0);
    assert.equal(editDistance("", "set"), 3);
    assert.equal(editDistance("kitten", "sitting"), 3);
    assert.equal(editDistance("ca", "abc"), 3, "optimal string alignment: no edits inside a swapped pair");
  });
});

describe("sparkline", () => {
  it("scales from the lowest to the highest value, marks gaps with spaces, and puts a flat series mid-height", () => {
    assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), "▁▂▃▄▅▆▇█");
    assert.equal(sparkline([10, undefined, 20]), "▁ █");
    assert.equal(sparkline([5, 5, 5]), "▄▄▄");
    assert.equal(sparkline([]), "");
    assert.equal(sparkline([undefined]), "");
  });
});

describe("time and status formatting", () => {
  it("renders one audit line per record: clock time, bare JID, the face by its name, the action, the outcome; long texts clipped", () => {
    const at = new Date("2025-01-05T11:58:00Z");
    const record = { at, operator: "ops@example.net", via: "iq", action: "pump state=true", result: "applied" };
    assert.equal(auditLine(record, UTC), "11:58:00 ops@example.net · XEP-0325 · pump state=true · applied");
    assert.equal(auditLine({ ...record, at: new Date("2025-01-04T23:00:00Z"), via: "message" }, UTC), "2025-01-04 23:00:00 ops@example.net · XEP-0325 message · pump state=true · applied");
    assert.equal(auditLine({ ...record, via: "telnet" }, UTC), "11:58:00 ops@example.net · telnet · pump state=true · applied", "an unknown face keeps its stored name");
    const clipped = auditLine({ ...record, via: "nf", action: `display text=${"x".repeat(200)}`, result: "refused", reason: "y".repeat(300) }, UTC);
    assert.equal(clipped, `11:58:00 ops@example.net · nf · display text=${"x".repeat(46)}… · refused: ${"y".repeat(119)}…`);
    assert.equal(renderAudit([record], true, UTC), "Audit trail, all 1 entry, newest last:\n11:58:00 ops@example.net · XEP-0325 · pump state=true · applied");
  });

  it("renders clock times in the given zone, with the date only for another day, and ages", () => {
    assert.equal(clockTime(new Date("2025-01-05T12:03:41Z"), UTC), "12:03:41");
    assert.equal(clockTime(new Date("2025-01-05T12:03:41Z"), { now: NOW, timeZone: "Europe/Berlin" }), "13:03:41");
    assert.equal(clockTime(new Date("2025-01-04T23:59:59Z"), UTC), "2025-01-04 23:59:59");
    assert.equal(age(new Date("2025-01-05T12:03:41Z"), NOW), "2 s ago");
    assert.equal(age(NOW, NOW), "just now");
    assert.equal(age(new Date("2025-01-05T11:00:00Z"), NOW), "64 min ago");
    assert.equal(span(90_061_000), "1 d 1 h");
    assert.equal(span(3_000), "3 s");
  });

  it("status says connection, uptime, sensors ok and failing, buffer, dropped and last publish", () => {
    const states: SensorState[] = [
      { id: "boiler", driver: "bme280" },
      { id: "cellar", driver: "ds18b20", error: "ds18b20 read: CRC mismatch", failingSince: new Date("2025-01-05T12:00:43Z") },
    ];
    const status = () =>
      snapshotOf({
        sensors: () => states,
        buffered: () => 3,
        dropped: () => 0,
        lastPublished: () => new Date("2025-01-05T12:03:42Z"),
        online: () => true,
        startedAt: new Date("2025-01-05T11:00:00Z"),
      });
    assert.equal(
      renderStatus(status(), UTC),
      [
        "connection: online · up 1 h 3 min (since 11:00:00)",
        "sensors: 1 ok, 1 failing",
        "  ⚠ cellar: ds18b20 read: CRC mismatch (since 12:00:43, 3 min ago)",
        "buffer: 3 unsent readings · 0 dropped",
        "last publish: 12:03:42, 1 s ago",
      ].join("\n"),
    );
    const storeFault = "store cannot open: disk full on /var/lib: 3 readings held in memory";
    const faulty = snapshotOf({ sensors: () => [], buffered: () => 3, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date("2025-01-05T12:03:00Z"), storeFault: () => storeFault });
    assert.equal(
      renderStatus(faulty, UTC),
      ["connection: online · up 43 s (since 12:03:00)", "sensors: 0 ok, 0 failing", "buffer: 3 unsent readings · 0 dropped", `  ⚠ ${storeFault}`, "last publish: never"].join("\n"),
      "the store's fault under the buffer it concerns",
    );
  });
});

function relay(): ActuatorDevice & { state: boolean } {
  const device = {
    state: false,
    parameters: [{ name: "state", type: "boolean" as const }],
    read: () => Promise.resolve<Field[]>([{ name: "state", type: "boolean", value: device.state, flags: { status: true } }]),
    write: (values: { name: string; value: unknown }[]) => {
      for (const value of values) if (value.name === "state") device.state = value.value === true;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return device;
}

function setup(history: StoredReading[] = [], upload?: ImageUpload) {
  const states: SensorState[] = [
    { id: "boiler", driver: "bme280", lastSample: { sensorId: "boiler", timestamp: new Date("2025-01-05T12:03:41Z"), fields: [temperature(61.5)] } },
    { id: "cellar", driver: "ds18b20", error: "ds18b20 read: CRC mismatch", failingSince: new Date("2025-01-05T12:00:43Z") },
  ];
  const pump = relay();
  const actuators = [{ id: "pump", driver: "gpio-output", device: pump }];
  const store = {
    history: (sensorId: string, range: { from?: Date; to?: Date }) =>
      Promise.resolve(history.filter((r) => r.sensorId === sensorId && r.timestamp >= (range.from ?? new Date(0)) && r.timestamp < (range.to ?? new Date(8.64e15)))),
  };
  const readout = new Readout({ sampler: { states }, actuators: { all: actuators }, store }, () => NOW);
  const audit: AuditEntry[] = [];
  const authz = new Authz([
    { jid: "ops@example.net", role: "control" },
    { jid: "viewer@example.net", role: "read" },
  ]);
  const control = new Control({
    actuators: { all: actuators, get: (id) => actuators.find((entry) => entry.id === id) },
    authz,
    sensorIds: () => ["boiler", "cellar"],
    audit: (entry) => {
      audit.push(entry);
      return Promise.resolve();
    },
    log: quiet,
  });
  const health = { sensors: () => states, buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: NOW };
  const configAudit: ConfigAuditEntry[] = [];
  // The store's trails: newest first.
  const trails = {
    auditLog: (limit: number) => Promise.resolve([...audit].reverse().slice(0, limit)),
    configAuditLog: (limit: number) => Promise.resolve([...configAudit].reverse().slice(0, limit)),
  };
  const kept = new Map<string, TimedAction>();
  const timed = new TimedActions({
    control,
    store: {
      saveTimedAction: (action) => Promise.resolve(void kept.set(action.parameter, action)),
      deleteTimedAction: (_nodeId, parameter) => Promise.resolve(void kept.delete(parameter)),
      timedActions: () => Promise.resolve([...kept.values()]),
    },
    audit: (entry) => Promise.resolve(void audit.push(entry)),
    tell: () => undefined,
    log: quiet,
    // Time stands still here: the switch back itself is agent/timed-actions.test.ts's to test.
    clock: { now: () => NOW.getTime(), after: () => () => undefined },
  });
  const desk = new OperatorDesk({ authz, readout, control, timed, health, audit: trails });
  const chat = new ChatCommands({ now: () => NOW, timeZone: "UTC", ...(upload ? { upload } : {}) });
  const commands = {
    answer: (from: string, body: string, delayed?: Delayed) => {
      const session = desk.for(from);
      assert.ok(session.admitted, `${from} is an operator`);
      return chat.answer(session, body, delayed);
    },
    reply: (from: string, body: string) => {
      const session = desk.for(from);
      assert.ok(session.admitted, `${from} is an operator`);
      return chat.reply(session, body);
    },
  };
  return { commands, pump, audit, configAudit, readout, states, kept };
}

describe("ChatCommands", () => {
  it("read: one line per node with units, clock time and age; failing sensors marked", async () => {
    const { commands } = setup();
    assert.equal(
      await commands.answer("ops@example.net/phone", "read"),
      [
        "boiler: temperature 61.50 °C (12:03:41, 2 s ago)",
        "⚠ cellar: FAILING: ds18b20 read: CRC mismatch (since 12:00:43, 3 min ago)",
        "pump: state false [settable] (12:03:43, just now)",
      ].join("\n"),
    );
    assert.equal(await commands.answer("ops@example.net/phone", "read Boiler"), "boiler: temperature 61.50 °C (12:03:41, 2 s ago)");
    assert.equal(await commands.answer("ops@example.net/phone", "read attic"), "Unknown id 'attic'. Known ids: boiler, cellar, pump.");
  });

  it("read: a sensor not read yet since start is waiting, not failing", async () => {
    const { commands, states } = setup();
    const cellar = states.find((state) => state.id === "cellar")!;
    delete cellar.error;
    delete cellar.failingSince;
    assert.equal(await commands.answer("ops@example.net/phone", "read cellar"), "cellar: waiting for its first reading");
  });

  it("set: applies through Control (audited as chat); read operators are told control is needed", async () => {
    const { commands, pump, audit } = setup();
    assert.equal(await commands.answer("ops@example.net/phone", "set pump state true"), "Done: pump state = true.");
    assert.equal(pump.state, true);
    assert.equal(await commands.answer("viewer@example.net/phone", "set pump state false"), "Sorry, setting values needs the control role; your account may only read.");
    assert.equal(pump.state, true);
    assert.equal(await commands.answer("ops@example.net/phone", "set pump state maybe"), 'Not applied: state: expected true, false, 1 or 0, got "maybe".');
    assert.equal(await commands.answer("ops@example.net/phone", "set pump speed 3"), "Not applied: node pump has no parameter speed. Parameters of pump: state.");
    assert.equal(await commands.answer("ops@example.net/phone", "set boiler state 1"), "Not applied: node boiler is a sensor; it takes no control.");
    assert.deepEqual(
      audit.map((entry) => [entry.requester, entry.via, entry.result]),
      [
        ["ops@example.net/phone", "chat", "ok"],
        ["viewer@example.net/phone", "chat", "forbidden"],
        ["ops@example.net/phone", "chat", "bad-request"],
        ["ops@example.net/phone", "chat", "item-not-found"],
        ["ops@example.net/phone", "chat", "feature-not-implemented"],
      ],
    );
  });

  it("set … for: switches now with a timer back to the value before; another set replaces it; cancel switches back now", async () => {
    const { commands, pump, audit, kept } = setup();
    const ops = "ops@example.net/phone";
    assert.equal(await commands.answer(ops, "set pump state on for 10m"), "Done: pump state = true for 10m, then back to false at 12:13:43.");
    assert.equal(pump.state, true);
    assert.equal(kept.size, 1);
    assert.equal(
      await commands.answer(ops, "set Pump state on for 5m"),
      "Done: pump state = true for 5m, then back to false at 12:08:43. This replaces the timer that was due at 12:13:43.",
    );
    assert.equal(await commands.answer("viewer@example.net/phone", "cancel pump"), "Sorry, cancelling a timed set needs the control role; your account may only read.");
    assert.equal(pump.state, true);
    assert.equal(await commands.answer(ops, "cancel pump"), "Cancelled: pump state is back at false now.");
    assert.equal(pump.state, false);
    assert.equal(kept.size, 0);
    assert.equal(await commands.answer(ops, "cancel pump state"), "No timed set runs on pump state.");

    await commands.answer(ops, "set pump state on for 10m");
    assert.equal(await commands.answer(ops, "set pump state on"), "Done: pump state = true. This replaces the timer that would have switched it back to false at 12:13:43.");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(kept.size, 0);
    assert.equal(await commands.answer(ops, "cancel pump"), "No timed set runs on pump.");
    assert.equal(await commands.answer("viewer@example.net/phone", "set pump state off for 1m"), "Sorry, setting values needs the control role; your account may only read.");
    assert.deepEqual(
      audit.map((entry) => [entry.requester, entry.via, entry.result, entry.values[0]?.value, entry.detail]),
      [
        [ops, "chat", "ok", "true", "timed: for 10m, then back to false"],
        [ops, "chat", "ok", "true", "timed: for 5m, then back to false"],
        ["viewer@example.net/phone", "chat", "forbidden", "false", "timed revert, cancelled early by viewer@example.net/phone: control needs the control role; this operator has read only"],
        [ops, "chat", "ok", "false", "timed revert, cancelled early by ops@example.net/phone"],
        [ops, "chat", "ok", "true", "timed: for 10m, then back to false"],
        [ops, "chat", "ok", "true", undefined],
        ["viewer@example.net/phone", "chat", "forbidden", "false", "timed: for 1m, then back to true: control needs the control role; this operator has read only"],
      ],
    );
  });

  it("a delayed line is not run; a delayed set goes to Control, which refuses and audits it", async () => {
    const { commands, pump, audit } = setup();
    const late = { sentAt: "2025-01-05T09:00:00Z" };
    assert.equal(await commands.answer("ops@example.net/phone", "set pump state on", late), DELAYED_TEXT);
    assert.equal(await commands.answer("ops@example.net/phone", "read", late), DELAYED_TEXT);
    assert.equal(pump.state, false);
    assert.deepEqual(
      audit.map((entry) => [entry.requester, entry.via, entry.result, entry.nodeIds]),
      [["ops@example.net/phone", "chat", "delayed", ["pump"]]],
    );
    assert.match(audit[0]?.detail ?? "", /2025-01-05T09:00:00Z/);
  });

  it("help lists every command; typos get a suggestion", async () => {
    const { commands } = setup();
    const help = await commands.answer("ops@example.net/x", "help");
    for (const usage of ["read [ID]", "set ID NAME VALUE", "status", "history ID [DURATION]", "audit [N]", "help"]) assert.ok(help.includes(usage), help);
    const readOnly = await commands.answer("viewer@example.net/x", "help");
    assert.ok(readOnly.includes("history ID [DURATION]") && !readOnly.includes("audit"), `audit is not listed for a read operator:\n${readOnly}`);
    assert.equal(await commands.answer("ops@example.net/x", "raed"), "Unknown command 'raed'. Did you mean 'read'?");
    assert.equal(await commands.answer("ops@example.net/x", "frobnicate"), "Unknown command 'frobnicate'. Send 'help' for the list.");
  });

  it("audit: control operators read who set what, refusals and config pushes included, newest last", async () => {
    const { commands, configAudit } = setup();
    assert.equal(await commands.answer("ops@example.net/phone", "audit"), "The audit trail is empty: no control action or config push yet.");
    configAudit.push({ at: new Date(Date.now() - 60_000), requester: "root@example.net/laptop", via: "adhoc", summary: "sensors added: attic", result: "applied" });
    await commands.answer("ops@example.net/phone", "set pump state on");
    await commands.answer("viewer@example.net/phone", "set pump state off");
    const time = String.raw`(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d`;
    const lines = (await commands.answer("ops@example.net/phone", "audit")).split("\n");
    assert.equal(lines[0], "Audit trail, all 3 entries, newest last:");
    assert.match(lines[1] ?? "", new RegExp(`^${time} root@example\\.net · ad-hoc · config push · applied: sensors added: attic$`));
    assert.match(lines[2] ?? "", new RegExp(`^${time} ops@example\\.net · chat · pump state=true · applied$`));
    assert.match(lines[3] ?? "", new RegExp(`^${time} viewer@example\\.net · chat · pump state=false · refused: control needs the control role; this operator has read only$`));
    assert.equal(lines.length, 4);
    const last = (await commands.answer("ops@example.net/phone", "audit 1")).split("\n");
    assert.equal(last[0], "Audit trail, the last 1 entry, newest last:");
    assert.match(last[1] ?? "", /viewer@example\.net · chat · pump state=false · refused/);
  });

  it("audit: a read operator is refused, and the refusal is not itself an audit entry", async () => {
    const { commands, audit } = setup();
    assert.equal(await commands.answer("viewer@example.net/phone", "audit"), "Sorry, the audit trail needs the control role; your account has the read role.");
    assert.equal(await commands.answer("ops@example.net/phone", "audit 0"), "'0' is not a number from 1 to 50. Usage: audit [N]");
    assert.equal(audit.length, 0);
  });

  it("history: a sparkline per numeric value with min, max, average and the current value", async () => {
    const readings: StoredReading[] = [];
    // One reading a minute for the last hour, rising from 40 to 99 °C.
    for (let minute = 0; minute < 60; minute++) {
      const timestamp = new Date(NOW.getTime() - 3_600_000 + minute * 60_000 + 30_000);
      readings.push({ id: minute + 1, sensorId: "boiler", seq: minute + 1, timestamp, fields: [temperature(40 + minute)] });
    }
    const { commands, readout } = setup(readings);
    const summary = await historySummary(readout, "boiler", 3_600_000, NOW);
    assert.equal(summary.period, "Minute");
    const [series] = summary.series;
    assert.equal(series?.slots.length, 32);
    assert.deepEqual([series?.min, series?.max, series?.avg], [40, 99, 69.5]);
    const text = await commands.answer("ops@example.net/x", "history boiler");
    const lines = text.split("\n");
    assert.equal(lines[0], "boiler, last 1h (11:03:43 – 12:03:43), per-minute averages:");
    assert.match(lines[1] ?? "", /^temperature: ▁[▁-█]{30}█$/);
    assert.equal(lines[2], "  min 40.00 °C · max 99.00 °C · avg 69.50 °C · last 61.50 °C");
    assert.equal(await commands.answer("ops@example.net/x", "history pump 5m"), "pump, last 5m (11:58:43 – 12:03:43): no stored numeric readings (only sensors keep a history).");
    assert.equal(await commands.answer("ops@example.net/x", "history attic"), "Unknown id 'attic'. Known ids: boiler, cellar, pump.");
  });

  const textOf = (answer: string | { imageUrl: string }) => (typeof answer === "string" ? answer : assert.fail(`a picture: ${answer.imageUrl}`));
  it("chart: the uploaded picture's URL, or the value's text history and why there is no chart", async () => {
    const readings: StoredReading[] = [];
    for (let minute = 0; minute < 60; minute++) {
      const timestamp = new Date(NOW.getTime() - 3_600_000 + minute * 60_000 + 30_000);
      readings.push({ id: minute + 1, sensorId: "boiler", seq: minute + 1, timestamp, fields: [temperature(40 + minute)] });
    }
    const uploaded: { bytes: Uint8Array; filename: string; contentType: string }[] = [];
    const shelf: ImageUpload = {
      upload: (file) => {
        uploaded.push(file);
        return Promise.resolve({ ok: true, url: `https://upload.example.net/${file.filename}` });
      },
    };
    const { commands } = setup(readings, shelf);
    assert.deepEqual(await commands.reply("viewer@example.net/x", "chart Boiler temperature 1h"), { imageUrl: "https://upload.example.net/boiler-temperature-20250105T120343Z.png" });
    assert.equal(uploaded[0]?.contentType, "image/png");
    assert.deepEqual([...(uploaded[0]?.bytes.subarray(1, 4) ?? [])], [0x50, 0x4e, 0x47], "a PNG");
    assert.match(textOf(await commands.reply("viewer@example.net/x", "chart boiler humidity")), /^Sorry, boiler stored no numeric value 'humidity' in the last 1h\. Values with a history: temperature\.$/);

    const refusing: ImageUpload = { upload: () => Promise.resolve({ ok: false, reason: "the server offers no HTTP file upload (XEP-0363)" }) };
    const text = textOf(await setup(readings, refusing).commands.reply("viewer@example.net/x", "chart boiler temperature"));
    const lines = text.split("\n");
    assert.equal(lines[0], "boiler, last 1h (11:03:43 – 12:03:43), per-minute averages:");
    assert.match(lines[1] ?? "", /^temperature: ▁[▁-█]{30}█$/);
    assert.equal(lines.at(-1), "No chart: the server offers no HTTP file upload (XEP-0363).");
    assert.equal(lines.length, 4);
  });

  it("chooses aggregation periods that keep a sparkline cheap", () => {
    assert.deepEqual([periodFor(300_000), periodFor(3_600_000), periodFor(86_400_000), periodFor(90 * 86_400_000)], ["Second", "Minute", "Hour", "Day"]);
  });
});

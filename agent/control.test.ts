import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Control, LIMITS, parseValue, type AuditEntry, type ControlResult } from "./control.ts";
import { Authz } from "./authz.ts";
import { Store } from "./store.ts";
import type { ActuatorEntry } from "./actuators.ts";
import type { ActuatorDevice, ParameterSpec, ParameterValue } from "../drivers/driver.ts";
import type { Field } from "../lib/model.ts";
import type { Logger } from "./log.ts";

const VALVE_PARAMETERS: ParameterSpec[] = [
  { name: "state", type: "boolean" },
  { name: "speed", type: "int", min: 0, max: 100 },
  { name: "setpoint", type: "double", min: 20, max: 80, unit: "°C" },
  { name: "mode", type: "string", options: ["auto", "manual"] },
];

/** An actuator that keeps its parameters in memory and records every write. */
class FakeDevice implements ActuatorDevice {
  readonly writes: { name: string; value: ParameterValue }[] = [];
  readonly state = new Map<string, ParameterValue>();
  failOn?: string;
  /** Runs before each write: a test's way to change the world mid-request. */
  beforeWrite?: () => void;

  constructor(readonly parameters: ParameterSpec[], initial: Record<string, ParameterValue>) {
    for (const [name, value] of Object.entries(initial)) this.state.set(name, value);
  }

  async read(): Promise<Field[]> {
    return this.parameters.map((spec): Field => {
      const value = this.state.get(spec.name);
      const flags = { writable: true };
      if (spec.type === "boolean") return { name: spec.name, type: "boolean", value: value === true, flags };
      if (spec.type === "int") return { name: spec.name, type: "int", value: Number(value), flags };
      if (spec.type === "double") return { name: spec.name, type: "numeric", value: Number(value), unit: spec.unit ?? "", decimals: 1, flags };
      return { name: spec.name, type: "string", value: String(value), flags };
    });
  }

  async write(values: { name: string; value: ParameterValue }[]): Promise<void> {
    this.beforeWrite?.();
    for (const { name, value } of values) {
      if (name === this.failOn) throw new Error("output stuck");
      this.writes.push({ name, value });
      this.state.set(name, value);
    }
  }

  async close(): Promise<void> {}
}

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function setup(...others: ActuatorEntry[]) {
  const valve = new FakeDevice(VALVE_PARAMETERS, { state: false, speed: 10, setpoint: 21.5, mode: "auto" });
  const relay = new FakeDevice([{ name: "state", type: "boolean" }], { state: true });
  const entries: ActuatorEntry[] = [
    { id: "valve", driver: "fake", device: valve },
    { id: "relay", driver: "fake", device: relay },
    { id: "broken", driver: "fake", error: "GPIO 5 busy" },
    ...others,
  ];
  const audit: AuditEntry[] = [];
  const control = new Control({
    actuators: { all: entries, get: (id) => entries.find((entry) => entry.id === id) },
    authz: new Authz([
      { jid: "ops@example.net", role: "control" },
      { jid: "viewer@example.net", role: "read" },
    ]),
    sensorIds: () => ["boiler"],
    audit: async (entry) => {
      audit.push(entry);
    },
    log: silent,
  });
  return { control, valve, relay, audit, entries };
}

const OPS = "ops@example.net/laptop";

function refusal(result: ControlResult): { kind: string; parameter?: string; text: string } {
  if (result.ok) assert.fail("expected a refusal");
  return { kind: result.kind, text: result.text, ...(result.parameter !== undefined ? { parameter: result.parameter } : {}) };
}

describe("control", () => {
  it("applies typed values in order to the named node and audits who, what and the result", async () => {
    const { control, valve, relay, audit } = setup();
    const result = await control.set(
      OPS,
      {
        nodeIds: ["valve"],
        values: [
          { name: "state", type: "boolean", value: "1" },
          { name: "speed", type: "int", value: "40" },
          { name: "setpoint", type: "int", value: "55" },
          { name: "mode", type: "string", value: "manual" },
        ],
      },
      "iq",
    );
    assert.equal(result.ok, true);
    assert.deepEqual(valve.writes, [
      { name: "state", value: true },
      { name: "speed", value: 40 },
      { name: "setpoint", value: 55 },
      { name: "mode", value: "manual" },
    ]);
    assert.deepEqual(relay.writes, []);
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.requester, OPS);
    assert.equal(audit[0]?.via, "iq");
    assert.deepEqual(audit[0]?.nodeIds, ["valve"]);
    assert.equal(audit[0]?.result, "ok");
    assert.equal(audit[0]?.values[1]?.value, "40");
  });

  it("without nodes applies parameters to the one actuator that has them", async () => {
    const { control, valve, relay } = setup();
    const result = await control.set(OPS, { values: [{ name: "speed", type: "long", value: "5" }, { name: "mode", type: "string", value: "manual" }] });
    assert.ok(result.ok);
    assert.deepEqual(result.applied, [
      { nodeId: "valve", name: "speed", value: 5 },
      { nodeId: "valve", name: "mode", value: "manual" },
    ]);
    assert.deepEqual(relay.writes, []);
    assert.equal(valve.writes.length, 2);
  });

  it("refuses a set without nodes that would write more than one actuator, and audits it", async () => {
    const pulser = new FakeDevice([{ name: "pulse", type: "int" }], { pulse: 0 });
    const { control, valve, relay, audit } = setup({ id: "pulser", driver: "fake", device: pulser });
    // state is a parameter of both the valve and the relay.
    assert.deepEqual(refusal(await control.set(OPS, { values: [{ name: "state", type: "boolean", value: "true" }] })), {
      kind: "bad-request",
      parameter: "state",
      text: "state is a parameter of valve, relay: name the actuator to set; without one, all would be set",
    });
    // A request whose parameters each have one actuator, but not the same one.
    assert.deepEqual(refusal(await control.set(OPS, { values: [{ name: "speed", type: "int", value: "5" }, { name: "pulse", type: "int", value: "1" }] })), {
      kind: "bad-request",
      text: "without a node this request would set valve, pulser: name the actuator to set",
    });
    assert.deepEqual([valve.writes, relay.writes, pulser.writes], [[], [], []]);
    assert.deepEqual(audit.map((entry) => entry.result), ["bad-request", "bad-request"]);
  });

  it("validates everything before applying anything", async () => {
    const { control, valve, relay, audit } = setup();
    const result = await control.set(OPS, {
      nodeIds: ["relay", "valve"],
      values: [
        { name: "state", type: "boolean", value: "true" },
        { name: "state", type: "boolean", value: "maybe" },
      ],
    });
    assert.deepEqual(refusal(result), { kind: "bad-request", parameter: "state", text: 'state: expected true, false, 1 or 0, got "maybe"' });
    assert.deepEqual(valve.writes, []);
    assert.deepEqual(relay.writes, []);
    assert.equal(audit[0]?.result, "bad-request");
    assert.match(String(audit[0]?.detail), /maybe/);
  });

  it("refuses a request delivered late and audits it, applying nothing", async () => {
    const { control, valve, relay, audit } = setup();
    const result = await control.set(
      OPS,
      { nodeIds: ["relay"], values: [{ name: "state", type: "boolean", value: "false" }], delayed: { sentAt: "2026-01-02T03:04:05Z" } },
      "message",
    );
    assert.deepEqual(refusal(result), {
      kind: "delayed",
      text: "sent at 2026-01-02T03:04:05Z and delivered late, so not applied; send it again if it still applies",
    });
    assert.deepEqual([valve.writes, relay.writes], [[], []]);
    assert.deepEqual(audit.map((entry) => [entry.via, entry.result, entry.detail]), [["message", "delayed", refusal(result).text]]);
  });

  it("refuses a request its face found malformed after authorization, and audits it", async () => {
    const { control, relay, audit } = setup();
    const set = { nodeIds: ["relay"], values: [{ name: "state", type: "boolean", value: "false" }], malformed: "<foo> is not a parameter" };
    assert.deepEqual(refusal(await control.set(OPS, set, "nf")), { kind: "bad-request", text: "<foo> is not a parameter" });
    assert.deepEqual(refusal(await control.set("mallory@evil.example/x", set, "nf")), { kind: "forbidden", text: "not an operator of this gateway" });
    assert.deepEqual(relay.writes, []);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.result, entry.detail]), [
      [OPS, "bad-request", "<foo> is not a parameter"],
      ["mallory@evil.example/x", "forbidden", "not an operator of this gateway"],
    ]);
  });

  it("refuses strangers and read operators, and audits the refusals", async () => {
    const { control, valve, audit } = setup();
    const set = { values: [{ name: "state", type: "boolean", value: "true" }] };
    assert.deepEqual(refusal(await control.set("mallory@evil.example/x", set)), { kind: "forbidden", text: "not an operator of this gateway" });
    assert.deepEqual(refusal(await control.set("viewer@example.net/phone", set)), {
      kind: "forbidden",
      text: "control needs the control role; this operator has read only",
    });
    assert.deepEqual(valve.writes, []);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.result]), [
      ["mallory@evil.example/x", "forbidden"],
      ["viewer@example.net/phone", "forbidden"],
    ]);
  });

  it("maps unknown nodes and parameters, sensors and unavailable actuators to their failure kinds", async () => {
    const { control } = setup();
    const state = [{ name: "state", type: "boolean", value: "true" }];
    assert.equal(refusal(await control.set(OPS, { nodeIds: ["nowhere"], values: state })).kind, "item-not-found");
    assert.equal(refusal(await control.set(OPS, { nodeIds: ["boiler"], values: state })).kind, "feature-not-implemented");
    assert.deepEqual(refusal(await control.set(OPS, { nodeIds: ["broken"], values: state })), {
      kind: "unavailable",
      text: "actuator broken is not available: GPIO 5 busy",
    });
    assert.deepEqual(refusal(await control.set(OPS, { nodeIds: ["relay", "valve"], values: [{ name: "speed", type: "int", value: "1" }] })), {
      kind: "item-not-found",
      parameter: "speed",
      text: "node relay has no parameter speed",
    });
    assert.deepEqual(refusal(await control.set(OPS, { values: [{ name: "colour", type: "string", value: "red" }] })), {
      kind: "item-not-found",
      parameter: "colour",
      text: "no actuator has a parameter colour",
    });
  });

  it("checks types, syntax, ranges and options", () => {
    const [state, speed, setpoint, mode] = VALVE_PARAMETERS as [ParameterSpec, ParameterSpec, ParameterSpec, ParameterSpec];
    const kind = (spec: ParameterSpec, type: string | undefined, value: string) => {
      const result = parseValue(spec, { name: spec.name, ...(type !== undefined ? { type } : {}), value });
      return typeof result === "object" ? result.text : result;
    };
    assert.equal(kind(state, "boolean", " false "), false);
    assert.equal(kind(state, "boolean", "0"), false);
    assert.equal(kind(state, "boolean", "\ttrue\r\n"), true);
    assert.equal(kind(state, "boolean", "false\uFEFF"), 'state: expected true, false, 1 or 0, got "false\uFEFF"');
    assert.equal(kind(speed, "int", "\u00A07"), 'speed: expected an integer, got "\u00A07"');
    assert.equal(kind(state, "string", "true"), "state: takes a boolean; got type string");
    assert.equal(kind(state, "numeric", "1"), "state: unknown parameter type numeric (XEP-0325 types: boolean, color, date, dateTime, double, duration, int, long, string, time)");
    assert.equal(kind(speed, "double", "3.0"), 3);
    assert.equal(kind(speed, "double", "3.5"), 'speed: expected an integer, got "3.5"');
    assert.equal(kind(speed, "int", "1e2"), 'speed: expected an integer, got "1e2"');
    assert.equal(kind(speed, "int", "101"), "speed: 101 is outside 0..100");
    assert.equal(kind(speed, "int", "99999999999"), "speed: 99999999999 is outside the int range");
    assert.equal(kind(speed, "boolean", "true"), "speed: takes an integer (int, long, or an integral double); got type boolean");
    assert.equal(kind(setpoint, "double", "2.5E1"), 25);
    assert.equal(kind(setpoint, "double", "INF"), 'setpoint: expected a finite number, got "INF"');
    assert.equal(kind(setpoint, "double", "80.5"), "setpoint: 80.5 is outside 20..80 °C");
    assert.equal(kind(setpoint, "dateTime", "2025-01-01T00:00:00Z"), "setpoint: takes a number (double, int or long); got type dateTime");
    assert.equal(kind(mode, "string", "manual"), "manual");
    assert.equal(kind(mode, "string", "off"), 'mode: expected one of auto, manual, got "off"');
    // A submitted form's values carry no type: read as declared.
    assert.equal(kind(setpoint, undefined, "30"), 30);
    assert.equal(kind(state, undefined, "true"), true);
    assert.equal(kind(mode, "string", "x".repeat(LIMITS.valueLength + 1)), `mode: value longer than ${LIMITS.valueLength} characters`);
  });

  it("refuses empty, oversized and nameless requests, and clips what it audits", async () => {
    const { control, audit } = setup();
    assert.equal(refusal(await control.set(OPS, { values: [] })).text, "no parameters to set");
    assert.equal(refusal(await control.set(OPS, { values: [{ name: "", type: "boolean", value: "true" }] })).text, "a parameter without a name");
    const many = Array.from({ length: LIMITS.values + 1 }, () => ({ name: "state", type: "boolean", value: "true" }));
    assert.match(refusal(await control.set(OPS, { values: many })).text, /too many parameters/);
    await control.set(OPS, { values: [{ name: "mode", type: "string", value: "y".repeat(10_000) }] });
    const last = audit.at(-1);
    assert.equal(last?.values[0]?.value.length, LIMITS.auditValueLength + 1);
    assert.equal(audit[2]?.values.length, LIMITS.values);
  });

  it("reports a write that fails part-way, with what was applied before", async () => {
    const { control, valve } = setup();
    valve.failOn = "speed";
    const result = await control.set(OPS, {
      nodeIds: ["valve"],
      values: [
        { name: "state", type: "boolean", value: "true" },
        { name: "speed", type: "int", value: "7" },
      ],
    });
    assert.ok(!result.ok);
    assert.equal(result.kind, "failed");
    assert.equal(result.text, "valve: writing speed failed: output stuck; applied before: valve.state=true");
    assert.deepEqual(result.applied, [{ nodeId: "valve", name: "state", value: true }]);
  });

  it("reports an actuator that went away part-way as unavailable, with what was applied before", async () => {
    const { control, valve, relay, entries } = setup();
    valve.beforeWrite = () => {
      const relayEntry = entries.find((entry) => entry.id === "relay");
      if (relayEntry) relayEntry.device = undefined; // a reload retired it
    };
    const result = await control.set(OPS, { nodeIds: ["valve", "relay"], values: [{ name: "state", type: "boolean", value: "true" }] });
    assert.ok(!result.ok);
    assert.deepEqual([result.kind, result.text], ["unavailable", "actuator relay is no longer available; applied before: valve.state=true"]);
    assert.deepEqual(result.applied, [{ nodeId: "valve", name: "state", value: true }]);
    assert.deepEqual(relay.writes, []);
  });

  it("runs concurrent requests one after the other", async () => {
    const { control, valve } = setup();
    await Promise.all(
      ["1", "2", "3"].map((value) => control.set(OPS, { nodeIds: ["valve"], values: [{ name: "speed", type: "int", value }, { name: "speed", type: "int", value }] })),
    );
    assert.deepEqual(valve.writes.map((write) => write.value), [1, 1, 2, 2, 3, 3]);
  });

  it("getForm lists parameters with current values; notSame where the nodes disagree; read operators may ask", async () => {
    const { control } = setup();
    const all = await control.getForm("viewer@example.net/phone");
    assert.ok(all.ok);
    assert.deepEqual(all.nodeIds, ["valve", "relay"]);
    assert.deepEqual(
      all.parameters.map((p) => [p.spec.name, p.value, p.notSame, p.nodeIds.join(",")]),
      [
        ["state", "false", true, "valve,relay"],
        ["speed", "10", false, "valve"],
        ["setpoint", "21.5", false, "valve"],
        ["mode", "auto", false, "valve"],
      ],
    );
    const common = await control.getForm(OPS, ["relay", "valve"]);
    assert.ok(common.ok);
    assert.deepEqual(common.parameters.map((p) => p.spec.name), ["state"]);
    assert.deepEqual(await control.getForm("mallory@evil.example"), { ok: false, kind: "forbidden", text: "not an operator of this gateway" });
    assert.deepEqual(await control.getForm(OPS, ["nowhere"]), { ok: false, kind: "item-not-found", text: "no node nowhere" });
  });
});

describe("store audit trail", () => {
  it("commits each entry at once and reads them back newest first after a reopen", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "xedge-audit-")), "xedge.db");
    const options = { commitIntervalMs: 3_600_000 };
    const store = await Store.open(path, options);
    const first: AuditEntry = {
      at: new Date("2026-01-02T03:04:05.678Z"),
      requester: "ops@example.net/laptop",
      via: "iq",
      nodeIds: ["pump"],
      values: [{ name: "state", type: "boolean", value: "true" }],
      result: "ok",
    };
    await store.audit(first);
    await store.audit({ ...first, requester: "viewer@example.net/phone", result: "forbidden", detail: "read only" });
    // A second connection sees both before any reading commit: they are on disk already.
    const reader = await Store.open(path, options);
    try {
      const log = await reader.auditLog(10);
      assert.deepEqual(log, [{ ...first, requester: "viewer@example.net/phone", result: "forbidden", detail: "read only" }, first]);
      assert.equal((await reader.auditLog(1)).length, 1);
    } finally {
      await reader.close();
      await store.close();
    }
  });
});

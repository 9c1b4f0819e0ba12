// The operator desk over a real Authz and Control, with a fake readout: who gets a session, what it may do.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Authz } from "../authz.ts";
import { Control, type AuditEntry } from "../control.ts";
import type { ConfigAuditEntry } from "../remote-config.ts";
import type { ActuatorDevice } from "../../drivers/driver.ts";
import type { ReadoutRequest } from "../readout.ts";
import type { Logger } from "../log.ts";
import { OperatorDesk, allows } from "./desk.ts";

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The desk over its parts; with `storeWait`, as while the store cannot open: no timed sets, watches, config or trails. */
function setup(storeWait?: string) {
  const authz = new Authz([
    { jid: "ops@example.net", role: "control" },
    { jid: "viewer@example.net", role: "read" },
  ]);
  const written: unknown[] = [];
  const relay: ActuatorDevice = {
    parameters: [{ name: "state", type: "boolean" }],
    read: () => Promise.resolve([{ name: "state", type: "boolean", value: false, flags: { status: true } }]),
    write: (values) => {
      written.push(...values.map((value) => value.value));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const actuators = [{ id: "pump", driver: "gpio-output", device: relay }];
  const audit: AuditEntry[] = [];
  const control = new Control({
    actuators: { all: actuators, get: (id) => actuators.find((entry) => entry.id === id) },
    authz,
    sensorIds: () => ["boiler"],
    audit: (entry) => {
      audit.push(entry);
      return Promise.resolve();
    },
    log: quiet,
  });
  const reads: ReadoutRequest[] = [];
  const readout = {
    nodeIds: ["boiler", "pump"],
    unknownNodes: (ids: readonly string[]) => ids.filter((id) => id !== "boiler" && id !== "pump"),
    read: (request: ReadoutRequest) => {
      reads.push(request);
      return Promise.resolve({ groups: [], failures: [] });
    },
  };
  const health = { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) };
  const configAudit: ConfigAuditEntry[] = [];
  const limits: number[] = [];
  // The store's trails, newest first; the limits asked are kept to see the desk's bound.
  const trails = {
    auditLog: (limit: number) => {
      limits.push(limit);
      return Promise.resolve([...audit].reverse().slice(0, limit));
    },
    configAuditLog: (limit: number) => Promise.resolve([...configAudit].reverse().slice(0, limit)),
  };
  const desk = new OperatorDesk(storeWait === undefined ? { authz, readout, control, health, audit: trails } : { authz, readout, control, health, storeWait });
  return { desk, authz, audit, configAudit, limits, reads, written };
}

const setPump = { nodeIds: ["pump"], values: [{ name: "state", value: "true" }] };

describe("OperatorDesk", () => {
  it("gives a stranger nothing to read; a control attempt is refused and audited by Control", async () => {
    const { desk, audit, written } = setup();
    const visitor = desk.for("mallory@example.net/x");
    assert.equal(visitor.admitted, false);
    assert.deepEqual(Object.keys(visitor).sort(), ["admitted", "control", "requester"]);
    const result = await visitor.control.set(setPump, "iq");
    assert.deepEqual(result.ok ? "applied" : [result.kind, result.text], ["forbidden", "not an operator of this gateway"]);
    assert.deepEqual(await visitor.control.getForm(), { ok: false, kind: "forbidden", text: "not an operator of this gateway" });
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.via, entry.result]), [["mallory@example.net/x", "iq", "forbidden"]]);
    assert.deepEqual(written, []);
  });

  it("lets a read operator read, status and fetch the control form, but not control", async () => {
    const { desk, reads, written } = setup();
    const viewer = desk.for("Viewer@example.net/phone");
    assert.ok(viewer.admitted);
    assert.equal(viewer.role, "read");
    assert.deepEqual(viewer.nodeIds, ["boiler", "pump"]);
    assert.deepEqual(viewer.unknownNodes(["boiler", "attic"]), ["attic"]);
    await viewer.read({ nodeIds: ["boiler"], types: new Set() });
    assert.deepEqual(reads.map((request) => request.nodeIds), [["boiler"]]);
    assert.equal(viewer.status().online, true);
    assert.equal((await viewer.control.getForm(["pump"])).ok, true);
    const result = await viewer.control.set(setPump, "chat");
    assert.deepEqual(result.ok ? "applied" : [result.kind, result.text], ["forbidden", "control needs the control role; this operator has read only"]);
    assert.deepEqual(written, []);
    assert.equal(allows(viewer.role, "control"), false);
  });

  it("lets a control operator set values, each one through Control with its requester", async () => {
    const { desk, audit, written } = setup();
    const ops = desk.for("ops@example.net/desk");
    assert.ok(ops.admitted);
    assert.equal(allows(ops.role, "control"), true);
    assert.equal((await ops.control.set(setPump, "adhoc")).ok, true);
    assert.deepEqual(written, [true]);
    assert.deepEqual(audit.map((entry) => [entry.requester, entry.via, entry.result]), [["ops@example.net/desk", "adhoc", "ok"]]);
  });

  it("reads the audit trail to control operators only: both trails merged by time, newest last, refusals included", async () => {
    const { desk, configAudit, limits } = setup();
    const viewer = desk.for("viewer@example.net/phone");
    assert.ok(viewer.admitted);
    await viewer.control.set(setPump, "chat");
    configAudit.push({ at: new Date(Date.now() + 1000), requester: "root@example.net/x", via: "chat", summary: "operators: 3", result: "rolled-back", detail: "not online within 2 min" });
    const ops = desk.for("ops@example.net/desk");
    assert.ok(ops.admitted);
    await ops.control.set(setPump, "adhoc");
    configAudit.push({ at: new Date(Date.now() + 2000), requester: "mallory@example.net/x", via: "adhoc", summary: "not an operator of this gateway", result: "forbidden" });

    assert.deepEqual(await viewer.audit(10), { ok: false, kind: "forbidden", text: "the audit trail needs the control role; this operator has read" });
    const answer = await ops.audit(10);
    assert.ok(answer.ok);
    assert.equal(answer.complete, true);
    assert.deepEqual(
      answer.records.map((record) => [record.operator, record.via, record.action, record.result, record.reason]),
      [
        ["viewer@example.net", "chat", "pump state=true", "refused", "control needs the control role; this operator has read only"],
        ["ops@example.net", "adhoc", "pump state=true", "applied", undefined],
        ["root@example.net", "chat", "config push", "rolled back", "not online within 2 min"],
        ["mallory@example.net", "adhoc", "config push", "refused", "not an operator of this gateway"],
      ],
    );
    const newest = await ops.audit(2);
    assert.ok(newest.ok);
    assert.equal(newest.complete, false);
    assert.deepEqual(newest.records.map((record) => record.operator), ["root@example.net", "mallory@example.net"]);
    await ops.audit(100_000);
    assert.equal(limits.at(-1), 50, "the desk bounds the query whatever a face passes");
  });

  it("applies a reloaded operators list to the next request", () => {
    const { desk, authz } = setup();
    assert.equal(desk.for("newcomer@example.net/x").admitted, false);
    authz.replace([{ jid: "newcomer@example.net", role: "read" }]);
    const newcomer = desk.for("newcomer@example.net/x");
    assert.ok(newcomer.admitted);
    assert.equal(newcomer.role, "read");
    assert.equal(desk.for("ops@example.net/desk").admitted, false, "removed from the list");
  });

  it("applies a reloaded role to the very next request of the operator it last served", () => {
    const { desk, authz } = setup();
    const before = desk.for("ops@example.net/desk");
    assert.ok(before.admitted);
    assert.equal(desk.for("ops@example.net/desk"), before, "the same operator and role: the session is reused");
    authz.replace([{ jid: "ops@example.net", role: "read" }]);
    const after = desk.for("ops@example.net/desk");
    assert.ok(after.admitted);
    assert.equal(after.role, "read");
    assert.equal(desk.for("ops@example.net/other").requester, "ops@example.net/other", "another resource gets its own session");
    authz.replace([]);
    assert.equal(desk.for("ops@example.net/desk").admitted, false);
  });

  it("says what it has no part for: not on this gateway, or not while the store cannot open", async () => {
    const watch = { sensorId: "boiler", field: "temperature", condition: { kind: "failing" }, forMs: 0 } as const;
    for (const [storeWait, tail] of [[undefined, "on this gateway"], ["store cannot open: disk full on /var/lib", "while the store cannot open: disk full on /var/lib"]] as const) {
      const { desk } = setup(storeWait);
      const ops = desk.for("ops@example.net/desk");
      assert.ok(ops.admitted);
      const timed = await ops.timed.setFor("pump", "state", "true", 60_000, "chat");
      assert.deepEqual(timed.result.ok ? "applied" : [timed.result.kind, timed.result.text], ["unavailable", `timed sets are not available ${tail}`]);
      assert.deepEqual(await ops.watches.add(watch), { ok: false, text: `watches are not available ${tail}` });
      assert.deepEqual(ops.config.fetch(), { ok: false, kind: "failed", text: `remote configuration is not available ${tail}` });
      const viewer = desk.for("viewer@example.net/x");
      assert.ok(viewer.admitted);
      assert.deepEqual(await viewer.audit(10), { ok: false, kind: "forbidden", text: "the audit trail needs the control role; this operator has read" });
      const trail = await ops.audit(10);
      if (storeWait === undefined) assert.ok(trail.ok, "the store's trail");
      else assert.deepEqual(trail, { ok: false, kind: "unavailable", text: `the audit trail is not available ${tail}` }, "not an empty trail");
    }
  });
});

// Control of the actuators (the core of XEP-0325, chat `set` and the ad-hoc "set" command): who may, what is
// valid, and applying it. Everything in a request is validated before anything is applied, and every request,
// refused or not, goes to the audit trail. Nothing here knows about XMPP.
//
// Decisions:
// - Targets. With nodeIds, every listed node must be an available actuator that has every parameter named.
//   Without nodeIds, each parameter addresses the available actuator that has it (XEP-0325: parameters address
//   the nodes that define them), and the request must come down to one actuator: a node-less set that would
//   switch several (every relay's `state`) is more likely a slip than a wish, so it is refused, naming them.
// - Types. A value's XEP-0325 type must fit the parameter's declared type: boolean ← boolean; int ← int, long,
//   or a double with an integral value (forms and loosely typed clients send "3.0"); double ← double, int,
//   long; string ← string. color, date, dateTime, duration and time fit no parameter our drivers declare.
//   A value without a type (a submitted data form) is read as the parameter's declared type.
// - Late requests. One the transport held on the way (stored offline while the gateway was down) is refused
//   and audited, never applied: a command hours old would surprise whoever sent it.
// - Malformed requests. A face that cannot read a stanza as a request (an element its dialect does not define)
//   still hands it over, marked: it is refused after authorization, so strangers hear forbidden whatever they
//   send, and audited like any other.
// - No locks: concurrent requests are applied one after the other.
// - An actuator whose device is not open (it failed to open, or went away) is `unavailable`: a state that may
//   pass, so faces tell the requester to retry later.
// - getForm is a read: read operators may fetch it. With nodeIds it lists the parameters common to all those
//   nodes; without, every parameter of every available actuator. A value the nodes disagree on is `notSame`.
import type { ParameterSpec, ParameterValue } from "../drivers/driver.ts";
import type { ActuatorEntry } from "./actuators.ts";
import type { Authz } from "./authz.ts";
import { formatFieldValue } from "../lib/model.ts";
import { errorText, type Logger } from "./log.ts";

/** The parameter types of XEP-0325 `<set>`. */
export const CONTROL_TYPES = ["boolean", "color", "date", "dateTime", "double", "duration", "int", "long", "string", "time"] as const;
export type ControlType = (typeof CONTROL_TYPES)[number];

export interface ControlValue {
  name: string;
  /** The XEP-0325 element name; absent for a submitted data form (read as the declared type). */
  type?: string;
  value: string;
}

export interface ControlRequest {
  nodeIds?: string[];
  values: ControlValue[];
  /** The request was held on the way (a server stored it while the gateway was offline); sentAt as stamped. */
  delayed?: { sentAt: string };
  /** Why the face could not read the stanza as a request; refused as bad-request once authorized. */
  malformed?: string;
  /** Why this request was made, for the audit trail's detail (e.g. a timed action and its revert). */
  note?: string;
}

/** Why a request was refused; faces map each to their error (XEP-0325: the stanza error condition). */
export type ControlFailure =
  | "forbidden" // requester lacks the control role
  | "item-not-found" // unknown node or parameter
  | "bad-request" // malformed, wrong type, unparsable or out-of-range value
  | "feature-not-implemented" // a node that cannot be controlled (a sensor)
  | "unavailable" // the actuator's device is not open (it failed to open, or went away): retry later
  | "failed" // the device refused a write while applying
  | "delayed"; // delivered late: a command stored for hours would surprise whoever sent it

export interface AppliedValue {
  nodeId: string;
  name: string;
  value: ParameterValue;
}

export type ControlResult =
  | { ok: true; applied: AppliedValue[] }
  | {
      ok: false;
      kind: ControlFailure;
      text: string;
      /** The parameter at fault, when one is (XEP-0325 paramError). */
      parameter?: string;
      /** What had been applied before a write failed; empty for anything refused in validation. */
      applied: AppliedValue[];
    };

/** One line of the audit trail: who asked what, when, and how it ended. */
export interface AuditEntry {
  at: Date;
  /** The full JID (or other address) of the requester. */
  requester: string;
  /** Which face the request came through, e.g. "iq", "message", "chat", "adhoc". */
  via: string;
  nodeIds: string[];
  values: ControlValue[];
  /** "ok", or the failure kind. */
  result: "ok" | ControlFailure;
  detail?: string;
}

/** What control needs of the actuators (agent/actuators.ts's Actuators fits). */
export interface ActuatorSet {
  readonly all: readonly ActuatorEntry[];
  get(id: string): ActuatorEntry | undefined;
}

export interface ControlDeps {
  actuators: ActuatorSet;
  authz: Pick<Authz, "canRead" | "canControl">;
  /** Sensor ids: nodes that exist but take no control. */
  sensorIds: () => readonly string[];
  /** Writes the entry durably; a failure is logged, never hides the outcome from the requester. */
  audit: (entry: AuditEntry) => Promise<void>;
  log: Logger;
}

export interface FormParameter {
  spec: ParameterSpec;
  /** The nodes that have it (all selected ones when nodeIds were given). */
  nodeIds: string[];
  /** The current value as text (the first node's when they disagree); absent when it could not be read. */
  value?: string;
  /** The selected nodes do not all hold the same value (XEP-0336 notSame). */
  notSame: boolean;
}

export type FormResult = { ok: true; nodeIds: string[]; parameters: FormParameter[] } | { ok: false; kind: ControlFailure; text: string };

/** Bounds on a request, so a hostile stanza costs little and cannot bloat the audit trail. */
export const LIMITS = { values: 64, nodes: 64, nameLength: 128, valueLength: 1024, auditValueLength: 256 };

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

export interface Refusal {
  kind: ControlFailure;
  text: string;
  parameter?: string;
}

interface Planned {
  nodeIds: string[];
  name: string;
  value: ParameterValue;
}

export class Control {
  /** Requests run one at a time: validation and application never interleave with another request's. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ControlDeps) {}

  /** Validates the whole request, then applies it in order; the outcome is audited and logged either way. */
  set(requester: string, request: ControlRequest, via = "api"): Promise<ControlResult> {
    const run = this.tail.then(() => this.setNow(requester, request, via));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async setNow(requester: string, request: ControlRequest, via: string): Promise<ControlResult> {
    const outcome = await this.decideAndApply(requester, request);
    const entry: AuditEntry = {
      at: new Date(),
      requester,
      via,
      nodeIds: (request.nodeIds ?? []).slice(0, LIMITS.nodes).map(clip),
      values: request.values.slice(0, LIMITS.values).map((value) => ({
        name: clip(value.name),
        ...(value.type !== undefined ? { type: clip(value.type) } : {}),
        value: clip(value.value),
      })),
      result: outcome.ok ? "ok" : outcome.kind,
      ...auditDetail(request.note, outcome.ok ? undefined : outcome.text),
    };
    const summary = entry.values.map((value) => `${value.name}=${value.value}`).join(" ");
    const fields = { requester, via, nodes: entry.nodeIds.join(",") || "(all)", values: summary, result: entry.result };
    if (outcome.ok) this.deps.log.info("control applied", fields);
    else this.deps.log.info("control refused", { ...fields, reason: outcome.text });
    try {
      await this.deps.audit(entry);
    } catch (error) {
      this.deps.log.error("audit trail write failed", { ...fields, error: errorText(error) });
    }
    return outcome;
  }

  private async decideAndApply(requester: string, request: ControlRequest): Promise<ControlResult> {
    if (!this.deps.authz.canControl(requester)) {
      const text = this.deps.authz.canRead(requester)
        ? "control needs the control role; this operator has read only"
        : "not an operator of this gateway";
      return { ok: false, kind: "forbidden", text, applied: [] };
    }
    if (request.delayed) {
      const text = `sent at ${clip(request.delayed.sentAt)} and delivered late, so not applied; send it again if it still applies`;
      return { ok: false, kind: "delayed", text, applied: [] };
    }
    if (request.malformed !== undefined) return { ok: false, kind: "bad-request", text: clip(request.malformed), applied: [] };
    const plan = this.validate(request);
    if ("kind" in plan) return { ok: false, ...plan, applied: [] };
    const applied: AppliedValue[] = [];
    for (const step of plan) {
      for (const nodeId of step.nodeIds) {
        const done = applied.length > 0 ? `; applied before: ${applied.map(describeApplied).join(", ")}` : "; nothing was applied";
        const device = this.deps.actuators.get(nodeId)?.device;
        if (!device) return { ok: false, kind: "unavailable", text: `actuator ${nodeId} is no longer available${done}`, parameter: step.name, applied };
        try {
          await device.write([{ name: step.name, value: step.value }]);
        } catch (error) {
          return { ok: false, kind: "failed", text: `${nodeId}: writing ${step.name} failed: ${errorText(error)}${done}`, parameter: step.name, applied };
        }
        applied.push({ nodeId, name: step.name, value: step.value });
      }
    }
    return { ok: true, applied };
  }

  /** The whole request checked against the actuators: the steps to apply, or the first reason to refuse. */
  private validate(request: ControlRequest): Planned[] | Refusal {
    if (request.values.length === 0) return { kind: "bad-request", text: "no parameters to set" };
    if (request.values.length > LIMITS.values) return { kind: "bad-request", text: `too many parameters (at most ${LIMITS.values})` };
    const nodeIds = request.nodeIds ?? [];
    if (nodeIds.length > LIMITS.nodes) return { kind: "bad-request", text: `too many nodes (at most ${LIMITS.nodes})` };
    const targets: ActuatorEntry[] = [];
    for (const nodeId of nodeIds) {
      const target = this.target(nodeId);
      if ("kind" in target) return target;
      if (!targets.includes(target)) targets.push(target);
    }
    const explicit = nodeIds.length > 0;
    const candidates = explicit ? targets : this.deps.actuators.all.filter((entry) => entry.device);
    const plan: Planned[] = [];
    for (const value of request.values) {
      const name = value.name;
      if (name === "") return { kind: "bad-request", text: "a parameter without a name" };
      if (name.length > LIMITS.nameLength) return { kind: "bad-request", text: `a parameter name longer than ${LIMITS.nameLength} characters` };
      const having = candidates.filter((entry) => specOf(entry, name));
      if (having.length === 0 || (explicit && having.length < candidates.length)) {
        const missing = explicit ? candidates.find((entry) => !specOf(entry, name))?.id : undefined;
        return { kind: "item-not-found", text: missing ? `node ${missing} has no parameter ${name}` : `no actuator has a parameter ${name}`, parameter: name };
      }
      if (!explicit && having.length > 1) {
        const ids = having.map((entry) => entry.id).join(", ");
        return { kind: "bad-request", text: `${name} is a parameter of ${ids}: name the actuator to set; without one, all would be set`, parameter: name };
      }
      let parsed: ParameterValue | undefined;
      for (const entry of having) {
        const spec = specOf(entry, name)!;
        const result = parseValue(spec, value);
        if (typeof result === "object") return { ...result, parameter: name };
        // Nodes sharing a parameter name may declare it differently; the value must fit each of them.
        parsed ??= result;
      }
      plan.push({ nodeIds: having.map((entry) => entry.id), name, value: parsed! });
    }
    const written = [...new Set(plan.flatMap((step) => step.nodeIds))];
    if (!explicit && written.length > 1) {
      return { kind: "bad-request", text: `without a node this request would set ${written.join(", ")}: name the actuator to set` };
    }
    return plan;
  }

  private target(nodeId: string): ActuatorEntry | Refusal {
    const entry = this.deps.actuators.get(nodeId);
    if (!entry) {
      if (this.deps.sensorIds().includes(nodeId)) return { kind: "feature-not-implemented", text: `node ${nodeId} is a sensor; it takes no control` };
      return { kind: "item-not-found", text: `no node ${clip(nodeId)}` };
    }
    if (!entry.device) return { kind: "unavailable", text: `actuator ${nodeId} is not available: ${entry.error ?? "not open"}` };
    return entry;
  }

  /** The parameters an actuator declares, without reading its device: their names and types, not their values. */
  parametersOf(nodeId: string): readonly ParameterSpec[] {
    return this.deps.actuators.get(nodeId)?.device?.parameters ?? [];
  }

  /** The settable parameters of the selected actuators, with their current values. */
  async getForm(requester: string, nodeIds: string[] = []): Promise<FormResult> {
    if (!this.deps.authz.canRead(requester)) return { ok: false, kind: "forbidden", text: "not an operator of this gateway" };
    if (nodeIds.length > LIMITS.nodes) return { ok: false, kind: "bad-request", text: `too many nodes (at most ${LIMITS.nodes})` };
    const selected: ActuatorEntry[] = [];
    for (const nodeId of nodeIds) {
      const target = this.target(nodeId);
      if ("kind" in target) return { ok: false, ...target };
      if (!selected.includes(target)) selected.push(target);
    }
    const entries = nodeIds.length > 0 ? selected : this.deps.actuators.all.filter((entry) => entry.device);
    const current = new Map<ActuatorEntry, Map<string, string>>();
    await Promise.all(
      entries.map(async (entry) => {
        const values = new Map<string, string>();
        try {
          for (const field of (await entry.device?.read()) ?? []) values.set(field.name, formatFieldValue(field));
        } catch (error) {
          this.deps.log.warn("actuator state unreadable", { actuator: entry.id, error: errorText(error) });
        }
        current.set(entry, values);
      }),
    );
    const parameters: FormParameter[] = [];
    for (const entry of entries) {
      for (const spec of entry.device?.parameters ?? []) {
        if (parameters.some((known) => known.spec.name === spec.name)) continue;
        const having = entries.filter((other) => specOf(other, spec.name));
        if (nodeIds.length > 0 && having.length < entries.length) continue;
        const values = having.map((other) => current.get(other)?.get(spec.name));
        const [first] = values;
        parameters.push({
          spec,
          nodeIds: having.map((other) => other.id),
          ...(first !== undefined ? { value: first } : {}),
          notSame: values.some((value) => value !== first),
        });
      }
    }
    return { ok: true, nodeIds: entries.map((entry) => entry.id), parameters };
  }
}

function auditDetail(note: string | undefined, failure: string | undefined): { detail?: string } {
  const detail = [note && clip(note), failure].filter(Boolean).join(": ");
  return detail === "" ? {} : { detail };
}

function specOf(entry: ActuatorEntry, name: string): ParameterSpec | undefined {
  return entry.device?.parameters.find((spec) => spec.name === name);
}

function clip(text: string): string {
  return text.length > LIMITS.auditValueLength ? `${text.slice(0, LIMITS.auditValueLength)}…` : text;
}

function describeApplied(applied: AppliedValue): string {
  return `${applied.nodeId}.${applied.name}=${String(applied.value)}`;
}

const XS_INTEGER = /^[+-]?\d+$/;
const XS_DECIMAL_OR_DOUBLE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Which XEP-0325 types fit a declared parameter type. */
const COMPATIBLE: Record<ParameterSpec["type"], readonly ControlType[]> = {
  boolean: ["boolean"],
  int: ["int", "long", "double"],
  double: ["double", "int", "long"],
  string: ["string"],
};

/** The value as the parameter's type, or why it does not fit (type, syntax, range, options). */
export function parseValue(spec: ParameterSpec, input: ControlValue): ParameterValue | Refusal {
  const name = spec.name;
  const bad = (text: string): Refusal => ({ kind: "bad-request", text: `${name}: ${text}` });
  if (input.type !== undefined) {
    if (!(CONTROL_TYPES as readonly string[]).includes(input.type)) {
      return bad(`unknown parameter type ${clip(input.type)} (XEP-0325 types: ${CONTROL_TYPES.join(", ")})`);
    }
    if (!COMPATIBLE[spec.type].includes(input.type as ControlType)) return bad(`takes ${describeType(spec)}; got type ${input.type}`);
  }
  if (input.value.length > LIMITS.valueLength) return bad(`value longer than ${LIMITS.valueLength} characters`);
  // xs:boolean and the numeric types collapse surrounding XML whitespace (space, tab, CR, LF) and no other:
  // String.trim would also take a BOM or a no-break space, so "true\uFEFF" would pass (found by stanza fuzzing).
  const text = input.value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  switch (spec.type) {
    case "boolean":
      if (text === "true" || text === "1") return true;
      if (text === "false" || text === "0") return false;
      return bad(`expected true, false, 1 or 0, got ${JSON.stringify(clip(input.value))}`);
    case "int": {
      const integral = input.type === "double" || input.type === undefined ? XS_DECIMAL_OR_DOUBLE : XS_INTEGER;
      const number = integral.test(text) ? Number(text) : Number.NaN;
      if (!Number.isInteger(number)) return bad(`expected an integer, got ${JSON.stringify(clip(input.value))}`);
      const range = input.type === "long" ? { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER } : INT32;
      if (number < range.min || number > range.max) return bad(`${text} is outside the ${input.type ?? "int"} range`);
      return inRange(spec, number, bad);
    }
    case "double": {
      const number = XS_DECIMAL_OR_DOUBLE.test(text) ? Number(text) : Number.NaN;
      // INF and NaN are xs:double values, but no actuator takes them.
      if (!Number.isFinite(number)) return bad(`expected a finite number, got ${JSON.stringify(clip(input.value))}`);
      return inRange(spec, number, bad);
    }
    case "string":
      if (spec.options && !spec.options.includes(input.value)) {
        return bad(`expected one of ${spec.options.join(", ")}, got ${JSON.stringify(clip(input.value))}`);
      }
      return input.value;
  }
}

function inRange(spec: ParameterSpec, value: number, bad: (text: string) => Refusal): number | Refusal {
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    return bad(`${value} is outside ${spec.min ?? "-∞"}..${spec.max ?? "∞"}${spec.unit ? ` ${spec.unit}` : ""}`);
  }
  return value;
}

function describeType(spec: ParameterSpec): string {
  switch (spec.type) {
    case "boolean":
      return "a boolean";
    case "int":
      return "an integer (int, long, or an integral double)";
    case "double":
      return "a number (double, int or long)";
    case "string":
      return "a string";
  }
}

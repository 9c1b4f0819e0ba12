// The operator desk: the one way from a face to what operators may read and do. A face hands over the
// requester's JID and gets either an operator session (the role, readout, status, history and control, bound to
// that requester) or a refusal, which holds nothing to read. A face that forgets to ask has nothing to read from.
// Control stays the core's to authorize (agent/control.ts), so both answers can attempt it: a stranger's attempt
// is refused and audited there like any other. Remote configuration is likewise the core's (agent/remote-config.ts):
// it refuses everyone but admins. The audit trail is read here: control operators and admins only, since it
// names who did what. Watches (./watches.ts) are every operator's: each sees and removes their own, an admin
// everyone's.
import { allows, type Authz, type Role } from "../authz.ts";
import type { Control, ControlRequest, ControlResult, FormResult } from "../control.ts";
import type { ParameterSpec } from "../../drivers/driver.ts";
import type { Readout, ReadoutRequest, ReadoutResult } from "../readout.ts";
import { snapshotOf, type HealthSnapshot, type HealthSources } from "../health.ts";
import { historySummary, type HistorySummary } from "./history.ts";
import type { ConfigCounter, RemoteConfig } from "../remote-config.ts";
import { MAX_AUDIT_ENTRIES, readAudit, type AuditRecord, type AuditTrails } from "./audit.ts";
import type { CancelResult, TimedAction, TimedActions, TimedSetResult } from "../timed-actions.ts";
import type { AlertEvent } from "../alerts.ts";
import type { StoredWatch, WatchRequest, WatchResult, Watches } from "./watches.ts";

/** Control as one requester sees it: every call is authorized and audited by the core. */
export interface ControlCounter {
  set(request: ControlRequest, via: string): Promise<ControlResult>;
  getForm(nodeIds?: string[]): Promise<FormResult>;
}

/** Timed sets as one requester sees them: every write goes through control, authorized and audited there. */
export interface TimedCounter {
  setFor(nodeId: string, parameter: string, value: string, durationMs: number, via: string): Promise<TimedSetResult>;
  cancel(nodeId: string, parameter: string | undefined, via: string): Promise<CancelResult[]>;
  /** The timer on one parameter, if one runs. */
  find(nodeId: string, parameter: string): TimedAction | undefined;
}

/** Watches as one requester sees them: their own, or everyone's for an admin. */
export interface WatchCounter {
  add(request: WatchRequest): Promise<WatchResult>;
  list(): StoredWatch[];
  remove(id: number): Promise<WatchResult>;
}

export interface OperatorSession {
  readonly admitted: true;
  /** The full JID that asked. */
  readonly requester: string;
  readonly role: Role;
  /** Every sensor and actuator id, in config order. */
  readonly nodeIds: readonly string[];
  unknownNodes(nodeIds: readonly string[]): string[];
  read(request: ReadoutRequest): Promise<ReadoutResult>;
  /** The agent's health now. */
  status(): HealthSnapshot;
  /** The numeric values of `nodeId` over the `durationMs` before `now`. */
  history(nodeId: string, durationMs: number, now: Date): Promise<HistorySummary>;
  /** What an actuator lets operators set (names and types), read from its declaration, not its device. */
  parametersOf(nodeId: string): readonly ParameterSpec[];
  readonly control: ControlCounter;
  readonly timed: TimedCounter;
  /** The gateway's config file, fetched and pushed by admins only (authorized and audited by the core). */
  readonly config: ConfigCounter;
  /** The newest `limit` entries of the audit trail, oldest first; for the control role and up. */
  audit(limit: number): Promise<AuditAnswer>;
  readonly watches: WatchCounter;
  /** The alerts fired now, config rules and watches alike. */
  activeAlerts(): AlertEvent[];
}

export type AuditAnswer = { ok: true; records: AuditRecord[]; complete: boolean } | { ok: false; kind: "forbidden" | "unavailable"; text: string };

/** Not an operator: nothing to read; control attempts are refused by the core. */
export interface Refusal {
  readonly admitted: false;
  readonly requester: string;
  readonly control: ControlCounter;
}

export interface DeskDeps {
  authz: Pick<Authz, "roleOf">;
  readout: Pick<Readout, "nodeIds" | "unknownNodes" | "read">;
  control: Pick<Control, "set" | "getForm" | "parametersOf">;
  health: HealthSources;
  /** Remote configuration; without it, fetching and pushing answer that it is not available. */
  config?: Pick<RemoteConfig, "for">;
  /** The control and config audit trails (the store); without them the trail reads empty. */
  audit?: AuditTrails;
  /** Timed sets; without them a timed set answers that it is not available. */
  timed?: Pick<TimedActions, "setFor" | "cancel" | "find" | "supersede">;
  /** Chat watches; without them a watch answers that it is not available. */
  watches?: Pick<Watches, "add" | "list" | "remove">;
  /** The alerts fired now; none when absent. */
  activeAlerts?: () => AlertEvent[];
  /** Told of every readout answered (agent/metrics.ts counts them); absent when nobody counts. */
  readoutServed?: () => void;
  /**
   * Why what lives in the store is missing for now (`store cannot open: disk full on /var/lib`): set while the
   * agent waits for its store, and said instead of "not available on this gateway" for timed sets, watches,
   * remote configuration and the audit trail.
   */
  storeWait?: string;
}

const NO_AUDIT: AuditTrails = { auditLog: () => Promise.resolve([]), configAuditLog: () => Promise.resolve([]) };

/** What the desk answers for a part it was given none of: `what` is "timed sets are", "watches are", …. */
function missing(what: string, storeWait: string | undefined): string {
  return `${what} not available ${storeWait === undefined ? "on this gateway" : `while the ${storeWait}`}`;
}

function noTimed(text: string): TimedCounter {
  return {
    setFor: () => Promise.resolve({ result: { ok: false, kind: "unavailable", text, applied: [] } }),
    cancel: () => Promise.resolve([]),
    find: () => undefined,
  };
}

function noWatches(text: string): WatchCounter {
  const answer = { ok: false, text } as const;
  return { add: () => Promise.resolve(answer), list: () => [], remove: () => Promise.resolve(answer) };
}

function noRemoteConfig(text: string): ConfigCounter {
  return {
    fetch: () => ({ ok: false, kind: "failed", text }),
    push: () => Promise.resolve({ ok: false, kind: "failed", problems: [text] }),
  };
}

export class OperatorDesk {
  constructor(private readonly deps: DeskDeps) {}

  /**
   * The last session handed out: an operator's requests come in runs, and a session is some twenty closures to
   * build. It is reused only while the requester's role is the same, so a reloaded list still applies at once.
   */
  private last?: OperatorSession;

  /** Looks the requester up in the operators list as it is now (a reloaded list applies to the next call). */
  for(requester: string): OperatorSession | Refusal {
    const role = this.deps.authz.roleOf(requester);
    const { last } = this;
    if (last && role !== undefined && last.requester === requester && last.role === role) return last;
    const answer = this.open(requester, role);
    if (answer.admitted) this.last = answer;
    return answer;
  }

  private open(requester: string, role: Role | undefined): OperatorSession | Refusal {
    const { readout, control, health, config, readoutServed, timed, watches, activeAlerts, audit, storeWait } = this.deps;
    const counter: ControlCounter = {
      set: async (request, via) => {
        const result = await control.set(requester, request, via);
        // A plain set chooses the value to keep: a timer on what it wrote must not switch it back later.
        if (result.ok) timed?.supersede(result.applied);
        return result;
      },
      getForm: (nodeIds) => control.getForm(requester, nodeIds),
    };
    if (role === undefined) return { admitted: false, requester, control: counter };
    return {
      admitted: true,
      requester,
      role,
      get nodeIds() {
        return readout.nodeIds;
      },
      unknownNodes: (nodeIds) => readout.unknownNodes(nodeIds),
      read: async (request) => {
        const result = await readout.read(request);
        readoutServed?.();
        return result;
      },
      status: () => snapshotOf(health),
      history: (nodeId, durationMs, now) => historySummary(readout, nodeId, durationMs, now),
      parametersOf: (nodeId) => control.parametersOf(nodeId),
      control: counter,
      timed: timed
        ? {
            setFor: (nodeId, parameter, value, durationMs, via) => timed.setFor(requester, nodeId, parameter, value, durationMs, via),
            cancel: (nodeId, parameter, via) => timed.cancel(requester, nodeId, parameter, via),
            find: (nodeId, parameter) => timed.find(nodeId, parameter),
          }
        : noTimed(missing("timed sets are", storeWait)),
      config: config?.for(requester) ?? noRemoteConfig(missing("remote configuration is", storeWait)),
      audit: async (limit) => {
        if (!allows(role, "control")) return { ok: false, kind: "forbidden", text: `the audit trail needs the control role; this operator has ${role}` };
        if (audit === undefined && storeWait !== undefined) return { ok: false, kind: "unavailable", text: missing("the audit trail is", storeWait) };
        // Faces check what a person typed; this bound keeps any caller's query small.
        return { ok: true, ...(await readAudit(audit ?? NO_AUDIT, Math.min(Math.max(1, Math.floor(limit)), MAX_AUDIT_ENTRIES))) };
      },
      watches: watches
        ? {
            add: (request) => watches.add(requester, request),
            list: () => watches.list(role === "admin" ? undefined : requester),
            remove: (id) => watches.remove(requester, id, role === "admin"),
          }
        : noWatches(missing("watches are", storeWait)),
      activeAlerts: () => activeAlerts?.() ?? [],
    };
  }
}

export { allows } from "../authz.ts";

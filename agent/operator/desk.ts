// The operator desk: the one way from a face to what operators may read and do. A face hands over the
// requester's JID and gets either an operator session (the role, readout, status, history and control, bound to
// that requester) or a refusal, which holds nothing to read. A face that forgets to ask has nothing to read from.
// Control stays the core's to authorize (agent/control.ts), so both answers can attempt it: a stranger's attempt
// is refused and audited there like any other. Remote configuration is likewise the core's (agent/remote-config.ts):
// it refuses everyone but admins.
import type { Authz, Role } from "../authz.ts";
import type { Control, ControlRequest, ControlResult, FormResult } from "../control.ts";
import type { ParameterSpec } from "../../drivers/driver.ts";
import type { Readout, ReadoutRequest, ReadoutResult } from "../readout.ts";
import { snapshotOf, type HealthSnapshot, type HealthSources } from "../health.ts";
import { historySummary, type HistorySummary } from "./history.ts";
import type { ConfigCounter, RemoteConfig } from "../remote-config.ts";

/** Control as one requester sees it: every call is authorized and audited by the core. */
export interface ControlCounter {
  set(request: ControlRequest, via: string): Promise<ControlResult>;
  getForm(nodeIds?: string[]): Promise<FormResult>;
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
  /** The gateway's config file, fetched and pushed by admins only (authorized and audited by the core). */
  readonly config: ConfigCounter;
}

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
  /** Told of every readout answered (agent/metrics.ts counts them); absent when nobody counts. */
  readoutServed?: () => void;
}

const NO_REMOTE_CONFIG = "remote configuration is not available on this gateway";
const noRemoteConfig: ConfigCounter = {
  fetch: () => ({ ok: false, kind: "failed", text: NO_REMOTE_CONFIG }),
  push: () => Promise.resolve({ ok: false, kind: "failed", problems: [NO_REMOTE_CONFIG] }),
};

export class OperatorDesk {
  constructor(private readonly deps: DeskDeps) {}

  /** Looks the requester up in the operators list as it is now (a reloaded list applies to the next call). */
  for(requester: string): OperatorSession | Refusal {
    const { authz, readout, control, health, config, readoutServed } = this.deps;
    const counter: ControlCounter = {
      set: (request, via) => control.set(requester, request, via),
      getForm: (nodeIds) => control.getForm(requester, nodeIds),
    };
    const role = authz.roleOf(requester);
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
      config: config?.for(requester) ?? noRemoteConfig,
    };
  }
}

export { allows } from "../authz.ts";

// Readouts in progress, for the XEP-0323 face and the nf dialect's alike: the same admission rules (known nodes,
// at most a day ahead, one readout per id and requester, a bound per requester), a start a turn later or at its
// `when`, cancel, and stop. The faces differ only in what they call the id (seqnr, id) and how they answer.
import type { Element } from "./client.ts";
import { stanzaError } from "./stanza-error.ts";
import { bareJid } from "../authz.ts";
import type { OperatorSession } from "../operator/desk.ts";
import type { ReadoutRequest } from "../readout.ts";

export const READOUT_LIMITS = {
  /** A readout may be scheduled at most this far ahead (`when`). */
  scheduleAheadMs: 24 * 3_600_000,
  readoutsPerRequester: 4,
};

export interface ReadoutSession {
  requester: string;
  id: string;
  cancelled: boolean;
  /** Cancels the scheduled start or the pending messages, if they have not gone yet. */
  unschedule?: () => void;
}

export class ReadoutSessions {
  private readonly sessions = new Map<string, ReadoutSession>();

  /** @param idName what the face's protocol calls a readout's id, for the error texts ("seqnr", "id"). */
  constructor(private readonly idName: string) {}

  /**
   * Opens a session for `id` from `requester`, or answers why not (the `<error/>` to send): unknown nodes, a
   * `when` too far ahead, an id already in use, too many readouts at once. `delayMs` is how long to wait for `when`.
   */
  admit(operator: OperatorSession, requester: string, id: string, request: ReadoutRequest, when: Date | undefined): { session: ReadoutSession; delayMs: number } | Element {
    const unknown = operator.unknownNodes(request.nodeIds ?? []);
    if (unknown.length > 0) return stanzaError("cancel", "item-not-found", `no node ${unknown.join(", ")}`);
    const delayMs = when ? when.getTime() - Date.now() : 0;
    if (delayMs > READOUT_LIMITS.scheduleAheadMs) return stanzaError("modify", "bad-request", "when is more than 24 hours ahead");
    const sessionKey = key(requester, id);
    if (this.sessions.has(sessionKey)) return stanzaError("modify", "bad-request", `${this.idName} ${id} is already in use by a readout in progress`);
    if (this.activeOf(bareJid(requester)) >= READOUT_LIMITS.readoutsPerRequester) {
      return stanzaError("wait", "resource-constraint", `at most ${READOUT_LIMITS.readoutsPerRequester} readouts at a time; wait for one to finish`);
    }
    const session: ReadoutSession = { requester, id, cancelled: false };
    this.sessions.set(sessionKey, session);
    return { session, delayMs: Math.max(0, delayMs) };
  }

  /** How many readouts of one person (a bare JID, whichever resources asked) are in progress. */
  private activeOf(bare: string): number {
    let active = 0;
    for (const session of this.sessions.values()) if (bareJid(session.requester) === bare) active += 1;
    return active;
  }

  /**
   * Runs `start` at the session's `when`, or a turn later so the iq result goes out before the first message
   * (setImmediate rather than setTimeout(0), which costs at least a millisecond on every readout).
   */
  schedule(session: ReadoutSession, delayMs: number, start: () => void): void {
    if (delayMs > 0) {
      const timer = setTimeout(start, delayMs);
      session.unschedule = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(start);
      session.unschedule = () => clearImmediate(immediate);
    }
  }

  /** The readout is over: its id may be used again. */
  end(session: ReadoutSession): void {
    const sessionKey = key(session.requester, session.id);
    if (this.sessions.get(sessionKey) === session) this.sessions.delete(sessionKey);
  }

  /** Cancels the requester's readout `id`; false when none is in progress. */
  cancel(requester: string, id: string): boolean {
    const sessionKey = key(requester, id);
    const session = this.sessions.get(sessionKey);
    if (!session) return false;
    session.cancelled = true;
    session.unschedule?.();
    this.sessions.delete(sessionKey);
    return true;
  }

  /** Drops every readout still scheduled or sending. */
  stop(): void {
    for (const session of this.sessions.values()) {
      session.cancelled = true;
      session.unschedule?.();
    }
    this.sessions.clear();
  }
}

function key(requester: string, id: string): string {
  return `${requester} ${id}`;
}

// XEP-0199 ping, both ways. The agent pings its server and takes silence as a dead link (a frozen server or a
// pulled cable leaves the socket open for minutes), whether or not the server offers stream management; and it
// answers the pings others send it.
import { xml } from "../client.ts";
import type { IqRequest, IqResponder } from "../iq.ts";

export const NS_PING = "urn:xmpp:ping";

export interface KeepaliveOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/** Answers every ping with an empty result. */
export function answerPings(responder: IqResponder): void {
  responder.get(NS_PING, "ping", () => true);
}

/** What the keepalive watches: which session is online, and whom to tell that it is dead. */
export interface LinkState<Session> {
  /** The session that is online now, if any: pings on any other session are not sent and not judged. */
  live(): Session | undefined;
  lost(session: Session, reason: string): void;
}

/** Pings the server every `pingIntervalMs` while one session is online; started when it comes up, stopped on any drop. */
export class Keepalive<Session extends { request: IqRequest }> {
  private timer: NodeJS.Timeout | undefined;

  /** `options` is read at each use, so new settings apply from the next session (interval) or ping (timeout, domain). */
  constructor(
    private readonly options: () => KeepaliveOptions & { domain: string },
    private readonly link: LinkState<Session>,
  ) {}

  start(session: Session): void {
    this.timer = setInterval(() => void this.ping(session), this.options().pingIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async ping(session: Session): Promise<void> {
    if (this.link.live() !== session) return;
    const { domain, pingTimeoutMs } = this.options();
    try {
      await session.request(xml("iq", { type: "get", to: domain }, xml("ping", { xmlns: NS_PING })), pingTimeoutMs);
    } catch (error) {
      // An error reply is still an answer: the link is alive. Only silence means a dead link.
      if ((error as { name?: string }).name === "TimeoutError") {
        this.link.lost(session, `no answer to a ping within ${pingTimeoutMs} ms`);
      }
    }
  }
}

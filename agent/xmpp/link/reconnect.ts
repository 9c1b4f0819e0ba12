// The attempt loop: a fresh client per attempt, exponential backoff with jitter between attempts, and one line a
// person can act on when an attempt fails. It owns which client is current and whether it is online, so the
// other link modules can tell the live session from one already dropped.
import { createClient, type ClientOptions, type XmppClient } from "../client.ts";
import { SaltedPasswordCache } from "../scram.ts";
import { errorText, type Logger } from "../../log.ts";

export interface ReconnectOptions {
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  /** Longest a single connect + TLS + login may take before the attempt counts as failed. */
  attemptTimeoutMs?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential from initialDelay, capped at maxDelay, with
 * "equal jitter" (half fixed, half random) so a fleet that lost the same server does not return in lockstep.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Turns the errors a person can act on into one line that says what to do. */
export function explainConnectError(error: unknown, options: Pick<ClientOptions, "service" | "domain">): string {
  const code = (error as { code?: unknown }).code;
  const condition = (error as { condition?: unknown }).condition;
  if (typeof code === "string") {
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
      return `TLS: the server's certificate for ${options.domain} is not trusted (${code}); if it is signed by your own CA, set xmpp.caFile to that CA's PEM file`;
    }
    if (code === "ECONNREFUSED") return `cannot reach ${options.service}: connection refused (is the server running?)`;
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the server for ${options.service} (${code})`;
    if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH") return `cannot reach ${options.service} (${code})`;
  }
  if (condition === "not-authorized") return "login refused (not-authorized): check xmpp.jid and the password";
  // xmpp.js times out the stream opening and each negotiation step with a TimeoutError that has no message.
  if ((error as { name?: unknown }).name === "TimeoutError") {
    return `the server at ${options.service} did not answer in time (busy, or the link loses packets)`;
  }
  return errorText(error);
}

/** What the composition does at each step of a session's life, in this order. */
export interface SessionSteps {
  /** A fresh client before it connects: the handlers every session answers with. */
  prepare(client: XmppClient): void;
  /** Logged in and online; the attempt loop waits for this before it is done with the attempt. */
  up(client: XmppClient): Promise<void>;
  /** Leaving on purpose (stop, new settings) while online, before the stream is closed. */
  leave(client: XmppClient): Promise<void>;
  /** The current client was forgotten; `wasOnline` says whether it had come up. */
  dropped(reason: string, wasOnline: boolean): void;
}

export class Reconnect {
  private current: XmppClient | undefined;
  private online = false;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Reconnects reuse the login's salted password instead of running PBKDF2 again. */
  private readonly saltedPasswords = new SaltedPasswordCache();
  /** Why the last attempt failed, in words a person can act on. */
  lastFailure: string | undefined;

  /** `options` is read at each use, so an attempt after new settings uses them. */
  constructor(
    private readonly options: () => ClientOptions & ReconnectOptions,
    private readonly log: Logger,
    private readonly steps: SessionSteps,
  ) {}

  /** The client whose session is online now, if any. */
  live(): XmppClient | undefined {
    return this.online ? this.current : undefined;
  }

  /** Starts connecting in the background; never waits for the network. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connectOnce();
  }

  /** Closes the link and makes it again at once (new settings), from a first attempt; nothing while stopped. */
  restart(reason: string): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const client = this.live();
    if (client) void this.steps.leave(client).catch(() => undefined);
    this.drop(reason);
    this.attempt = 0;
    void this.connectOnce();
  }

  /** Goes offline politely: leaves, closes the stream (at most 3 s), then drops the link; no attempt follows. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.live();
    if (client) {
      try {
        await this.steps.leave(client);
        await withTimeout(client.entity.stop(), 3000);
      } catch (error) {
        this.log.debug("closing the stream failed; dropping the link", { error: errorText(error) });
      }
    }
    this.drop("stopped");
  }

  /** The session of `client` is dead (closed stream, unanswered ping): drop it and try again after a backoff. */
  lost(client: XmppClient, reason: string): void {
    if (this.current !== client || !this.online || this.stopped) return;
    this.log.warn("link lost", { reason });
    this.drop(reason);
    this.scheduleRetry();
  }

  private async connectOnce(): Promise<void> {
    if (this.stopped) return;
    const client = createClient(this.options(), this.saltedPasswords);
    this.current = client;
    this.steps.prepare(client);
    const { entity } = client;
    let lastError: unknown;
    entity.on("error", (error: unknown) => {
      lastError = error;
    });
    try {
      await withTimeout(entity.start(), this.options().attemptTimeoutMs ?? 30_000);
    } catch (error) {
      if (this.current !== client || this.stopped) return;
      this.lastFailure = explainConnectError(lastError ?? error, this.options());
      this.log.warn("connection failed", { error: this.lastFailure });
      this.drop("connect failed");
      this.scheduleRetry();
      return;
    }
    if (this.current !== client || this.stopped) return;
    this.attempt = 0;
    this.online = true;
    entity.on("disconnect", () => this.lost(client, "stream closed by the server or the network"));
    await this.steps.up(client);
  }

  /** Forgets the current client: its socket is destroyed and nothing it emits reaches us any more. */
  private drop(reason: string): void {
    const client = this.current;
    this.current = undefined;
    const wasOnline = this.online;
    this.online = false;
    if (client) {
      const { entity } = client;
      entity.removeAllListeners();
      entity.on("error", () => undefined);
      // A net.Socket before STARTTLS, xmpp.js's TLS wrapper (holding the TLSSocket) after it.
      const socket = entity.socket as unknown as { socket?: { destroy(): void } | null; destroy?: () => void } | null;
      if (socket?.socket) socket.socket.destroy();
      else socket?.destroy?.();
    }
    this.steps.dropped(reason, wasOnline);
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const { initialDelayMs, maxDelayMs } = this.options().reconnect;
    const delay = backoffDelay(this.attempt, initialDelayMs, maxDelayMs);
    this.attempt += 1;
    this.log.info("reconnecting", { inMs: delay, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connectOnce(), delay);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

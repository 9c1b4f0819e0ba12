// The console's XMPP link: @xmpp/client over WebSocket, logging in with the SCRAM of scram.ts (the server's
// signature checked in its <success>) and again after a lost connection or a server restart, with a backoff of its
// own (xmpp.js's loop retries every second, forever); and a small iq requester that matches a reply by id AND
// sender, with a timeout, so that an error reply is a rejected promise the caller handles.
import { client, type XmppClient } from "@xmpp/client";
import { xml } from "@xmpp/client-core";
import type { Element } from "@xmpp/xml";
import { retryDelay } from "./backoff.ts";
import { MECHANISMS, ScramMechanism, type ScramHash, type ScramKeys } from "./scram.ts";

export { xml };
export type { Element };

const IQ_TIMEOUT_MS = 15_000;
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_SASL2 = "urn:xmpp:sasl:2";

/** An iq error reply: its condition (`forbidden`, `item-not-found`, …) and text. */
export class IqError extends Error {
  constructor(
    readonly condition: string,
    text: string,
  ) {
    super(text === "" ? condition : `${condition}: ${text}`);
  }
}

interface Pending {
  to: string | undefined;
  resolve(result: Element): void;
  reject(error: Error): void;
}

export interface LinkOptions {
  service: string;
  jid: string;
  /** "" to log in with `keys` alone. */
  password: string;
  /** SCRAM keys the operator asked the console to remember at an earlier login. */
  keys?: ScramKeys;
}

export class Link {
  private readonly xmpp: XmppClient;
  private readonly pending = new Map<string, Pending>();
  private nextId = 0;
  /** Attempts since the connection was lost; 0 while online. */
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly retryListeners = new Set<(inMs: number, attempt: number) => void>();
  /** The SCRAM exchange of the login under way, whose server signature <success> must carry. */
  private scram: ScramMechanism | undefined;
  private scramFailure: string | undefined;
  /** The SASL mechanism of the last login. */
  mechanism: string | undefined;
  /** The SCRAM keys of the last login, once the server proved it knows them; for "remember" only. */
  keys: ScramKeys | undefined;
  readonly domain: string;
  readonly bareJid: string;

  constructor(options: LinkOptions) {
    const [local = "", domain = ""] = options.jid.split("/")[0]?.split("@") ?? [];
    this.domain = domain;
    this.bareJid = `${local}@${domain}`;
    const credentials = { username: local, password: options.password };
    // SASL2's (XEP-0388) user agent, as xmpp.js would send it; unused by SASL1 servers.
    const userAgent = xml("user-agent", { id: crypto.randomUUID() });
    this.xmpp = client({
      service: options.service,
      domain,
      username: local,
      // A random resource per page: two tabs of the same operator are two sessions.
      resource: `console-${crypto.randomUUID().slice(0, 8)}`,
      credentials: async (authenticate, offered) => {
        // Without a password only the remembered keys' own mechanism can log in.
        const usable = options.password === "" ? (options.keys === undefined ? [] : [`SCRAM-${options.keys.hash}`]) : MECHANISMS;
        const mechanism = usable.find((candidate) => offered.includes(candidate));
        if (mechanism === undefined) throw new Error(`the server offers no login this console can do (${offered.join(", ")})`);
        this.mechanism = mechanism;
        this.scram = undefined;
        this.scramFailure = undefined;
        await authenticate(credentials, mechanism, userAgent);
        this.checkServerProof();
      },
    });
    for (const hash of ["SHA-256", "SHA-1"] satisfies ScramHash[]) {
      const created = (scram: ScramMechanism): void => void (this.scram = scram);
      this.xmpp.saslFactory.use(
        `SCRAM-${hash}`,
        class extends ScramMechanism {
          constructor() {
            super(hash, options.keys);
            created(this);
          }
        },
      );
    }
    // The server's signature comes in <success> (SASL2: its <additional-data>), which xmpp.js does not pass on.
    this.xmpp.on("nonza", (element) => {
      const namespace = element.getNS();
      if (element.name !== "success" || (namespace !== NS_SASL && namespace !== NS_SASL2) || this.scram === undefined) return;
      const data = namespace === NS_SASL2 ? (element.getChildText("additional-data") ?? "") : element.getText();
      try {
        this.scram.verifyServerFinal(atob(data.trim()));
      } catch (error) {
        this.scramFailure = error instanceof Error ? error.message : String(error);
      }
    });
    this.xmpp.on("stanza", (stanza) => this.settle(stanza));
    this.xmpp.reconnect.stop();
    this.xmpp.on("disconnect", () => this.scheduleRetry());
    this.xmpp.on("online", () => (this.attempts = 0));
  }

  /** After a SCRAM login: <success> must have carried the server's signature, checked by the nonza listener. */
  private checkServerProof(): void {
    if (this.scram !== undefined && !this.scram.serverVerified) throw new Error(this.scramFailure ?? "SCRAM: the server did not prove that it knows the password");
    this.keys = this.scram?.keys;
  }

  /** After a lost connection: the next attempt to log in again, after a delay that grows with each failed one. */
  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const attempt = ++this.attempts;
    const delay = retryDelay(attempt - 1);
    this.retryTimer = setTimeout(() => {
      if (this.stopped || this.xmpp.status !== "disconnect") return;
      // A failure ends in "disconnect" again, which schedules the next attempt; its error goes to onError.
      this.xmpp.reconnect.reconnect().catch(() => undefined);
    }, delay);
    for (const listener of this.retryListeners) listener(delay, attempt);
  }

  /** Told when the next attempt to log in again is scheduled: in how many ms, and its number. */
  onRetry(listener: (inMs: number, attempt: number) => void): void {
    this.retryListeners.add(listener);
  }

  onStanza(listener: (stanza: Element) => void): void {
    this.xmpp.on("stanza", listener);
  }

  /** After every login: the first and each one after a lost connection. */
  onOnline(listener: () => void): void {
    this.xmpp.on("online", () => listener());
  }

  onStatus(listener: (status: string) => void): void {
    this.xmpp.on("status", listener);
  }

  onError(listener: (error: Error) => void): void {
    this.xmpp.on("error", listener);
  }

  start(): Promise<unknown> {
    return this.xmpp.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.xmpp.stop();
  }

  send(stanza: Element): Promise<void> {
    return this.xmpp.send(stanza);
  }

  /** Sends an iq get or set and resolves with the result, or rejects with an IqError or a timeout. */
  async request(type: "get" | "set", to: string | undefined, payload: Element, timeoutMs = IQ_TIMEOUT_MS): Promise<Element> {
    const id = `c${++this.nextId}`;
    const reply = new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from ${to ?? this.domain} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        to,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    try {
      await this.send(xml("iq", { type, id, ...(to === undefined ? {} : { to }) }, payload));
    } catch (error) {
      this.pending.delete(id);
      throw error;
    }
    return reply;
  }

  /** Settles the request an iq reply answers. */
  private settle(stanza: Element): void {
    if (stanza.name !== "iq" || (stanza.attrs["type"] !== "result" && stanza.attrs["type"] !== "error")) return;
    const id = stanza.attrs["id"] as string | undefined;
    const waiting = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || waiting === undefined) return;
    const from = stanza.attrs["from"] as string | undefined;
    // A reply counts only from the entity asked (for the account itself: the account, its server, or no from).
    const expected = waiting.to === undefined ? [undefined, this.domain, this.bareJid] : [waiting.to];
    if (!expected.includes(from)) return;
    this.pending.delete(id);
    if (stanza.attrs["type"] === "result") {
      waiting.resolve(stanza);
      return;
    }
    const error = stanza.getChild("error");
    const condition = error?.children.find((child): child is Element => typeof child !== "string" && child.name !== "text")?.name ?? "undefined-condition";
    waiting.reject(new IqError(condition, error?.getChildText("text") ?? ""));
  }
}

// The part of @xmpp/client 0.14 (the browser build: WebSocket transport; of SASL only PLAIN, to which the console
// adds SCRAM) the console uses; the package ships no types.
declare module "@xmpp/client" {
  import type { Element } from "@xmpp/xml";

  export interface ClientOptions {
    /** wss:// URL of the server's XMPP-over-WebSocket endpoint (RFC 7395). */
    service: string;
    domain: string;
    username: string;
    /** Chooses the SASL mechanism and logs in with it, instead of xmpp.js's choice from its own credentials. */
    credentials: (authenticate: Authenticate, offered: string[]) => Promise<void>;
    resource?: string;
  }

  /** xmpp.js's login with one mechanism; `userAgent` is SASL2's (XEP-0388) <user-agent/>. */
  export type Authenticate = (credentials: { username: string; password: string }, mechanism: string, userAgent?: Element) => Promise<void>;

  /** A SASL mechanism as the `saslmechanisms` package's factory creates it (xmpp.js awaits both calls). */
  export interface SaslMechanism {
    readonly name: string;
    readonly clientFirst: boolean;
    response(credentials: { username: string; password: string }): Promise<string>;
    challenge(challenge: string): Promise<void>;
  }

  /** The status a connection goes through: connecting, online, disconnect, offline, … */
  export type Status = string;

  export interface XmppClient {
    readonly status: Status;
    /** xmpp.js's reconnect loop: stop() ends it; reconnect() is one attempt (connect and open the stream). */
    readonly reconnect: { stop(): void; reconnect(): Promise<void> };
    /** Where SASL mechanisms are registered, by name. */
    readonly saslFactory: { use(name: string, mechanism: new () => SaslMechanism): unknown };
    on(event: "stanza", listener: (stanza: Element) => void): this;
    on(event: "online", listener: (jid: { toString(): string }) => void): this;
    on(event: "status", listener: (status: Status) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "disconnect", listener: () => void): this;
    /** Elements of the stream that are not stanzas (SASL's among them). */
    on(event: "nonza", listener: (element: Element) => void): this;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(stanza: Element): Promise<void>;
  }

  export function client(options: ClientOptions): XmppClient;
}

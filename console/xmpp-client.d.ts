// The part of @xmpp/client 0.14 (the browser build: WebSocket transport, SASL PLAIN over wss) the console uses;
// the package ships no types.
declare module "@xmpp/client" {
  import type { Element } from "@xmpp/xml";

  export interface ClientOptions {
    /** wss:// URL of the server's XMPP-over-WebSocket endpoint (RFC 7395). */
    service: string;
    domain: string;
    username: string;
    password: string;
    resource?: string;
  }

  /** The status a connection goes through: connecting, online, disconnect, offline, … */
  export type Status = string;

  export interface XmppClient {
    readonly status: Status;
    /** xmpp.js's reconnect loop: stop() ends it; reconnect() is one attempt (connect and open the stream). */
    readonly reconnect: { stop(): void; reconnect(): Promise<void> };
    on(event: "stanza", listener: (stanza: Element) => void): this;
    on(event: "online", listener: (jid: { toString(): string }) => void): this;
    on(event: "status", listener: (status: Status) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "disconnect", listener: () => void): this;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(stanza: Element): Promise<void>;
  }

  export function client(options: ClientOptions): XmppClient;
}

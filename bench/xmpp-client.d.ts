// The part of @xmpp/client 0.14 (the batteries-included xmpp.js client) that the baseline publisher uses;
// the package ships no types.
declare module "@xmpp/client" {
  import type Client from "@xmpp/client-core/lib/Client.js";
  import type { Element } from "@xmpp/xml";
  export { default as xml } from "@xmpp/xml";

  export interface ClientOptions {
    service: string;
    domain: string;
    username: string;
    password: string;
    resource?: string;
    /** ms to wait for the stream to open or close, 2000 by default: too short under emulation. */
    timeout?: number;
  }

  export interface IqCaller {
    request(stanza: Element, timeout?: number): Promise<Element>;
  }

  export function client(options: ClientOptions): Client & { iqCaller: IqCaller };
}

// sasl-scram-sha-1 (what @xmpp/client hashes SCRAM with, and xedge did before agent/xmpp/scram.ts), as
// bench/scram-hashing.ts drives it.
declare module "sasl-scram-sha-1" {
  export default class Mechanism {
    constructor(options?: { genNonce?: () => string });
    response(credentials: { username: string; password: string }): string | Promise<string>;
    challenge(challenge: string): this;
  }
}

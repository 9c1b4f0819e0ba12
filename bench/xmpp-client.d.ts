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
  }

  export interface IqCaller {
    request(stanza: Element, timeout?: number): Promise<Element>;
  }

  export function client(options: ClientOptions): Client & { iqCaller: IqCaller };
}

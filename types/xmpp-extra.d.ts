// Declarations for the xmpp.js 0.14 modules that ship no types (only what xedge uses).
declare module "@xmpp/tcp" {
  import type Client from "@xmpp/client-core/lib/Client.js";
  export default function tcp(deps: { entity: Client }): void;
}

declare module "@xmpp/tls/lib/Socket.js" {
  import type { EventEmitter } from "node:events";
  import type { ConnectionOptions, TLSSocket } from "node:tls";
  export default class Socket extends EventEmitter {
    socket: TLSSocket | null;
    secure: boolean;
    connect(options: ConnectionOptions): void;
    end(): void;
  }
}

declare module "@xmpp/tls/lib/Connection.js" {
  import type Connection from "@xmpp/connection";
  import type { Element } from "@xmpp/xml";
  export default class ConnectionTLS extends Connection {
    headerElement(): Element;
    socketParameters(service: string): { port: number; host: string } | undefined;
  }
}

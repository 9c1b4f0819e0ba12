// The one shape of an XMPP face: `registerX(connection, deps): Face`. A face gets the connection's public API
// (routes, stanzas, disco, presence) and its deps, which reach the core only through the operator desk; it
// gives back a Face whose stop() drops whatever it still holds (timers, scheduled readouts, open sessions).
import type { XmppConnection } from "./connection.ts";

export type FaceConnection = Pick<
  XmppConnection,
  "route" | "send" | "sendUnprompted" | "onBounce" | "request" | "on" | "bareJid" | "addDiscoNodes" | "setPresence" | "updatePresence" | "discoInfo"
>;

export interface Face {
  stop(): void;
}

/** The Face of one that holds nothing between stanzas. */
export const STATELESS: Face = { stop: () => undefined };

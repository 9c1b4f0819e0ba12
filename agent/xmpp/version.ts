// XEP-0092 software version, for operators only: a fleet's versions tell an attacker which gateways to try
// a known flaw on, so strangers get forbidden like every other face refuses them.
import { arch, type } from "node:os";
import { xml } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { stanzaError } from "./stanza-error.ts";
import type { OperatorDesk } from "../operator/desk.ts";
import { version } from "../version.ts";

const NS_VERSION = "jabber:iq:version";

export interface SoftwareVersionDeps {
  desk: Pick<OperatorDesk, "for">;
}

export function registerSoftwareVersion(connection: Pick<FaceConnection, "route">, { desk }: SoftwareVersionDeps): Face {
  connection.route(
    {
      type: "get",
      ns: NS_VERSION,
      name: "query",
      handler: ({ from }) =>
        desk.for(from).admitted
          ? xml("query", { xmlns: NS_VERSION }, xml("name", {}, "xedge"), xml("version", {}, version), xml("os", {}, `${type()} ${arch()}`))
          : stanzaError("cancel", "forbidden"),
    },
    NS_VERSION,
  );
  return STATELESS;
}

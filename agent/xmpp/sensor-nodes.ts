// Where the gateway publishes, told to its operators through disco#items of the agent (XEP-0030): one item per
// sensor naming its pubsub node and the service that holds it (the pubsub component, or the gateway's own bare
// JID for PEP). A client then subscribes to what the agent says instead of assuming the default node prefix.
import { bareJid } from "../authz.ts";
import type { DiscoItem } from "./connection.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { nodeName } from "./pubsub.ts";

export interface SensorNodesDeps {
  /** Operators are told; everyone else gets no items (the agent's other items stay as they are). */
  isOperator(from: string): boolean;
  /** The publishing settings and sensors now (a reloaded config applies to the next request). */
  publishing(): { service?: string; nodePrefix: string; gatewayJid: string; sensorIds: readonly string[] };
}

export function registerSensorNodes(connection: Pick<FaceConnection, "addDiscoNodes">, deps: SensorNodesDeps): Face {
  connection.addDiscoNodes({
    items: (node, from): DiscoItem[] | undefined => {
      if (node !== "" || !deps.isOperator(from)) return undefined;
      const { service, nodePrefix, gatewayJid, sensorIds } = deps.publishing();
      const holder = service ?? bareJid(gatewayJid);
      return sensorIds.map((sensorId) => ({ jid: holder, node: nodeName(nodePrefix, sensorId), name: sensorId }));
    },
  });
  return STATELESS;
}

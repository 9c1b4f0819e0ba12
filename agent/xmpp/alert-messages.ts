// The thin face of alert delivery (agent/operator/alert-delivery.ts, which decides who hears what and when): each
// message goes as a chat message from the agent's full JID to the operator's bare JID, so every client of theirs
// gets it, or the server keeps it offline for them; and when the link is back, the queued ones go out.
import { xml } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import type { AlertDelivery } from "../operator/alert-delivery.ts";

/** Sends one alert message; false when the link is down. */
export function alertSender(connection: Pick<FaceConnection, "send">): (recipient: string, body: string) => Promise<boolean> {
  return (recipient, body) => connection.send(xml("message", { to: recipient, type: "chat" }, xml("body", {}, body)));
}

export function registerAlertMessages(connection: Pick<FaceConnection, "on">, { delivery }: { delivery: Pick<AlertDelivery, "linkUp"> }): Face {
  connection.on("online", () => void delivery.linkUp().catch(() => undefined));
  return STATELESS;
}

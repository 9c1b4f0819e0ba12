// The thin face of alert delivery (agent/operator/alert-delivery.ts, which decides who hears what and when): each
// message goes as a chat message from the agent's full JID to the operator's bare JID, so every client of theirs
// gets it, or the server keeps it offline for them; and when the link is back, the queued ones go out.
import { xml } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import type { AlertDelivery } from "../operator/alert-delivery.ts";
import type { Logger } from "../log.ts";

/** Sends one alert message, marked as an alert's so that its bounce comes back here; false when the link is down. */
export function alertSender(connection: Pick<FaceConnection, "sendUnprompted">): (recipient: string, body: string) => Promise<boolean> {
  return (recipient, body) => connection.sendUnprompted("alert", xml("message", { to: recipient, type: "chat" }, xml("body", {}, body)));
}

/** What the face needs of the connection: when it is online, and the alerts that come back as errors. */
export type AlertMessagesConnection = Pick<FaceConnection, "onBounce"> & { on(event: "online", listener: () => void): unknown };

export function registerAlertMessages(connection: AlertMessagesConnection, { delivery, log }: { delivery: Pick<AlertDelivery, "linkUp">; log: Pick<Logger, "warn"> }): Face {
  connection.on("online", () => void delivery.linkUp().catch(() => undefined));
  // An alert that comes back as an error did not reach the operator: e.g. their server is on another domain and
  // the link between the servers is down (remote-server-not-found, remote-server-timeout). It says nothing about
  // the agent's own link, which is up, and it is not sent again, whatever the condition (it would bounce again
  // until the servers meet); the log says who missed it.
  connection.onBounce("alert", ({ jid, condition }) => log.warn("alert not delivered", { to: jid, condition }));
  return STATELESS;
}

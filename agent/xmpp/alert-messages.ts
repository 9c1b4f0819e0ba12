// The thin face of alert delivery (agent/operator/alert-delivery.ts, which decides who hears what and when): each
// message goes as a chat message from the agent's full JID to the operator's bare JID, so every client of theirs
// gets it, or the server keeps it offline for them; and when the link is back, the queued ones go out.
import { randomUUID } from "node:crypto";
import { xml, type Element } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { errorCondition } from "./stanza-error.ts";
import type { AlertDelivery } from "../operator/alert-delivery.ts";
import type { Logger } from "../log.ts";

/** Marks the id of an alert message, so that the error a server sends back for it is known as an alert's. */
const ALERT_ID_PREFIX = "alert-";

/** Sends one alert message; false when the link is down. */
export function alertSender(connection: Pick<FaceConnection, "send">): (recipient: string, body: string) => Promise<boolean> {
  return (recipient, body) => connection.send(xml("message", { to: recipient, type: "chat", id: `${ALERT_ID_PREFIX}${randomUUID()}` }, xml("body", {}, body)));
}

/** What the face needs of the connection: when it is online, and the stanzas that come in. */
export type AlertMessagesConnection = {
  on(event: "online", listener: () => void): unknown;
  on(event: "stanza", listener: (stanza: Element) => void): unknown;
};

export function registerAlertMessages(connection: AlertMessagesConnection, { delivery, log }: { delivery: Pick<AlertDelivery, "linkUp">; log: Pick<Logger, "warn"> }): Face {
  connection.on("online", () => void delivery.linkUp().catch(() => undefined));
  // An alert that comes back as an error did not reach the operator: e.g. their server is on another domain and
  // the link between the servers is down (remote-server-not-found, remote-server-timeout). It says nothing about
  // the agent's own link, which is up, and it is not sent again (it would bounce again until the servers meet);
  // the log says who missed it.
  connection.on("stanza", (stanza: Element) => {
    if (!stanza.is("message") || stanza.attrs.type !== "error" || !String(stanza.attrs.id ?? "").startsWith(ALERT_ID_PREFIX)) return;
    log.warn("alert not delivered", { to: String(stanza.attrs.from ?? ""), condition: errorCondition(stanza.getChild("error")) });
  });
  return STATELESS;
}

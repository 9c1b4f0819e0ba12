// Presence: operators may see the gateway's presence (and so its health); anyone else's subscription request is
// refused (RFC 6121 §3: answer a subscription request with subscribed or unsubscribed). The presence itself
// carries the health as show + status and the XEP-0115 caps.
import { xml, type Element } from "./client.ts";
import type { Face, FaceConnection } from "./face.ts";
import { stanzaError } from "./stanza-error.ts";
import { bareJid } from "../authz.ts";
import type { OperatorDesk } from "../operator/desk.ts";
import type { Logger } from "../log.ts";
import { HealthMonitor, type Health, type HealthSources } from "../health.ts";
import { CAPS_NODE, NS_CAPS, capsVer, type DiscoInfo } from "./caps.ts";
import type { AlertEvent } from "../alerts.ts";
import { activeAlertsSummary } from "../operator/alert-delivery.ts";

const NS_ROSTER = "jabber:iq:roster";

export interface PresenceDeps {
  /** Whether a requester is an operator (the desk; before the store opens, the operators list alone). */
  desk: { for: (requester: string) => Pick<ReturnType<OperatorDesk["for"]>, "admitted"> };
  health: HealthSources;
  log: Logger;
  /** The alerts fired now, and a way to hear when they change; none when absent. */
  alerts?: { active: () => readonly AlertEvent[]; onChange: (listener: () => void) => void };
}

/** Least time between two presences sent for alerts that change: a rule flapping at its threshold is no flood. */
export const ALERT_PRESENCE_MS = 2_000;

/** What the face uses of the connection; `on` as narrow as it listens, so a test can stand in for it. */
type PresenceConnection = Omit<FaceConnection, "on" | "sendUnprompted" | "onBounce"> & {
  on(event: "online", listener: () => void): unknown;
  on(event: "stanza", listener: (stanza: Element) => void): unknown;
};

/** Answers subscription requests and announces the health; stop() ends the health monitor. */
export function registerPresence(connection: PresenceConnection, { desk, health, log, alerts }: PresenceDeps): Face {
  // Servers deliver subscription requests only to "interested" resources, those that asked for the roster
  // (RFC 6121 §3.1.3; Prosody holds them back otherwise), and push roster changes that must be acknowledged.
  connection.on("online", () => {
    connection.request(xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER })), 30_000).catch(() => undefined);
  });
  connection.route({ type: "set", ns: NS_ROSTER, name: "query", handler: ({ from }) => from === "" || bareJid(from) === connection.bareJid || errorNotAllowed() });

  connection.on("stanza", (stanza: Element) => {
    if (!stanza.is("presence") || stanza.attrs.type !== "subscribe") return;
    const from = String(stanza.attrs.from ?? "");
    const to = bareJid(from);
    if (desk.for(from).admitted) {
      void connection.send(xml("presence", { to, type: "subscribed" }));
      log.info("presence subscription accepted", { from: to });
    } else {
      void connection.send(xml("presence", { to, type: "unsubscribed" }));
      log.info("presence subscription refused: not an operator", { from: to });
    }
  });

  // Announced when online, and whenever the monitor says an update is due.
  const monitor = new HealthMonitor(health, () => connection.updatePresence());
  connection.setPresence(() => healthPresence(monitor.take(), connection.discoInfo(), activeAlertsSummary(alerts?.active() ?? [])));
  // Alerts that change are announced soon, at most every ALERT_PRESENCE_MS, the last change always included.
  let alertsDue: NodeJS.Timeout | undefined;
  let alertsAnnouncedAt = -Infinity;
  alerts?.onChange(() => {
    alertsDue ??= setTimeout(() => {
      alertsDue = undefined;
      alertsAnnouncedAt = performance.now();
      connection.updatePresence();
    }, Math.max(0, alertsAnnouncedAt + ALERT_PRESENCE_MS - performance.now()));
  });
  return {
    stop: () => {
      monitor.stop();
      clearTimeout(alertsDue);
    },
  };
}

/** A roster push from anyone but our own account is refused (RFC 6121 §2.1.6). */
function errorNotAllowed(): Element {
  return stanzaError("cancel", "forbidden");
}

/**
 * The gateway's presence: its health as show + status (operators' clients colour the contact by it) and the
 * XEP-0115 caps of what disco#info announces. "available" has no <show> (RFC 6121 §4.7.2.1). Active alerts come
 * first in the status and make an available gateway away, so a glance at the roster shows something needs a look.
 */
export function healthPresence(health: Health, info: DiscoInfo, alerts?: string): Element {
  const show = alerts !== undefined && health.show === "available" ? "away" : health.show;
  return xml(
    "presence",
    {},
    ...(show === "available" ? [] : [xml("show", {}, show)]),
    xml("status", {}, alerts !== undefined ? `${alerts} · ${health.text}` : health.text),
    xml("c", { xmlns: NS_CAPS, hash: "sha-1", node: CAPS_NODE, ver: capsVer(info) }),
  );
}

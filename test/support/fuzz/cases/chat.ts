// Chat: command bodies, broken one way, to the agent's full JID.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import { ACTUATOR, hourAgo, nextId, NS, PARAMETER, SENSOR, type Face } from "./common.ts";
import { deep, longString, oddString } from "./hostile.ts";

export const chatFace: Face = {
  name: "chat",
  weight: 12,
  build(r, sender, context) {
    const mutation = r.weighted([
      ["command", 6],
      ["garbage", 2],
      ["unicode", 2],
      ["body-oversized", 1],
      ["body-empty", 1],
      ["bodies-duplicated", 1],
      ["type-not-answered", 2],
      ["delayed", 1],
      ["children-unknown", 1],
      ["to-wrong-resource", 1],
    ] as const);
    const command = () => r.pick(["help", "read", `read ${SENSOR}`, `read ${ACTUATOR}`, "status", `history ${SENSOR} 1h`, `set ${ACTUATOR} ${PARAMETER} ${r.pick(["true", "false", "maybe"])}`, "read nothing", r.pick(["audit", "audit 3", "audit 0"])]);
    const thread = nextId(context);
    let body: string[] = [command()];
    let type: string | undefined = r.pick(["chat", "chat", "normal", undefined]);
    let to = context.agent;
    const extra: Element[] = [];
    // An operator gets exactly one answer to a command-like body, a stranger one refusal in all (checked over the run).
    let answered = true;
    switch (mutation) {
      case "command":
        break;
      case "garbage":
        body = [r.pick(["rm -rf /", "set", "set pump", "read read read", "history boiler forever", "HELP", "status status", "?", "audit all", "audit 1 2"])];
        break;
      case "unicode":
        body = [`${command()}${oddString(r)}`];
        break;
      case "body-oversized":
        body = [longString(r, 1_025, 60_000)];
        break;
      case "body-empty":
        body = [r.pick(["", " ", "\n\t "])];
        answered = false;
        break;
      case "bodies-duplicated":
        body = Array.from({ length: r.int(2, 50) }, command);
        break;
      case "type-not-answered":
        type = r.pick(["headline", "groupchat", "error"]);
        answered = false;
        break;
      case "delayed":
        extra.push(xml("delay", { xmlns: NS.delay, stamp: hourAgo() }));
        break;
      case "children-unknown":
        extra.push(xml("fuzz", { xmlns: "urn:fuzz:chat" }, deep(r, context.maxDepth)), xml("html", { xmlns: "http://jabber.org/protocol/xhtml-im" }, xml("body", {}, oddString(r))));
        break;
      case "to-wrong-resource":
        to = `${context.agent.split("/")[0] ?? ""}/${r.pick(["other", oddString(r).replace(/\s/g, "") || "x"])}`;
        break;
    }
    const stanza = xml("message", { to, id: nextId(context), ...(type ? { type } : {}) }, ...body.map((text) => xml("body", {}, text)), xml("thread", {}, thread), ...extra);
    // A message to an unknown resource of the agent's account may reach the agent (RFC 6121 §8.5.3.2.1: the server's choice).
    const max = answered ? 1 : 0;
    const min = sender === "stranger" || mutation === "to-wrong-resource" ? 0 : max;
    return { mutation, probes: [{ stanza, expect: { kind: "chat", min, max } }] };
  },
};

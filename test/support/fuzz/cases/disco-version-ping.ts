// Service discovery (disco#info, disco#items), software version and ping.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import { COMMANDS, CONTROL_COMMANDS } from "./adhoc.ts";
import { canControl, canRead, gated, iq, NOT_FOUND, NS, OK, type Expectation, type Face } from "./common.ts";
import { deep, longString, oddString } from "./hostile.ts";

export const discoInfoFace: Face = {
  name: "disco-info",
  weight: 5,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.weighted([
      ["valid", 2],
      ["commands-node", 1],
      ["command-node", 2],
      ["node-unknown", 2],
      ["node-oversized", 1],
      ["children-ignored", 1],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.discoInfo };
    let expect: Expectation = OK;
    const children: Element[] = [];
    if (mutation === "commands-node") attrs.node = NS.commands;
    if (mutation === "command-node") {
      // A command's node is shown only to those who may run it (adhoc.ts).
      const command = r.pick(COMMANDS);
      attrs.node = command;
      expect = canRead(sender) && (!CONTROL_COMMANDS.includes(command) || canControl(sender)) ? OK : NOT_FOUND;
    }
    if (mutation === "node-unknown") {
      attrs.node = oddString(r);
      expect = NOT_FOUND;
    }
    if (mutation === "node-oversized") {
      attrs.node = longString(r, 1_000, 30_000);
      expect = NOT_FOUND;
    }
    if (mutation === "children-ignored") children.push(xml("identity", { category: oddString(r) }), deep(r, context.maxDepth));
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", attrs, ...children)), expect }] };
  },
};

export const discoItemsFace: Face = {
  name: "disco-items",
  weight: 3,
  iqType: "get",
  build(r, _sender, context) {
    const mutation = r.weighted([
      ["valid", 2],
      ["commands-node", 2],
      ["node-unknown", 2],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.discoItems };
    if (mutation === "commands-node") attrs.node = NS.commands;
    if (mutation === "node-unknown") attrs.node = r.chance(0.5) ? oddString(r) : longString(r, 100, 10_000);
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", attrs)), expect: mutation === "node-unknown" ? NOT_FOUND : OK }] };
  },
};

export const versionFace: Face = {
  name: "version",
  weight: 3,
  iqType: "get",
  build(r, sender, context) {
    const mutation = r.chance(0.5) ? "valid" : "children-ignored";
    const children = mutation === "valid" ? [] : [xml("name", {}, oddString(r)), deep(r, context.maxDepth)];
    return { mutation, probes: [{ stanza: iq(context, "get", xml("query", { xmlns: NS.version }, ...children)), expect: gated(canRead(sender), OK) }] };
  },
};

export const pingFace: Face = {
  name: "ping",
  weight: 3,
  iqType: "get",
  build(r, _sender, context) {
    // A flood: many requests written back to back, without waiting for any answer.
    const flood = r.chance(0.3);
    const count = flood ? r.int(10, 100) : 1;
    const payload = () => (r.chance(0.7) ? xml("ping", { xmlns: NS.ping }) : xml("query", { xmlns: NS.discoInfo }));
    const probes = Array.from({ length: count }, () => ({ stanza: iq(context, "get", payload()), expect: OK }));
    return { mutation: flood ? `flood of ${count}` : "valid", probes };
  },
};

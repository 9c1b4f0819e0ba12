// XEP-0050 ad-hoc commands: execute, then the session continued, broken, hijacked or cancelled.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";
import { ACTUATOR, another, BAD_REQUEST, canControl, canRead, FORBIDDEN, iq, NOT_FOUND, NS, OK, OK_OR_BUSY, PARAMETER, SENSOR, type Context, type Expectation, type Face, type Probe, type Sender } from "./common.ts";
import { deep, longString, oddString, WRONG_BOOLEANS, WRONG_DATES } from "./hostile.ts";

export const COMMANDS = ["read", "status", "history", "set", "audit"] as const;
/** Commands for the control role and up: a read operator sees neither and is refused both (adhoc.ts). */
export const CONTROL_COMMANDS: readonly string[] = ["set", "audit"];
/** Commands for the admin role only; no sender of the fuzzer has it. */
const ADMIN_COMMANDS: readonly string[] = ["config", "config-push"];

/** The answer to executing `node` as `sender`, in the order adhoc.ts checks. */
function executeOutcome(sender: Sender, node: string, valid: Expectation): Expectation {
  if (!canRead(sender)) return FORBIDDEN;
  if (ADMIN_COMMANDS.includes(node)) return FORBIDDEN;
  if (!(COMMANDS as readonly string[]).includes(node)) return NOT_FOUND;
  if (CONTROL_COMMANDS.includes(node) && !canControl(sender)) return FORBIDDEN;
  return valid;
}

/** The values a form submits: right, wrong, odd, many. */
function submittedForm(r: Random, node: string, context: Context): Element | undefined {
  const value = (text: string) => xml("value", {}, text);
  const field = (name: string, ...texts: string[]) => xml("field", { var: name }, ...texts.map(value));
  const pickValue = (long = true) => r.pick([SENSOR, ACTUATOR, oddString(r), long ? longString(r, 1, 3_000) : "x".repeat(r.int(1, 40)), "", r.pick(WRONG_DATES)]);
  const kind = r.int(0, 5);
  if (kind === 0) return undefined;
  if (kind === 1) return xml("x", { xmlns: NS.data, type: r.pick(["form", "result", "cancel", "bogus"]) }, field("nodes", SENSOR));
  const fields: Element[] = [];
  if (node === "read") fields.push(field("nodes", ...(kind === 5 ? Array.from({ length: r.int(100, 500) }, () => pickValue(false)) : Array.from({ length: r.int(0, 3) }, () => pickValue()))));
  if (node === "history") fields.push(field("node", pickValue()), field("duration", r.pick(["1h", "30m", "0s", "-5m", "999999d", "NaN", oddString(r), ""])));
  if (node === "set") fields.push(field("node", r.pick([ACTUATOR, SENSOR, oddString(r), ""])), field(PARAMETER, r.pick(["true", "false", ...WRONG_BOOLEANS])));
  if (node === "audit") fields.push(field("entries", r.pick(["10", "1", "50", "0", "51", "-1", "1e3", "99999999999", oddString(r), ""])));
  if (kind === 4) fields.push(...Array.from({ length: r.int(1, 300) }, (_, i) => field(`extra${i}`, oddString(r))));
  if (kind === 5) fields.push(field(oddString(r), oddString(r)), xml("field", {}, deep(r, context.maxDepth)));
  return xml("x", { xmlns: NS.data, type: "submit" }, ...fields);
}

/** What comes after an executing reply: the session continued, broken, hijacked or cancelled; then cleaned up. */
function continueSession(r: Random, context: Context, node: string, owner: Sender): (answer: Element) => Probe | undefined {
  return (answer) => {
    const command = answer.getChild("command", NS.commands);
    const sessionid = command?.attrs.sessionid as string | undefined;
    if (answer.attrs.type !== "result" || command?.attrs.status !== "executing" || !sessionid) return undefined;
    // A step the reply's <actions> did not offer is bad-request + bad-action (adhoc.ts); cancel always goes.
    const offered = command.getChild("actions")?.getChildElements().map((step) => step.name) ?? [];
    const mutation = r.weighted([
      ["complete", 4],
      ["next", 2],
      ["prev", 1],
      ["cancel", 2],
      ["action-unknown", 1],
      ["node-other", 1],
      ["session-other", 1],
      ["session-hijack", 1],
    ] as const);
    const attrs: Record<string, string> = { xmlns: NS.commands, node, sessionid };
    let expect: Expectation = OK;
    // Another account sends this session's id: a session belongs to whoever started it (adhoc.ts).
    const intruder = mutation === "session-hijack" ? another(r, owner) : undefined;
    if (mutation === "complete" || mutation === "next" || mutation === "prev" || mutation === "cancel") attrs.action = mutation;
    if ((mutation === "complete" || mutation === "next" || mutation === "prev") && !offered.includes(mutation)) expect = BAD_REQUEST;
    if (mutation === "action-unknown") {
      attrs.action = r.pick(["destroy", "", "COMPLETE", "execute ", oddString(r)]);
      expect = BAD_REQUEST;
    }
    if (mutation === "node-other") {
      attrs.node = r.pick(COMMANDS.filter((other) => other !== node && !CONTROL_COMMANDS.includes(other)));
      expect = BAD_REQUEST;
    }
    if (mutation === "session-other") {
      attrs.sessionid = `${sessionid.slice(0, -1)}${sessionid.endsWith("0") ? "1" : "0"}`;
      expect = BAD_REQUEST;
    }
    if (intruder) {
      attrs.action = r.pick(["complete", "cancel", "next"]);
      expect = executeOutcome(intruder, node, BAD_REQUEST);
    }
    const form = mutation === "cancel" ? undefined : submittedForm(r, node, context);
    return {
      stanza: iq(context, "set", xml("command", attrs, ...(form ? [form] : []))),
      expect,
      ...(intruder ? { from: intruder } : {}),
      // Whatever is still open is cancelled, so sessions do not pile up to the per-operator limit.
      then: (second) =>
        second.getChild("command", NS.commands)?.attrs.status === "executing" || second.attrs.type === "error"
          ? { stanza: iq(context, "set", xml("command", { xmlns: NS.commands, node, sessionid, action: "cancel" })), expect: OK }
          : undefined,
    };
  };
}

export const adhocFace: Face = {
  name: "xep0050-command",
  weight: 14,
  iqType: "set",
  build(r, sender, context) {
    let node: string = r.pick(COMMANDS);
    const attrs: Record<string, string> = { xmlns: NS.commands, node };
    if (r.chance(0.5)) attrs.action = "execute";
    const mutation = r.weighted([
      ["valid+continue", 6],
      ["node-unknown", 2],
      ["node-missing", 1],
      ["action-unknown", 2],
      ["action-without-session", 2],
      ["session-unknown", 2],
      ["attribute-oversized", 1],
      ["form-on-execute", 1],
    ] as const);
    let valid: Expectation = BAD_REQUEST;
    let then: Probe["then"];
    const children: Element[] = [];
    switch (mutation) {
      case "valid+continue":
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      case "node-unknown":
        // Unknown nodes, and the admin's commands, which nobody here may run.
        node = r.chance(0.5) ? oddString(r) : r.pick(["Read", "reset", "config", "config-push", "shutdown", NS.commands]);
        attrs.node = node;
        break;
      case "node-missing":
        delete attrs.node;
        node = "";
        break;
      case "action-unknown":
        attrs.action = r.pick(["destroy", "", "EXECUTE", "execute ", oddString(r), longString(r, 100, 2_000)]);
        break;
      case "action-without-session":
        attrs.action = r.pick(["next", "prev", "complete", "cancel"]);
        break;
      case "session-unknown":
        attrs.sessionid = r.pick([oddString(r), longString(r, 1, 5_000), "00000000-0000-0000-0000-000000000000"]);
        break;
      case "attribute-oversized":
        attrs[r.pick(["lang", "xml:lang", "status", "colour"])] = longString(r, 1_000, 20_000);
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      case "form-on-execute": {
        const form = submittedForm(r, node, context);
        if (form) children.push(form);
        valid = OK_OR_BUSY;
        then = continueSession(r, context, node, sender);
        break;
      }
    }
    const expect = executeOutcome(sender, node, valid);
    const probe: Probe = { stanza: iq(context, "set", xml("command", attrs, ...children)), expect };
    if (then && expect !== FORBIDDEN && expect !== NOT_FOUND) probe.then = then;
    return { mutation, probes: [probe] };
  },
};

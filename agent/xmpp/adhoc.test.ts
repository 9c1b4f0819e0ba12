// Ad-hoc sessions and authorization without a server: the clock is the test's, the operators a fake list.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "./client.ts";
import type { DiscoNodes, IqRoute } from "./connection.ts";
import type { Role } from "../authz.ts";
import { NS_COMMANDS, registerAdhoc } from "./adhoc.ts";
import type { Logger } from "../log.ts";
import { OperatorDesk } from "../operator/desk.ts";
import type { ConfigCounter } from "../remote-config.ts";
import type { AuditEntry, ControlRequest } from "../control.ts";
import { clockTime } from "../../lib/text.ts";
import { TimedActions } from "../timed-actions.ts";
import { Watches, type StoredWatch } from "../operator/watches.ts";

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function setup() {
  let clock = Date.parse("2025-01-05T12:00:00Z");
  const routes: IqRoute[] = [];
  registerAdhoc(
    { route: (route) => routes.push(route), addDiscoNodes: () => undefined },
    {
      desk: new OperatorDesk({
        authz: { roleOf: () => "control" },
        readout: { nodeIds: ["boiler"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
        control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] },
        health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(clock) },
      }),
      log: quiet,
      sessionTimeoutMs: 60_000,
      now: () => new Date(clock),
    },
  );
  const [route] = routes;
  assert.ok(route);
  const run = async (attrs: Record<string, string>): Promise<Element> => {
    const element = xml("command", { xmlns: NS_COMMANDS, node: "read", ...attrs });
    const reply = await route.handler({ element, stanza: xml("iq", {}, element), from: "ops@example.net/desk" });
    assert.ok(reply !== true);
    return reply;
  };
  return { run, advance: (ms: number) => (clock += ms) };
}

describe("ad-hoc sessions", () => {
  it("stay open while used, answer session-expired after the timeout, and are forgotten later", async () => {
    const { run, advance } = setup();
    const started = await run({ action: "execute" });
    const sessionid = String(started.attrs.sessionid);
    advance(59_000);
    assert.equal((await run({ action: "complete", sessionid })).attrs.status, "completed", "used within the timeout");

    const second = String((await run({})).attrs.sessionid);
    advance(61_000);
    const expired = await run({ action: "complete", sessionid: second });
    assert.deepEqual([expired.name, expired.getChild("not-allowed")?.name, expired.getChild("session-expired", NS_COMMANDS)?.name], ["error", "not-allowed", "session-expired"]);

    const third = String((await run({})).attrs.sessionid);
    advance(3 * 60_000);
    const forgotten = await run({ action: "complete", sessionid: third });
    assert.equal(forgotten.getChild("bad-sessionid", NS_COMMANDS)?.name, "bad-sessionid", "swept after a second timeout");
  });
});

describe("ad-hoc actions", () => {
  function face() {
    const routes: IqRoute[] = [];
    const applied: string[] = [];
    const control = {
      parametersOf: () => [],
      getForm: () => Promise.resolve({ ok: true as const, nodeIds: ["pump"], parameters: [{ spec: { name: "state", type: "boolean" as const }, nodeIds: ["pump"], value: "false", notSame: false }] }),
      set: (_requester: string, request: ControlRequest) => {
        applied.push(request.values.map((item) => `${item.name}=${item.value}`).join(" "));
        return Promise.resolve({ ok: true as const, applied: request.values.map((item) => ({ nodeId: "pump", name: item.name, value: item.value })) });
      },
    };
    // Timers never fire here: agent/timed-actions.test.ts tests the switch back.
    const timed = new TimedActions({
      control,
      store: { saveTimedAction: () => Promise.resolve(), deleteTimedAction: () => Promise.resolve(), timedActions: () => Promise.resolve([]) },
      audit: () => Promise.resolve(),
      tell: () => undefined,
      log: quiet,
      clock: { now: () => Date.parse("2025-01-05T12:00:00Z"), after: () => () => undefined },
    });
    registerAdhoc(
      { route: (route) => routes.push(route), addDiscoNodes: () => undefined },
      {
        desk: new OperatorDesk({
          authz: { roleOf: () => "control" },
          readout: { nodeIds: ["boiler", "pump"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
          control,
          timed,
          health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date() },
        }),
        log: quiet,
      },
    );
    const [route] = routes;
    assert.ok(route);
    const run = async (node: string, attrs: Record<string, string>, values: Record<string, string> = {}): Promise<Element> => {
      const form = xml("x", { xmlns: "jabber:x:data", type: "submit" }, ...Object.entries(values).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))));
      const element = xml("command", { xmlns: NS_COMMANDS, node, ...attrs }, form);
      const reply = await route.handler({ element, stanza: xml("iq", {}, element), from: "ops@example.net/desk" });
      assert.ok(reply !== true);
      return reply;
    };
    return { run, applied };
  }
  const offered = (reply: Element) => [String(reply.getChild("actions")?.attrs.execute), ...(reply.getChild("actions")?.getChildElements().map((child) => child.name) ?? [])];
  const badAction = (reply: Element) => [reply.name, String(reply.attrs.type), reply.getChild("bad-request")?.name, reply.getChild("bad-action", NS_COMMANDS)?.name];

  it("refuses a step the last <actions> did not offer with bad-request + bad-action, and the session goes on", async () => {
    const { run, applied } = face();
    const chooser = await run("set", {});
    const sessionid = String(chooser.attrs.sessionid);
    assert.deepEqual(offered(chooser), ["next", "next"]);
    for (const action of ["complete", "prev"]) {
      assert.deepEqual(badAction(await run("set", { action, sessionid }, { node: "pump" })), ["error", "modify", "bad-request", "bad-action"], action);
    }
    const parameters = await run("set", { action: "next", sessionid }, { node: "pump" });
    assert.deepEqual(offered(parameters), ["complete", "prev", "complete"]);
    assert.deepEqual(badAction(await run("set", { action: "next", sessionid }, { state: "true" })), ["error", "modify", "bad-request", "bad-action"]);
    assert.deepEqual(applied, [], "nothing refused was applied");
    const done = await run("set", { action: "complete", sessionid }, { state: "true" });
    assert.equal(done.attrs.status, "completed");
    assert.deepEqual(applied, ["state=true"]);

    const read = await run("read", {});
    assert.deepEqual(offered(read), ["complete", "complete"]);
    assert.deepEqual(badAction(await run("read", { action: "next", sessionid: String(read.attrs.sessionid) })), ["error", "modify", "bad-request", "bad-action"]);
    assert.equal((await run("read", { action: "cancel", sessionid: String(read.attrs.sessionid) })).attrs.status, "canceled", "cancel is always allowed");
  });

  it("takes execute within a session as the offered default", async () => {
    const { run } = face();
    const chooser = await run("set", { action: "execute" });
    const sessionid = String(chooser.attrs.sessionid);
    const parameters = await run("set", { action: "execute", sessionid }, { node: "pump" });
    assert.deepEqual([parameters.attrs.status, ...offered(parameters)], ["executing", "complete", "prev", "complete"], "execute = next");
    const back = await run("set", { action: "prev", sessionid });
    assert.deepEqual(offered(back), ["next", "next"], "prev, offered with the parameters, goes back");
    await run("set", { action: "next", sessionid }, { node: "pump" });
    assert.equal((await run("set", { action: "execute", sessionid }, { state: "false" })).attrs.status, "completed", "execute = complete");
  });

  it("set takes an optional duration: a timed set of the one parameter the form changes", async () => {
    const { run, applied } = face();
    const start = async () => {
      const sessionid = String((await run("set", {})).attrs.sessionid);
      const parameters = await run("set", { action: "next", sessionid }, { node: "pump" });
      return { sessionid, parameters };
    };
    const { sessionid, parameters } = await start();
    const forField = parameters.getChild("x", "jabber:x:data")?.getChildren("field").find((candidate) => candidate.attrs.var === "xedge:for");
    assert.equal(forField?.attrs.type, "text-single");
    const done = await run("set", { action: "complete", sessionid }, { state: "true", "xedge:for": "10m" });
    assert.equal(done.attrs.status, "completed");
    assert.equal(done.getChildText("note"), "Applied: pump state = true for 10m, then back to false at 2025-01-05T12:10:00.000Z.");
    assert.deepEqual(applied, ["state=true"]);

    const second = await start();
    const refused = await run("set", { action: "complete", sessionid: second.sessionid }, { state: "true", "xedge:for": "soon" });
    assert.equal(refused.attrs.status, "executing");
    assert.equal(refused.getChildText("note"), "'soon' is not a duration such as 30s, 10m or 2h (at most 7d).");
    assert.deepEqual(applied, ["state=true"], "nothing applied");

    // The first timer still runs: a plain set ends it and says so.
    const third = await start();
    const plain = await run("set", { action: "complete", sessionid: third.sessionid }, { state: "false", "xedge:for": "" });
    assert.equal(plain.getChildText("note"), "Applied: pump state = false. This replaces the timer that would have switched state back to false at 2025-01-05T12:10:00.000Z.");
    const fourth = await start();
    const again = await run("set", { action: "complete", sessionid: fourth.sessionid }, { state: "false" });
    assert.equal(again.getChildText("note"), "Applied: pump state = false.", "no timer left to replace");
  });
});

describe("ad-hoc authorization", () => {
  function face() {
    const routes: IqRoute[] = [];
    let disco: DiscoNodes | undefined;
    const roles: Record<string, Role> = { "root@example.net": "admin", "ops@example.net": "control", "viewer@example.net": "read" };
    const pushed: { text: string; acceptInlineSecrets: boolean; via: string }[] = [];
    // Newest first, as the store gives it.
    const controlTrail: AuditEntry[] = [
      { at: new Date("2025-01-05T12:02:00Z"), requester: "viewer@example.net/phone", via: "adhoc", nodeIds: ["pump"], values: [{ name: "state", value: "true" }], result: "forbidden", detail: "control needs the control role; this operator has read only" },
      { at: new Date("2025-01-05T12:01:00Z"), requester: "ops@example.net/desk", via: "iq", nodeIds: ["pump"], values: [{ name: "state", type: "boolean", value: "true" }], result: "ok" },
    ];
    const config: ConfigCounter = {
      fetch: () => ({ ok: true, file: "/etc/xedge/xedge.yaml", text: "hardware: sim\nxmpp: { jid: gw1@example.net, password: (secret) }\n" }),
      push: (text, options, via) => {
        pushed.push({ text, ...options, via });
        return Promise.resolve(text.includes("bogus") ? { ok: false, kind: "invalid", problems: ["bogus: unknown key", "sensors[0].id: required"] } : { ok: true, outcome: "unchanged" });
      },
    };
    registerAdhoc(
      { route: (route) => routes.push(route), addDiscoNodes: (nodes) => (disco = nodes) },
      {
        desk: new OperatorDesk({
          authz: { roleOf: (jid) => roles[jid.split("/")[0] ?? ""] },
          readout: { nodeIds: ["boiler"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
          control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] },
          health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date() },
          config: { for: () => config },
          audit: {
            auditLog: (limit) => Promise.resolve(controlTrail.slice(0, limit)),
            configAuditLog: () => Promise.resolve([]),
          },
        }),
        log: quiet,
        now: () => new Date("2025-01-05T12:10:00Z"),
      },
    );
    const [route] = routes;
    assert.ok(route && disco);
    const run = async (from: string, attrs: Record<string, string>, ...children: Element[]) => {
      const element = xml("command", { xmlns: NS_COMMANDS, ...attrs }, ...children);
      const reply = await route.handler({ element, stanza: xml("iq", {}, element), from });
      assert.ok(reply !== true);
      return reply;
    };
    const nodes = disco;
    const listed = (from: string) => (nodes.items?.(NS_COMMANDS, from) ?? []).map((item) => item.node);
    const refusal = async (node: string, from: string) => {
      const element = xml("command", { xmlns: NS_COMMANDS, node, action: "execute" });
      const reply = await route.handler({ element, stanza: xml("iq", {}, element), from });
      assert.ok(reply !== true);
      return reply.name === "error" ? `${String(reply.attrs.type)} ${reply.getChildElements()[0]?.name ?? ""}` : "none";
    };
    return { listed, refusal, run, pushed, info: (node: string, from: string) => nodes.info?.(node, from) };
  }

  it("lists and runs commands by role: strangers nothing, read operators everything but set and audit", async () => {
    const { listed, refusal } = face();
    assert.deepEqual(listed("mallory@example.net/x"), []);
    assert.deepEqual(listed("viewer@example.net/x"), ["read", "status", "history", "watch", "watches", "unwatch"]);
    assert.deepEqual(listed("ops@example.net/x"), ["read", "set", "status", "history", "audit", "watch", "watches", "unwatch"]);
    assert.deepEqual(listed("root@example.net/x"), ["read", "set", "status", "history", "audit", "watch", "watches", "unwatch", "config", "config-push"]);
    assert.equal(await refusal("config", "ops@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("config-push", "ops@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("config", "root@example.net/x"), "none");
    assert.equal(await refusal("read", "mallory@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("set", "viewer@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("audit", "viewer@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("audit", "ops@example.net/x"), "none");
    assert.equal(await refusal("status", "viewer@example.net/x"), "none");
    assert.equal(await refusal("nothing", "viewer@example.net/x"), "cancel item-not-found");
  });

  it("config shows the file as text-multi lines; config-push sends the form's lines back and re-shows it with one note per problem", async () => {
    const { run, pushed } = face();
    const fetched = await run("root@example.net/x", { node: "config", action: "execute" });
    const lines = fetched.getChild("x", "jabber:x:data")?.getChildren("field").find((item) => item.attrs.var === "config")?.getChildren("value").map((value) => value.text());
    assert.deepEqual(lines, ["hardware: sim", "xmpp: { jid: gw1@example.net, password: (secret) }"]);

    const started = await run("root@example.net/x", { node: "config-push", action: "execute" });
    const sessionid = String(started.attrs.sessionid);
    const submit = (config: string[], accept: string) =>
      xml(
        "x",
        { xmlns: "jabber:x:data", type: "submit" },
        xml("field", { var: "config" }, ...config.map((line) => xml("value", {}, line))),
        xml("field", { var: "acceptInlineSecrets" }, xml("value", {}, accept)),
      );
    const refused = await run("root@example.net/x", { node: "config-push", action: "complete", sessionid }, submit(["hardware: sim", "bogus: 1"], "0"));
    assert.equal(refused.attrs.status, "executing", "the form comes back");
    assert.deepEqual(refused.getChildren("note").map((item) => `${String(item.attrs.type)}: ${item.text()}`), ["error: bogus: unknown key", "error: sensors[0].id: required"]);
    const done = await run("root@example.net/x", { node: "config-push", action: "complete", sessionid }, submit(["hardware: sim"], "true"));
    assert.equal(done.attrs.status, "completed");
    assert.equal(done.getChildText("note"), "Written; nothing changed in what the agent runs.");
    assert.deepEqual(pushed, [
      { text: "hardware: sim\nbogus: 1\n", acceptInlineSecrets: false, via: "adhoc" },
      { text: "hardware: sim\n", acceptInlineSecrets: true, via: "adhoc" },
    ]);
  });

  it("audit: the number of entries in a form, a bad number shows it again; the result is the chat's lines", async () => {
    const { run } = face();
    const entries = (command: Element) => command.getChild("x", "jabber:x:data")?.getChildren("field").find((item) => item.attrs.var === "entries");
    const started = await run("ops@example.net/x", { node: "audit", action: "execute" });
    assert.deepEqual([started.attrs.status, entries(started)?.attrs.type, entries(started)?.getChildText("value")], ["executing", "text-single", "10"]);
    const sessionid = String(started.attrs.sessionid);
    const submit = (value: string) => xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "entries" }, xml("value", {}, value)));
    const wrong = await run("ops@example.net/x", { node: "audit", action: "complete", sessionid }, submit("all"));
    assert.deepEqual([wrong.attrs.status, wrong.getChild("note")?.attrs.type, wrong.getChildText("note")], ["executing", "error", "'all' is not a number from 1 to 50."]);
    const done = await run("ops@example.net/x", { node: "audit", action: "complete", sessionid }, submit("5"));
    assert.equal(done.attrs.status, "completed");
    // Clock times in the gateway's own zone, as the command shows them.
    const at = (iso: string) => clockTime(new Date(iso), { now: new Date("2025-01-05T12:10:00Z") });
    const lines = [
      `${at("2025-01-05T12:01:00Z")} ops@example.net · XEP-0325 · pump state=true · applied`,
      `${at("2025-01-05T12:02:00Z")} viewer@example.net · ad-hoc · pump state=true · refused: control needs the control role; this operator has read only`,
    ];
    assert.deepEqual(entries(done)?.getChildren("value").map((value) => value.text()), lines);
    assert.equal(done.getChildText("note"), ["Audit trail, all 2 entries, newest last:", ...lines].join("\n"));
  });

  it("answers disco#info of the command list with the commands feature, and of each command it shows as a command node", () => {
    const { info } = face();
    const list = { identities: [{ category: "automation", type: "command-list" }], features: [NS_COMMANDS] };
    assert.deepEqual(info(NS_COMMANDS, "viewer@example.net/x"), list);
    assert.deepEqual(info(NS_COMMANDS, "mallory@example.net/x"), list);
    assert.deepEqual(info("read", "viewer@example.net/x"), { identities: [{ category: "automation", type: "command-node", name: "Read current values" }], features: [NS_COMMANDS, "jabber:x:data"] });
    assert.equal(info("set", "viewer@example.net/x"), undefined);
  });
});

describe("ad-hoc watches", () => {
  it("watch takes a form (a problem shows it again), watches lists them as the chat does, unwatch offers one's own", async () => {
    const kept: StoredWatch[] = [];
    const watches = new Watches({
      store: {
        saveWatch: (watch) => Promise.resolve(kept.push({ id: kept.length + 1, ...watch })),
        deleteWatch: (id) => Promise.resolve(void kept.splice(kept.findIndex((watch) => watch.id === id), 1)),
        watches: () => Promise.resolve([...kept]),
      },
      sensorIds: () => ["boiler"],
      fieldsOf: () => ["temperature"],
      changed: () => undefined,
      now: () => Date.parse("2025-01-05T12:00:00Z"),
    });
    const routes: IqRoute[] = [];
    registerAdhoc(
      { route: (route) => routes.push(route), addDiscoNodes: () => undefined },
      {
        desk: new OperatorDesk({
          authz: { roleOf: () => "read" },
          readout: { nodeIds: ["boiler"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
          control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] },
          health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date() },
          watches,
        }),
        log: quiet,
      },
    );
    const [route] = routes;
    assert.ok(route);
    const run = async (attrs: Record<string, string>, ...children: Element[]): Promise<Element> => {
      const element = xml("command", { xmlns: NS_COMMANDS, ...attrs }, ...children);
      const reply = await route.handler({ element, stanza: xml("iq", {}, element), from: "viewer@example.net/desk" });
      assert.ok(reply !== true);
      return reply;
    };
    const submit = (values: Record<string, string>) =>
      xml("x", { xmlns: "jabber:x:data", type: "submit" }, ...Object.entries(values).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))));

    const started = await run({ node: "watch", action: "execute" });
    const sessionid = String(started.attrs.sessionid);
    const vars = started.getChild("x", "jabber:x:data")?.getChildren("field").map((item) => String(item.attrs.var));
    assert.deepEqual(vars, ["node", "field", "condition", "value", "for"]);
    const wrong = await run({ node: "watch", action: "complete", sessionid }, submit({ node: "boiler", field: "temp", condition: "above", value: "30", for: "" }));
    assert.deepEqual([wrong.attrs.status, wrong.getChildText("note")], ["executing", "Not watching: boiler has no field 'temp'. Its fields: temperature."]);
    const done = await run({ node: "watch", action: "complete", sessionid }, submit({ node: "boiler", field: "temperature", condition: "above", value: "30", for: "5m" }));
    assert.deepEqual([done.attrs.status, done.getChildText("note")], ["completed", "Watching 1: boiler temperature above 30 for 5m. 'unwatch 1' ends it."]);

    const listed = await run({ node: "watches", action: "execute" });
    assert.match(listed.getChildText("note") ?? "", /^Your watches:\n {2}1: boiler temperature above 30 for 5m \(set 2025-01-05 \d\d:\d\d:\d\d\)$/);

    const offered = await run({ node: "unwatch", action: "execute" });
    const options = offered.getChild("x", "jabber:x:data")?.getChild("field")?.getChildren("option").map((item) => [String(item.attrs.label), item.getChildText("value")]);
    assert.deepEqual(options, [["1: boiler temperature above 30 for 5m", "1"]]);
    const stopped = await run({ node: "unwatch", action: "complete", sessionid: String(offered.attrs.sessionid) }, submit({ watch: "1" }));
    assert.equal(stopped.getChildText("note"), "Stopped watch 1: boiler temperature above 30 for 5m.");
    assert.deepEqual(kept, []);
  });
});

// Ad-hoc sessions and authorization without a server: the clock is the test's, the operators a fake list.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "./client.ts";
import type { DiscoNodes, IqRoute } from "./connection.ts";
import type { Role } from "../authz.ts";
import { NS_COMMANDS, registerAdhoc } from "./adhoc.ts";
import type { Logger } from "../log.ts";
import { OperatorDesk } from "../operator/desk.ts";

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
        control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")) },
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

describe("ad-hoc authorization", () => {
  function face() {
    const routes: IqRoute[] = [];
    let disco: DiscoNodes | undefined;
    const roles: Record<string, Role> = { "ops@example.net": "control", "viewer@example.net": "read" };
    registerAdhoc(
      { route: (route) => routes.push(route), addDiscoNodes: (nodes) => (disco = nodes) },
      {
        desk: new OperatorDesk({
          authz: { roleOf: (jid) => roles[jid.split("/")[0] ?? ""] },
          readout: { nodeIds: ["boiler"], unknownNodes: () => [], read: () => Promise.resolve({ groups: [], failures: [] }) },
          control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")) },
          health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date() },
        }),
        log: quiet,
      },
    );
    const [route] = routes;
    assert.ok(route && disco);
    const nodes = disco;
    const listed = (from: string) => (nodes.items?.(NS_COMMANDS, from) ?? []).map((item) => item.node);
    const refusal = async (node: string, from: string) => {
      const element = xml("command", { xmlns: NS_COMMANDS, node, action: "execute" });
      const reply = await route.handler({ element, stanza: xml("iq", {}, element), from });
      assert.ok(reply !== true);
      return reply.name === "error" ? `${String(reply.attrs.type)} ${reply.getChildElements()[0]?.name ?? ""}` : "none";
    };
    return { listed, refusal, info: (node: string, from: string) => nodes.info?.(node, from) };
  }

  it("lists and runs commands by role: strangers nothing, read operators everything but set", async () => {
    const { listed, refusal } = face();
    assert.deepEqual(listed("mallory@example.net/x"), []);
    assert.deepEqual(listed("viewer@example.net/x"), ["read", "status", "history"]);
    assert.deepEqual(listed("ops@example.net/x"), ["read", "set", "status", "history"]);
    assert.equal(await refusal("read", "mallory@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("set", "viewer@example.net/x"), "cancel forbidden");
    assert.equal(await refusal("status", "viewer@example.net/x"), "none");
    assert.equal(await refusal("nothing", "viewer@example.net/x"), "cancel item-not-found");
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

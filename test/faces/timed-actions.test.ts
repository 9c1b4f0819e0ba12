// Timed sets through the real servers, over the simulated gateway (examples/sim-sensors.yaml, actuator `pump`, safe
// state off): `set pump state on for 2s` switches the pump, switches it back after 2 s and tells the operator in a
// chat message; `cancel pump` ends one early; both are in the audit trail as timed. A timer outlives a restart of
// the agent and still switches back at its due time.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess } from "../support/agent.ts";
import { AGENT_JID, startSimGateway, waitForFirstReadings, type SimGateway } from "../support/gateway-fixture.ts";
import { Arrivals } from "../support/arrivals.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { auditRows, until } from "../support/audit.ts";

/** An operator's chat client, available (as a phone is), so messages to the bare JID reach it. */
class Operator {
  readonly bodies: string[] = [];
  private readonly arrivals = new Arrivals();

  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      const body = stanza.is("message") && stanza.attrs.type !== "error" ? stanza.getChildText("body") : null;
      if (body === null || String(stanza.attrs.from) !== AGENT_JID) return;
      this.bodies.push(body);
      this.arrivals.notify();
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Operator> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "phone", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    await client.entity.send(xml("presence", {}));
    return new Operator(client);
  }

  /** Sends a line and resolves with the next message from the agent. */
  async ask(body: string): Promise<string> {
    const seen = this.bodies.length;
    await this.client.entity.send(xml("message", { to: AGENT_JID, type: "chat" }, xml("body", {}, body)));
    return this.next(seen);
  }

  next(seen: number, timeoutMs = 10_000): Promise<string> {
    return this.arrivals.until(() => this.bodies[seen], timeoutMs, () => `no message within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

for (const kind of serverKinds) {
  describe(`timed sets on ${kind}`, () => {
    let gateway: SimGateway;
    let ops: Operator;
    let restarted: AgentProcess | undefined;

    before(async () => {
      gateway = await startSimGateway(kind);
      ops = await Operator.connect(gateway.server, "ops");
      await waitForFirstReadings(gateway);
    });
    after(async () => {
      await ops?.close();
      if (restarted) assert.equal(await restarted.stop(), 0);
      if (gateway) assert.equal(await gateway.stop(), 0);
    });

    it("set … for 2s switches the pump, switches it back after 2 s and says so", async () => {
      assert.match(await ops.ask("read pump"), /^pump: state false /);
      const started = Date.now();
      assert.match(await ops.ask("set pump state on for 2s"), /^Done: pump state = true for 2s, then back to false at \d\d:\d\d:\d\d\.$/);
      assert.match(await ops.ask("read pump"), /^pump: state true /);
      const seen = ops.bodies.length;
      assert.equal(await ops.next(seen), "Switched pump state back to false: the time of your 'set pump state true for 2s' is up.");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1_900 && elapsed < 6_000, `switched back after ${elapsed} ms`);
      assert.match(await ops.ask("read pump"), /^pump: state false /);

      const rows = await auditRows(gateway.dir);
      const timed = rows.filter((row) => row.detail?.startsWith("timed"));
      assert.deepEqual(
        timed.map((row) => [row.requester, row.via, row.result, JSON.parse(row.params) as unknown, row.detail]),
        [
          ["ops@localhost/phone", "chat", "ok", [{ name: "state", value: "true" }], "timed: for 2s, then back to false"],
          ["ops@localhost/phone", "chat", "ok", [{ name: "state", value: "false" }], "timed revert: back to the value before 'set pump state true for 2s'"],
        ],
      );
      const lines = (await ops.ask("audit 2")).split("\n");
      assert.match(lines[1] ?? "", /^\d\d:\d\d:\d\d ops@localhost · chat · pump state=true · applied: timed: for 2s, then back to false$/);
      assert.match(lines[2] ?? "", /^\d\d:\d\d:\d\d ops@localhost · chat · pump state=false · applied: timed revert: back to the value before 'set pump state true for 2s'$/);
    });

    it("cancel ends a timed set early, switching back now; no message comes later", async () => {
      assert.match(await ops.ask("set pump state on for 3s"), /^Done: pump state = true for 3s/);
      assert.match(await ops.ask("read pump"), /^pump: state true /);
      assert.equal(await ops.ask("cancel pump"), "Cancelled: pump state is back at false now.");
      assert.match(await ops.ask("read pump"), /^pump: state false /);
      const seen = ops.bodies.length;
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      assert.deepEqual(ops.bodies.slice(seen), [], "the cancelled timer never fires");
      await until(
        () => auditRows(gateway.dir),
        (rows) => rows.some((row) => row.detail === "timed revert, cancelled early by ops@localhost/phone"),
        "the cancel in the audit trail",
      );
    });

    it("a timer outlives a restart of the agent and still switches back at its due time", async () => {
      assert.equal(await ops.ask("set pump state on"), "Done: pump state = true.");
      assert.match(await ops.ask("set pump state off for 12s"), /^Done: pump state = false for 12s, then back to true at \d\d:\d\d:\d\d\.$/);
      const started = Date.now();
      assert.equal(await gateway.agent.stop(), 0);
      restarted = AgentProcess.start(gateway.configFile);
      await restarted.waitForMessage("online", 30_000);
      assert.ok(Date.now() - started < 10_000, "restarted well before the timer is due");
      assert.match(await ops.ask("read pump"), /^pump: state false /);
      const seen = ops.bodies.length;
      assert.equal(await ops.next(seen, 20_000), "Switched pump state back to true: the time of your 'set pump state false for 12s' is up.");
      assert.ok(Date.now() - started >= 11_500, "not before its due time");
      assert.match(await ops.ask("read pump"), /^pump: state true /);
      assert.equal(await ops.ask("set pump state off"), "Done: pump state = false.");
    });
  });
}

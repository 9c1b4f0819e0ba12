// The composition root's wiring of the alert engine: the agent, on simulated hardware and with no server to
// reach, fires config alerts from committed readings and from a sensor that fails, and clears them on reload.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseConfig } from "./config.ts";
import { startAgent } from "./main.ts";
import type { LogFields, Logger } from "./log.ts";

let dir: string;

/** Resolves once `done` holds, checking every 50 ms; fails after `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the agent's alerts", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-main-alerts-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("fire from committed readings and from a failing sensor, and are logged", async () => {
    const config = parseConfig(
      `hardware: sim
xmpp: { jid: gw1@localhost, password: p, service: "xmpp://127.0.0.1:1" }
store: { path: store.db, commitInterval: 100ms }
status: { socket: status.sock }
sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }
  - { id: cellar, driver: bme280, i2c: { bus: 1, address: 0x77 }, interval: 200ms, sim: { faults: [{ kind: eio }] } }
alerts:
  - { id: warm, sensor: boiler, field: temperature, above: -40, notify: [alice@localhost] }
  - { id: dead, sensor: cellar, failing: true, notify: [{ role: control }] }
`,
      join(dir, "xedge.yaml"),
      {},
    );
    const alerts: { message: string; fields: LogFields }[] = [];
    const quiet = () => undefined;
    const log: Logger = {
      debug: quiet,
      info: (message, fields = {}) => {
        if (message.startsWith("alert ")) alerts.push({ message, fields });
      },
      warn: quiet,
      error: quiet,
    };
    const agent = await startAgent(config, log);
    try {
      await until(() => alerts.length >= 2, 10_000, "two alerts");
      const byRule = new Map(alerts.map((alert) => [alert.fields.alert, alert]));
      assert.equal(byRule.get("warm")?.message, "alert fired");
      assert.match(String(byRule.get("warm")?.fields.value), /^-?\d+\.\d\d °C$/);
      assert.equal(byRule.get("warm")?.fields.condition, "above -40 °C");
      assert.equal(byRule.get("dead")?.message, "alert fired");
      assert.match(String(byRule.get("dead")?.fields.error), /0x77/);
      assert.deepEqual(agent.alerts.active().map((event) => event.ruleId).sort(), ["dead", "warm"]);

      // A reload with the cellar healthy: the failing rule's sensor recovers and the rule clears.
      const healthy = { ...config, sensors: config.sensors.map((sensor) => ({ ...sensor, faults: [] })) };
      await agent.reload(healthy);
      await until(() => alerts.some((alert) => alert.message === "alert cleared"), 10_000, "the failure to clear");
      assert.deepEqual(agent.alerts.active().map((event) => event.ruleId), ["warm"]);
      assert.equal(alerts.filter((alert) => alert.fields.alert === "warm").length, 1, "no repeat while fired");
    } finally {
      await agent.stop();
    }
  });
});

// The CLI as users run it (the bundle): bad configs give one line per problem and exit 2; status reads the store.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./support/agent.ts";

const dir = mkdtempSync(join(tmpdir(), "xedge-cli-"));
const GOOD_XMPP = "xmpp: { jid: gw1@example.net, password: secret }";
const SENSOR = "{ id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1s }";

function configFile(name: string, text: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

const badConfigs: { name: string; text: string; line: string }[] = [
  { name: "missing JID", text: `hardware: sim\nxmpp: { password: secret }\n`, line: "xmpp.jid: required (string)" },
  {
    name: "bad duration",
    text: `hardware: sim\n${GOOD_XMPP}\nsensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: soon }\n`,
    line: 'sensors[0].interval: expected a duration such as 1s (units ms, s, m, h, d), got "soon"',
  },
  {
    name: "unknown key",
    text: `hardware: sim\n${GOOD_XMPP}\nstore: { path: x.db, maxReadingz: 5 }\n`,
    line: "store.maxReadingz: unknown key; expected one of: path, maxReadings, retention, commitInterval",
  },
  {
    name: "address out of range",
    text: `hardware: sim\n${GOOD_XMPP}\nsensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x90 } }\n`,
    line: "sensors[0].i2c.address: expected 0x03..0x77, got 0x90",
  },
  {
    name: "unreadable passwordFile",
    text: `hardware: sim\nxmpp: { jid: gw1@example.net, passwordFile: /nonexistent/password }\n`,
    line: "xmpp.passwordFile: cannot read /nonexistent/password (ENOENT); check the path and that the service user may read it",
  },
  {
    name: "unknown driver",
    text: `hardware: sim\n${GOOD_XMPP}\nsensors:\n  - { id: boiler, driver: bme281 }\n`,
    line: 'sensors[0].driver: unknown driver "bme281"; expected one of bme280',
  },
];

describe("xedge check", () => {
  for (const bad of badConfigs) {
    it(`rejects a config with ${bad.name}: one line naming the path, exit 2`, async () => {
      const result = await runCli(["check", "--config", configFile(bad.name.replace(/\W/g, "-"), bad.text)], { XEDGE_XMPP_PASSWORD: "" });
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `${bad.line}\n`);
    });
  }

  it("reports every problem of a config at once", async () => {
    const text = `hardware: simulated\nxmpp: { jid: nobody, password: p, extra: 1 }\nsensors:\n  - { id: a, driver: bme280, i2c: { bus: 1, address: 0x90 }, interval: 0s }\n  - { id: a, driver: nope }\n`;
    const result = await runCli(["check", "--config", configFile("many", text)]);
    assert.equal(result.code, 2);
    assert.deepEqual(result.stderr.trim().split("\n"), [
      'hardware: expected one of sim | real, got "simulated"',
      "xmpp.jid: expected a bare JID such as gw1@example.net",
      "xmpp.extra: unknown key; expected one of: jid, password, passwordFile, resource, service, caFile, pingInterval, pingTimeout, reconnect",
      "sensors[0].interval: must be longer than 0",
      "sensors[0].i2c.address: expected 0x03..0x77, got 0x90",
      'sensors[1].driver: unknown driver "nope"; expected one of bme280',
      'sensors[1].id: duplicate id "a" (also sensors[0].id)',
    ]);
  });

  it("accepts a valid config with exit 0", async () => {
    const result = await runCli(["check", "--config", configFile("good", `hardware: sim\n${GOOD_XMPP}\nsensors:\n  - ${SENSOR}\n`)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /config is valid \(1 sensors, hardware: sim\)/);
  });

  it("names a missing config file and exits 2", async () => {
    const result = await runCli(["check", "--config", join(dir, "absent.yaml")]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot read .*absent\.yaml: ENOENT/);
  });

  it("exits 2 on an unknown command", async () => {
    const result = await runCli(["frobnicate"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'frobnicate'/);
  });
});

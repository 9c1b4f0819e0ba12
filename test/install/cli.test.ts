// The CLI as users run it (the bundle): bad configs give one line per problem and exit 2; status asks the running
// agent over its status socket (running, online or offline and since when) and falls back to the store.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentProcess, runCli, writeAgentConfig } from "../support/agent.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { sensorDrivers } from "../../drivers/registry.ts";

/** The registered sensor drivers, in the order config errors list them. */
const DRIVERS = Object.keys(sensorDrivers).join(", ");

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
    line: `sensors[0].driver: unknown driver "bme281"; expected one of ${DRIVERS}`,
  },
  {
    name: "a pull resistor asked of sysfs",
    text: `hardware: real\n${GOOD_XMPP}\nsensors:\n  - { id: door, driver: gpio-input, gpio: { pin: 17, bias: up, backend: sysfs } }\n`,
    line:
      "sensors[0].gpio.bias: backend: sysfs cannot set pull resistors: use gpio.backend: cdev (the GPIO character device, kernel 5.10 or later), " +
      "or leave gpio.bias out and set the pull in /boot/firmware/config.txt (`gpio=17=ip,pu`), then reboot",
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
      `sensors[1].driver: unknown driver "nope"; expected one of ${DRIVERS}`,
      'sensors[1].id: duplicate id "a" (also sensors[0].id)',
    ]);
  });

  it("accepts a valid config with exit 0, reading its simulated sensor once (offline: no server lines)", async () => {
    const file = configFile("good", `hardware: sim\n${GOOD_XMPP}\nsensors:\n  - ${SENSOR}\n`);
    const result = await runCli(["check", "--offline", "--config", file]);
    assert.equal(result.code, 0, result.stderr);
    const printed = result.stdout.trim().split("\n");
    assert.deepEqual(printed.slice(0, 2).map((line) => line.replace(/\d+\.\d+/g, "N")), [
      `✓ ${file}: config is valid (1 sensors, hardware: sim)`,
      "✓ sensors[0] (boiler): bme280: temperature N °C, humidity N %RH, pressure N hPa",
    ]);
    // The config names no store: the default path, which this machine may or may not have.
    assert.match(printed[2] ?? "", /^✓ store\.path \(\/var\/lib\/xedge\/xedge\.db\): /);
    assert.equal(printed.length, 3, result.stdout);
  });

  it("names a missing config file and exits 2", async () => {
    const result = await runCli(["check", "--config", join(dir, "absent.yaml")]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot read .*absent\.yaml: ENOENT/);
  });

  it("prints its version with --version and -V, exit 0", async () => {
    const expected = (JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string }).version;
    for (const flag of ["--version", "-V"]) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${expected}\n`);
    }
  });

  it("exits 2 on an unknown command", async () => {
    const result = await runCli(["frobnicate"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'frobnicate'/);
  });
});

describe("xedge check with hardware: real", () => {
  it("reports each missing device in one ✗ line, without a stack trace, and exits 1", async () => {
    // This machine has no I2C, 1-Wire, GPIO or serial devices: every sensor's device is missing.
    const text = `hardware: real\n${GOOD_XMPP}\nsensors:
  - ${SENSOR}
  - { id: tank, driver: ds18b20, onewire: { device: 28-0316a2795aff } }
  - { id: door, driver: gpio-input, gpio: { pin: 17 } }
  - { id: gps, driver: nmea, serial: { path: /dev/ttyXEDGE-absent, baudRate: 9600 } }
`;
    const result = await runCli(["check", "--offline", "--config", configFile("real", text)]);
    assert.equal(result.code, 1);
    const lines = result.stdout.trim().split("\n").slice(1);
    assert.equal(lines.length, 5, result.stdout);
    assert.match(lines[0]!, /^✗ sensors\[0\] \(boiler\): \/dev\/i2c-1: .*raspi-config/);
    assert.match(lines[1]!, /^✗ sensors\[1\] \(tank\): .*1-Wire.*raspi-config nonint do_onewire 0/);
    assert.match(lines[2]!, /^✗ sensors\[2\] \(door\): .*GPIO/);
    assert.match(lines[3]!, /^✗ sensors\[3\] \(gps\): \/dev\/ttyXEDGE-absent: .*/);
    assert.match(lines[4]!, /^✓ store\.path \(.*\): no store yet/);
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("xedge status", () => {
  it("shows buffered, dropped, last publish and each sensor's last value and error, for people and as JSON", async () => {
    const statusDir = mkdtempSync(join(tmpdir(), "xedge-status-"));
    const dbPath = join(statusDir, "xedge.db");
    const { Store } = await import("../../agent/store.ts");
    const store = await Store.open(dbPath, { commitIntervalMs: 60_000 });
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      store.append({ sensorId: "boiler", timestamp: new Date(now - (3 - i) * 1000), fields: [{ type: "numeric", name: "temperature", value: 21 + i, unit: "°C", decimals: 2 }] });
    }
    await store.flush();
    const [first] = await store.unsent(0, 1);
    store.markPublished(first!.id);
    store.setSensorError("door", "gpio-input on GPIO 17: EIO", new Date(now - 60_000));
    await store.close();
    const socket = join(statusDir, "status.sock");
    const file = configFile("status", `hardware: sim\n${GOOD_XMPP}\nstore: { path: ${dbPath} }\nstatus: { socket: ${socket} }\n`);

    const human = await runCli(["status", "--config", file]);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout.split("\n")[0], `agent:             not running (${socket}: no socket); below is what the store recorded`);
    assert.match(human.stdout, /^buffered readings: 2$/m);
    assert.match(human.stdout, /^dropped: +0$/m);
    assert.match(human.stdout, /^last publish: +\d{4}-\d\d-\d\dT.* \((\d+ s ago|just now)\)$/m);
    assert.match(human.stdout, /^ {2}boiler {2}#3 {2}temperature 23\.00 °C {2}\((\d s ago|just now)\)$/m);
    assert.match(human.stdout, /^ {4}FAILING since .*: gpio-input on GPIO 17: EIO$/m);

    const json = await runCli(["status", "--json", "--config", file]);
    const parsed = JSON.parse(json.stdout) as { unsent: number; dropped: number; sensors: { sensorId: string; lastSeq: number; error?: string }[]; agent: unknown };
    assert.deepEqual(parsed.agent, { running: false, reason: "no socket" });
    assert.equal(parsed.unsent, 2);
    assert.deepEqual(parsed.sensors.map((s) => [s.sensorId, s.lastSeq, s.error]), [["boiler", 3, undefined], ["door", 0, "gpio-input on GPIO 17: EIO"]]);
  });

  it("says which store it cannot open, without creating one", async () => {
    const file = configFile("nostore", `hardware: sim\n${GOOD_XMPP}\nstore: { path: ${join(dir, "absent", "x.db")} }\n`);
    const result = await runCli(["status", "--config", file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^store\.path: cannot open .*absent\/x\.db/);
  });
});

describe("xedge status of a running agent", () => {
  let server: XmppTestServer;
  let agent: AgentProcess | undefined;
  let config: { file: string; dir: string };

  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret" }, pubsubAdmins: ["gw1@localhost"] });
    config = writeAgentConfig(server, { xmppExtra: "  reconnect: { initialDelay: 200ms, maxDelay: 1s }" });
  });
  after(async () => {
    if (agent) await agent.stop();
    await server?.stop();
  });

  const status = async () => {
    const result = await runCli(["status", "--json", "--config", config.file]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as { unsent: number; agent: { running: boolean; online?: boolean; linkSince?: string; pid?: number; reason?: string; health?: { text: string } } };
  };
  const until = async (what: string, predicate: (report: Awaited<ReturnType<typeof status>>) => boolean) => {
    for (let tries = 0; tries < 100; tries++) {
      const report = await status();
      if (predicate(report)) return report;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`xedge status never showed ${what}: ${JSON.stringify(await status())}`);
  };

  it("says online and since when, offline when the server goes away, and not running once it stops", async () => {
    agent = AgentProcess.start(config.file);
    await agent.waitForLog((line) => line.message === "agent started", 15_000);
    const online = await until("online", (report) => report.agent.online === true);
    assert.equal(online.agent.running, true);
    assert.equal(online.agent.pid, agent.child.pid);
    assert.match(online.agent.health?.text ?? "", /^1 sensor · buffer \d+ · /);
    const human = await runCli(["status", "--config", config.file]);
    assert.match(human.stdout, /^agent: +running \(pid \d+, xedge \S+\), up \d+ s$/m);
    assert.match(human.stdout, /^link: +online since \d{4}-\d\d-\d\dT\S+ \((just now|\d+ s ago)\)$/m);
    assert.match(human.stdout, /^ {2}boiler {2}#\d+ {2}temperature /m);

    await server.stop({ keepData: true });
    const offline = await until("offline", (report) => report.agent.online === false);
    assert.ok(Date.parse(offline.agent.linkSince ?? "") > Date.parse(online.agent.linkSince ?? ""), "offline since after online since");
    await server.restart();
    await until("online again", (report) => report.agent.online === true);

    assert.equal(await agent.stop(), 0);
    agent = undefined;
    const stopped = await status();
    assert.deepEqual(stopped.agent, { running: false, reason: "no socket" });
    assert.ok(stopped.unsent >= 0);
  });
});

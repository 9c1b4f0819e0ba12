// parseConfig in-process: a full valid config resolves with defaults and absolute paths; every bad config
// produces exact one-line problems naming the config path, all of them at once.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, PASSWORD_ENV, parseConfig } from "./config.ts";
import { sensorDrivers } from "../drivers/registry.ts";

/** The registered sensor drivers, in the order config errors list them. */
const DRIVERS = Object.keys(sensorDrivers).join(", ");

const PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n";

let dir: string;
let file: string;

/** The problems a config text produces; fails the test if it parses. */
function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, file, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.file, file);
    return error.problems;
  }
  assert.fail("config was accepted");
}

/** A minimal valid config with `extra` lines appended and the xmpp block replaced when given. */
function config(options: { xmpp?: string; extra?: string } = {}): string {
  return `hardware: sim\n${options.xmpp ?? "xmpp: { jid: gw1@example.net, password: secret }"}\n${options.extra ?? ""}`;
}

describe("parseConfig", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-config-test-"));
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "xmpp.pw"), "s3cret!\n");
    writeFileSync(join(dir, "ca.pem"), PEM);
    file = join(dir, "xedge.yaml");
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("a full valid config", () => {
    const text = `
hardware: sim
xmpp:
  jid: gw1@example.net
  passwordFile: secrets/xmpp.pw
  service: xmpps://xmpp.example.net:5223
  caFile: ca.pem
  pingInterval: 30s
  reconnect: { initialDelay: 500ms, maxDelay: 2m }
pubsub:
  service: pubsub.example.net
  nodePrefix: plant/gw1
  maxItems: 500
operators:
  - { jid: alice@example.net, role: control }
  - { jid: bob@example.net, role: read }
store:
  path: data/xedge.db
  maxReadings: 5000
  retention: 3d
sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1.5s }
  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 } }
`;

    it("resolves every section with durations in milliseconds", () => {
      const cfg = parseConfig(text, file, {});
      assert.equal(cfg.file, file);
      assert.equal(cfg.hardware, "sim");
      assert.deepEqual(cfg.xmpp, {
        jid: "gw1@example.net",
        password: "s3cret!",
        resource: "edge",
        service: "xmpps://xmpp.example.net:5223",
        domain: "example.net",
        caFile: join(dir, "ca.pem"),
        pingIntervalMs: 30_000,
        pingTimeoutMs: 10_000,
        reconnect: { initialDelayMs: 500, maxDelayMs: 120_000 },
      });
      assert.deepEqual(cfg.pubsub, { service: "pubsub.example.net", nodePrefix: "plant/gw1", maxItems: 500, accessModel: undefined });
      assert.deepEqual(cfg.operators, [
        { jid: "alice@example.net", role: "control" },
        { jid: "bob@example.net", role: "read" },
      ]);
      assert.deepEqual(cfg.store, { path: join(dir, "data", "xedge.db"), maxReadings: 5000, retentionMs: 3 * 86_400_000, commitIntervalMs: 1000 });
      assert.deepEqual(cfg.sensors, [
        { id: "boiler", driver: "bme280", intervalMs: 1500, options: { i2c: { bus: 1, address: 0x76 } }, faults: [] },
        { id: "attic", driver: "bme280", intervalMs: 10_000, options: { i2c: { bus: 1, address: 0x77 } }, faults: [] },
      ]);
      assert.deepEqual(cfg.actuators, []);
      assert.deepEqual(cfg.log, { level: "info", json: false });
    });

    it("reads passwordFile without its trailing newline, relative to the config file's folder", () => {
      // The process's working directory is not the config's folder: resolution must not depend on it.
      assert.notEqual(process.cwd(), dir);
      const cfg = parseConfig(text, file, {});
      assert.equal(cfg.xmpp.password, "s3cret!");
      assert.equal(cfg.xmpp.caFile, join(dir, "ca.pem"));
      assert.equal(cfg.store.path, join(dir, "data", "xedge.db"));
    });

    it("keeps absolute paths as they are", () => {
      const cfg = parseConfig(config({ extra: "store: { path: /srv/xedge/readings.db }\n" }), file, {});
      assert.equal(cfg.store.path, "/srv/xedge/readings.db");
    });

    it("puts the status socket in systemd's runtime folder unless told, a relative one beside the config", () => {
      assert.equal(parseConfig(config({}), file, {}).status.socket, "/run/xedge/status.sock");
      assert.equal(parseConfig(config({ extra: "status: { socket: run/status.sock }\n" }), file, {}).status.socket, join(dir, "run", "status.sock"));
    });
    it("metrics are off unless metrics.listen names a host:port or an absolute unix socket", () => {
      assert.equal(parseConfig(config({}), file, {}).metrics, undefined);
      assert.deepEqual(parseConfig(config({ extra: "metrics: { listen: 127.0.0.1:9464 }\n" }), file, {}).metrics, { listen: { host: "127.0.0.1", port: 9464 } });
      assert.deepEqual(parseConfig(config({ extra: "metrics: { listen: /run/xedge/metrics.sock }\n" }), file, {}).metrics, { listen: { socket: "/run/xedge/metrics.sock" } });
      assert.deepEqual(problemsOf(config({ extra: "metrics: { listen: 9464 }\n" })), [
        "metrics.listen: expected string, got 9464",
      ]);
      assert.deepEqual(problemsOf(config({ extra: "metrics: { listen: metrics.sock }\n" })), [
        'metrics.listen: expected host:port (e.g. 127.0.0.1:9464, [::1]:9464) or an absolute unix socket path, got "metrics.sock"',
      ]);
    });
  });

  describe("defaults", () => {
    it("fills resource, service, nodePrefix, store, pubsub, log and sensors", () => {
      const cfg = parseConfig(config(), file, {});
      assert.equal(cfg.xmpp.resource, "edge");
      assert.equal(cfg.xmpp.service, "xmpp://example.net");
      assert.equal(cfg.xmpp.domain, "example.net");
      assert.equal(cfg.xmpp.caFile, undefined);
      assert.equal(cfg.xmpp.pingIntervalMs, 15_000);
      assert.equal(cfg.xmpp.pingTimeoutMs, 10_000);
      assert.deepEqual(cfg.xmpp.reconnect, { initialDelayMs: 1000, maxDelayMs: 300_000 });
      assert.equal(cfg.pubsub.nodePrefix, "xedge/gw1");
      assert.equal(cfg.pubsub.maxItems, 1000);
      assert.equal(cfg.pubsub.service, undefined);
      assert.deepEqual(cfg.operators, []);
      assert.deepEqual(cfg.store, { path: "/var/lib/xedge/xedge.db", maxReadings: 1_000_000, retentionMs: 7 * 86_400_000, commitIntervalMs: 1000 });
      assert.deepEqual(cfg.sensors, []);
      assert.deepEqual(cfg.log, { level: "info", json: false });
    });

    it("defaults a sensor's interval to 10s", () => {
      const cfg = parseConfig(config({ extra: "sensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }\n" }), file, {});
      assert.equal(cfg.sensors[0]?.intervalMs, 10_000);
    });
  });

  describe("bad configs: one exact line per problem", () => {
    it("missing xmpp.jid", () => {
      assert.deepEqual(problemsOf(config({ xmpp: "xmpp: { password: secret }" })), ["xmpp.jid: required (string)"]);
    });

    it("a duration that is not one", () => {
      const text = config({ extra: "sensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: fast }\n" });
      assert.deepEqual(problemsOf(text), [
        'sensors[0].interval: expected a duration such as 1s (units ms, s, m, h, d), got "fast"',
      ]);
    });

    it("an unknown key at the top level", () => {
      assert.deepEqual(problemsOf(config({ extra: "foo: 1\n" })), [
        "foo: unknown key; expected one of: hardware, xmpp, pubsub, operators, store, sensors, actuators, log, status, remoteConfig, metrics, alerts",
      ]);
    });

    it("an unknown key nested in a section", () => {
      assert.deepEqual(problemsOf(config({ xmpp: "xmpp: { jid: gw1@example.net, password: secret, pasword: x }" })), [
        "xmpp.pasword: unknown key; expected one of: jid, password, passwordFile, resource, service, caFile, pingInterval, pingTimeout, reconnect",
      ]);
      assert.deepEqual(problemsOf(config({ extra: "store: { path: x.db, maxReading: 3 }\n" })), [
        "store.maxReading: unknown key; expected one of: path, maxReadings, retention, commitInterval",
      ]);
    });

    it("an I2C address out of range", () => {
      const text = config({ extra: "sensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x90 } }\n" });
      assert.deepEqual(problemsOf(text), ["sensors[0].i2c.address: expected 0x03..0x77, got 0x90"]);
    });

    it("an unreadable passwordFile", () => {
      const missing = join(dir, "nope.txt");
      assert.deepEqual(problemsOf(config({ xmpp: "xmpp: { jid: gw1@example.net, passwordFile: nope.txt }" })), [
        `xmpp.passwordFile: cannot read ${missing} (ENOENT); check the path and that the service user may read it`,
      ]);
    });

    it("an unknown driver", () => {
      assert.deepEqual(problemsOf(config({ extra: "sensors:\n  - { id: boiler, driver: dht22 }\n" })), [
        `sensors[0].driver: unknown driver "dht22"; expected one of ${DRIVERS}`,
      ]);
    });

    it("duplicate sensor ids", () => {
      const text = config({
        extra:
          "sensors:\n" +
          "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }\n" +
          "  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 } }\n" +
          "  - { id: boiler, driver: bme280, i2c: { bus: 2, address: 0x76 } }\n",
      });
      assert.deepEqual(problemsOf(text), ['sensors[2].id: duplicate id "boiler" (also sensors[0].id)']);
    });

    it("both password and passwordFile", () => {
      assert.deepEqual(problemsOf(config({ xmpp: "xmpp: { jid: gw1@example.net, password: a, passwordFile: secrets/xmpp.pw }" })), [
        "xmpp.passwordFile: give either xmpp.password or xmpp.passwordFile, not both",
      ]);
    });

    it(`no password source at all, then satisfied by ${PASSWORD_ENV}`, () => {
      const text = config({ xmpp: "xmpp: { jid: gw1@example.net }" });
      assert.deepEqual(problemsOf(text, {}), [
        "xmpp.password: required: set xmpp.password, xmpp.passwordFile or the XEDGE_XMPP_PASSWORD environment variable",
      ]);
      assert.deepEqual(problemsOf(text, { [PASSWORD_ENV]: "" }), [
        "xmpp.password: required: set xmpp.password, xmpp.passwordFile or the XEDGE_XMPP_PASSWORD environment variable",
      ]);
      const cfg = parseConfig(text, file, { [PASSWORD_ENV]: "from-env" });
      assert.equal(cfg.xmpp.password, "from-env");
    });

    it("the config's own password wins over the environment", () => {
      const cfg = parseConfig(config(), file, { [PASSWORD_ENV]: "from-env" });
      assert.equal(cfg.xmpp.password, "secret");
    });

    it("a YAML syntax error names its line", () => {
      assert.deepEqual(problemsOf("hardware: sim\nxmpp:\n  jid: gw1@example.net\n password: s\n"), [
        "(yaml) line 4: All mapping items must start at the same column",
      ]);
      assert.deepEqual(problemsOf("hardware: sim\nxmpp:\n  jid: gw1@example.net\n  password: s\n  jid: x@example.net\n"), [
        "(yaml) line 5: Map keys must be unique",
      ]);
    });

    it("reports every problem of a file at once", () => {
      const text = [
        "hardware: simulated",
        "xmpp: { jid: nojid, password: s, passwordFile: nope.txt }",
        "bogus: true",
        "store: { retention: forever }",
        "sensors:",
        "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x90 }, interval: 0s }",
        "  - { id: boiler, driver: dht22 }",
        "",
      ].join("\n");
      const problems = problemsOf(text);
      assert.deepEqual(problems, [
        'hardware: expected one of sim | real, got "simulated"',
        "xmpp.jid: expected a bare JID such as gw1@example.net",
        `xmpp.passwordFile: cannot read ${join(dir, "nope.txt")} (ENOENT); check the path and that the service user may read it`,
        'store.retention: expected a duration such as 7d (units ms, s, m, h, d), got "forever"',
        "sensors[0].interval: must be longer than 0",
        "sensors[0].i2c.address: expected 0x03..0x77, got 0x90",
        `sensors[1].driver: unknown driver "dht22"; expected one of ${DRIVERS}`,
        "bogus: unknown key; expected one of: hardware, xmpp, pubsub, operators, store, sensors, actuators, log, status, remoteConfig, metrics, alerts",
        "xmpp.passwordFile: give either xmpp.password or xmpp.passwordFile, not both",
        'sensors[1].id: duplicate id "boiler" (also sensors[0].id)',
      ]);
      assert.equal(problems.length, 10);
    });

    it("the error message lists the problems one per line", () => {
      try {
        parseConfig(config({ xmpp: "xmpp: { password: secret }", extra: "foo: 1\n" }), file, {});
        assert.fail("config was accepted");
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.equal(
          error.message,
          `${file}: 2 problem(s) in config:\n  xmpp.jid: required (string)\n  foo: unknown key; expected one of: hardware, xmpp, pubsub, operators, store, sensors, actuators, log, status, remoteConfig, metrics, alerts`,
        );
      }
    });
  });
});

describe("sampling policy, simulated faults and actuators in config", () => {
  const base = "hardware: sim\nxmpp: { jid: gw1@example.net, password: p }\n";

  it("resolves deadband, maxSilence (defaulting to 15 minutes), faults and actuators", () => {
    const cfg = parseConfig(
      `${base}sensors:
  - { id: a, driver: bme280, i2c: { bus: 1, address: 0x76 }, deadband: { temperature: 0.2 }, maxSilence: 5m }
  - { id: b, driver: bme280, i2c: { bus: 1, address: 0x77 }, deadband: 1, sim: { faults: [{ kind: eio, at: 30s, for: 10s }, { kind: slow, delay: 2s }] } }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22 } }
`,
      "/tmp/x.yaml",
      {},
    );
    assert.deepEqual(cfg.sensors[0]?.report, { deadband: { temperature: 0.2 }, maxSilenceMs: 300_000 });
    assert.deepEqual(cfg.sensors[1]?.report, { deadband: 1, maxSilenceMs: 900_000 });
    assert.deepEqual(cfg.sensors[1]?.faults, [
      { kind: "eio", atMs: 30_000, forMs: 10_000 },
      { kind: "slow", atMs: 0, delayMs: 2000 },
    ]);
    assert.deepEqual(cfg.sensors[0]?.faults, []);
    assert.deepEqual(cfg.actuators.map((a) => [a.id, a.driver]), [["pump", "gpio-output"]]);
  });

  it("rejects an unknown fault kind, a negative deadband and an id shared by a sensor and an actuator", () => {
    const text = `${base}sensors:
  - { id: a, driver: bme280, i2c: { bus: 1, address: 0x76 }, deadband: -1, sim: { faults: [{ kind: fire }] } }
actuators:
  - { id: a, driver: gpio-output, gpio: { pin: 22 } }
`;
    assert.throws(
      () => parseConfig(text, "/tmp/x.yaml", {}),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          "sensors[0].deadband: expected at least 0, got -1",
          'sensors[0].sim.faults[0].kind: expected one of eio | nack | crc | stuck | unplug | garbage | truncated | slow, got "fire"',
          'actuators[0].id: duplicate id "a" (also sensors[0].id)',
        ]);
        return true;
      },
    );
  });
});

describe("alerts in config", () => {
  const base =
    "hardware: sim\nxmpp: { jid: gw1@example.net, password: p }\n" +
    "sensors:\n  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }\n";

  /** The problems of a config with these `alerts:` lines; fails the test if it parses. */
  function alertProblems(alerts: string): string[] {
    try {
      parseConfig(`${base}alerts:\n${alerts}`, "/tmp/x.yaml", {});
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      return error.problems;
    }
    assert.fail("config was accepted");
  }

  it("resolves each condition, hysteresis, for: and subscribers; none by default", () => {
    assert.deepEqual(parseConfig(base, "/tmp/x.yaml", {}).alerts, []);
    const cfg = parseConfig(
      `${base}alerts:
  - { id: hot, sensor: boiler, field: temperature, above: 30, hysteresis: 0.5, for: 5m, notify: [alice@example.net, { role: control }] }
  - { id: cold, sensor: boiler, field: temperature, below: 5, notify: [{ role: read }] }
  - { id: damp, sensor: boiler, field: humidity, outside: [30, 70], notify: [bob@example.net] }
  - { id: exact, sensor: boiler, field: pressure, equals: 1000, notify: [bob@example.net] }
  - { id: jump, sensor: boiler, field: pressure, changesBy: 5, notify: [bob@example.net] }
  - { id: dead, sensor: boiler, failing: true, for: 1m, notify: [bob@example.net] }
`,
      "/tmp/x.yaml",
      {},
    );
    const bob = [{ jid: "bob@example.net" }];
    assert.deepEqual(cfg.alerts, [
      {
        id: "hot",
        sensorId: "boiler",
        field: "temperature",
        condition: { kind: "above", threshold: 30 },
        hysteresis: 0.5,
        forMs: 300_000,
        notify: [{ jid: "alice@example.net" }, { role: "control" }],
      },
      { id: "cold", sensorId: "boiler", field: "temperature", condition: { kind: "below", threshold: 5 }, hysteresis: 0, forMs: 0, notify: [{ role: "read" }] },
      { id: "damp", sensorId: "boiler", field: "humidity", condition: { kind: "outside", low: 30, high: 70 }, hysteresis: 0, forMs: 0, notify: bob },
      { id: "exact", sensorId: "boiler", field: "pressure", condition: { kind: "equals", value: 1000 }, hysteresis: 0, forMs: 0, notify: bob },
      { id: "jump", sensorId: "boiler", field: "pressure", condition: { kind: "changesBy", amount: 5 }, hysteresis: 0, forMs: 0, notify: bob },
      { id: "dead", sensorId: "boiler", condition: { kind: "failing" }, hysteresis: 0, forMs: 60_000, notify: bob },
    ]);
  });

  it("an unknown sensor, a field its driver does not have, and an unknown key name their path and the fix", () => {
    assert.deepEqual(
      alertProblems(
        "  - { id: a, sensor: furnace, field: temperature, above: 30, notify: [alice@example.net] }\n" +
          "  - { id: b, sensor: boiler, field: temp, above: 30, notify: [alice@example.net] }\n" +
          "  - { id: c, sensor: boiler, field: temperature, abov: 30, above: 1, notify: [alice@example.net] }\n",
      ),
      [
        "alerts[2].abov: unknown key; expected one of: id, sensor, field, above, below, outside, equals, changesBy, failing, hysteresis, for, notify",
        'alerts[0].sensor: no sensor "furnace"; expected one of boiler',
        'alerts[1].field: sensor "boiler" (bme280) has no field "temp"; expected one of temperature, humidity, pressure',
      ],
    );
  });

  it("exactly one condition, a field unless failing, a clear band left by the hysteresis", () => {
    assert.deepEqual(
      alertProblems(
        "  - { id: a, sensor: boiler, field: temperature, notify: [alice@example.net] }\n" +
          "  - { id: b, sensor: boiler, field: temperature, above: 30, below: 5, notify: [alice@example.net] }\n" +
          "  - { id: c, sensor: boiler, above: 30, notify: [alice@example.net] }\n" +
          "  - { id: d, sensor: boiler, field: temperature, failing: true, notify: [alice@example.net] }\n" +
          "  - { id: e, sensor: boiler, field: humidity, outside: [40, 50], hysteresis: 5, notify: [alice@example.net] }\n" +
          "  - { id: f, sensor: boiler, field: pressure, equals: 1000, hysteresis: 1, notify: [alice@example.net] }\n" +
          "  - { id: g, sensor: boiler, field: pressure, changesBy: 2, hysteresis: 3, notify: [alice@example.net] }\n",
      ),
      [
        "alerts[0]: no condition; give one of above, below, outside, equals, changesBy, failing",
        "alerts[1].below: one condition per rule; give either above or below",
        "alerts[2].field: required: the field the condition looks at, such as temperature",
        "alerts[3].field: a failing rule watches the whole sensor; remove field",
        "alerts[4].outside: expected [low, high] with low + hysteresis below high - hysteresis, got [40, 50] and hysteresis 5",
        "alerts[5].hysteresis: equals has no threshold to come back from; remove hysteresis",
        "alerts[6].hysteresis: expected at most changesBy (2), got 3",
      ],
    );
  });

  it("bad values, subscribers and a duplicate id", () => {
    assert.deepEqual(
      alertProblems(
        "  - { id: a, sensor: boiler, field: temperature, above: hot, for: soon, notify: [] }\n" +
          "  - { id: a, sensor: boiler, field: temperature, below: 5, hysteresis: -1, notify: [alice, { role: boss }] }\n",
      ),
      [
        'alerts[0].above: expected number, got "hot"',
        'alerts[0].for: expected a duration such as 5m (units ms, s, m, h, d), got "soon"',
        "alerts[0].notify: expected at least 1 entries, got a list",
        "alerts[1].hysteresis: expected at least 0, got -1",
        "alerts[1].notify[0]: expected a bare JID such as gw1@example.net",
        "alerts[1].notify[1]: expected a bare JID such as alice@example.net, or { role: read | control | admin }",
        'alerts[1].id: duplicate id "a" (also alerts[0].id)',
      ],
    );
  });
});

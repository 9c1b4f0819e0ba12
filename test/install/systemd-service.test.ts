// xedge.service under a real systemd: the x64 release (scripts/release.ts) installed by its own install.sh in a
// container that systemd-nspawn boots with systemd 252 as PID 1 (this machine's /usr, a fresh /etc and /var,
// loopback only). A probe, the container's boot unit, drives it as a technician would and writes what it saw:
// start waits for READY, keep-alives hold the watchdog off, a status line that follows the health, xedge status
// as the service user (asking the running agent over its socket), a reload in the
// same process, an upgrade while it runs, a frozen agent killed and restarted by the watchdog, a clean stop,
// journald priorities (plain and JSON logs), the config folder writable only with the guide's drop-in, the sandbox (no system call refused), and --uninstall keeping config and readings.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAndUnpack } from "../support/release.ts";

const NSPAWN = "/usr/bin/systemd-nspawn";
const skip = process.getuid?.() !== 0 ? "systemd-nspawn needs root" : !existsSync(NSPAWN) ? "systemd-nspawn is missing (apt-get install systemd-container)" : false;

/** The container's boot unit runs this; each fact is one KEY=VALUE line in /results/facts. */
const PROBE = String.raw`#!/bin/bash
set -u
fact() { printf '%s=%s\n' "$1" "$2" >> /results/facts; }
show() { systemctl show -P "$1" xedge.service; }
# Polls a condition every 0.2 s for up to $1 seconds.
wait_for() { local tries=$(( $1 * 5 )); shift; for _ in $(seq "$tries"); do if "$@"; then return 0; fi; sleep 0.2; done; return 1; }
trap 'systemctl poweroff --no-block' EXIT

/release/install.sh > /results/install.log 2>&1; fact install_exit $?
fact enabled "$(systemctl is-enabled xedge.service)"
fact active_after_install "$(systemctl is-active xedge.service)"

# A gateway on simulated hardware whose server is unreachable: READY must not wait for the network.
cat > /etc/xedge/xedge.yaml <<'YAML'
hardware: sim
xmpp: { jid: gw1@localhost, passwordFile: password, service: "xmpp://127.0.0.1:1", reconnect: { initialDelay: 1s, maxDelay: 2s } }
sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }
YAML
mkdir -p /etc/systemd/system/xedge.service.d
printf '[Service]\nWatchdogSec=4s\n' > /etc/systemd/system/xedge.service.d/watchdog.conf
systemctl daemon-reload

systemctl start xedge.service; fact start_exit $?
fact state "$(show ActiveState)/$(show SubState)"
fact status_text "$(show StatusText)"
first_pid=$(show MainPID)

moved() { [ "$(show WatchdogTimestampMonotonic)" != "$1" ]; }
for n in 1 2 3; do stamp=$(show WatchdogTimestampMonotonic); if wait_for 10 moved "$stamp"; then fact keepalive_$n yes; fi; done
fact restarts_while_alive "$(show NRestarts)"

setpriv --reuid=xedge --regid=xedge --init-groups /usr/local/bin/xedge status --json --config /etc/xedge/xedge.yaml > /results/status.json 2> /results/status.err
fact status_exit $?
# The status line follows the agent's health (every 5 s at most).
status_current() { show StatusText | grep -q '^offline · '; }
if wait_for 10 status_current; then fact status_text_later "$(show StatusText)"; fi

sed -i 's/^sensors:$/sensors:\n  - { id: greenhouse, driver: sht3x, i2c: { bus: 1, address: 0x44 }, interval: 200ms }/' /etc/xedge/xedge.yaml
systemctl reload xedge.service; fact reload_exit $?
reloaded() { journalctl -u xedge.service -o cat | grep -q '^config reloaded'; }
if wait_for 10 reloaded; then fact reloaded yes; fi
fact same_pid_after_reload "$([ "$(show MainPID)" = "$first_pid" ] && echo yes || echo no)"

# An upgrade while it runs: the same release again, as a technician would run a new one.
last_seq() { setpriv --reuid=xedge --regid=xedge --init-groups /usr/local/bin/xedge status --json --config /etc/xedge/xedge.yaml |
  node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).sensors.find((s) => s.sensorId === "boiler").lastSeq'; }
seq_before=$(last_seq)
config_before=$(sha256sum < /etc/xedge/xedge.yaml)
/release/install.sh > /results/upgrade.log 2>&1; fact upgrade_exit $?
fact upgrade_state "$(show ActiveState)/$(show SubState)"
fact upgrade_new_pid "$([ "$(show MainPID)" != "$first_pid" ] && echo yes || echo no)"
fact upgrade_kept_config "$([ "$(sha256sum < /etc/xedge/xedge.yaml)" = "$config_before" ] && echo yes || echo no)"
counting_on() { [ "$(last_seq)" -gt "$seq_before" ]; }
if wait_for 10 counting_on; then fact upgrade_kept_store yes; fi
first_pid=$(show MainPID)

kill -STOP "$first_pid"
restarted() { [ "$(show NRestarts)" -ge 1 ] && [ "$(show SubState)" = running ] && [ "$(show MainPID)" != "$first_pid" ]; }
if wait_for 30 restarted; then fact restarted_after_freeze yes; fi

# JSON logs keep their priority: with log.json on, journalctl -p warning still shows the warnings.
printf 'log: { json: true }\n' >> /etc/xedge/xedge.yaml
systemctl reload xedge.service
json_warning() { journalctl -u xedge.service -p warning -o cat | grep -q '^{.*"message":"connection failed"'; }
if wait_for 15 json_warning; then fact json_warning_shown yes; fi

# Remote configuration needs the service to write /etc/xedge: root owns it by default. The operator guide's
# commands and drop-in (the unit's folder mode matching them) let the service's group write it. Checked from inside the running service's mount
# namespace, as its user, so the sandbox has its say too.
service_writes_config() { nsenter -t "$(show MainPID)" -m setpriv --reuid=xedge --regid=xedge --init-groups sh -c 'echo x > /etc/xedge/.probe && rm /etc/xedge/.probe' 2>> /results/config-write.err; }
if service_writes_config; then fact config_writable_by_default yes; else fact config_writable_by_default no; fi
chmod 0770 /etc/xedge && chown root:xedge /etc/xedge/xedge.yaml && chmod 0660 /etc/xedge/xedge.yaml
printf '[Service]\nConfigurationDirectoryMode=0770\n' > /etc/systemd/system/xedge.service.d/remote-config.conf
systemctl daemon-reload
systemctl restart xedge.service
fact config_dir_mode_with_dropin "$(stat -c %a /etc/xedge)"
if service_writes_config; then fact config_writable_with_dropin yes; else fact config_writable_with_dropin no; fi

systemctl stop xedge.service; fact stop_exit $?
fact stop_result "$(show Result)/$(show ExecMainStatus)"
journalctl -u xedge.service -o json --no-pager > /results/journal.json
journalctl -b --no-pager > /results/boot-journal.txt

/opt/xedge/install.sh --uninstall > /results/uninstall.log 2>&1; fact uninstall_exit $?
fact load_state_after_uninstall "$(systemctl show -P LoadState xedge.service)"
fact config_kept "$([ -f /etc/xedge/xedge.yaml ] && echo yes || echo no)"
fact store_kept "$([ -f /var/lib/xedge/xedge.db ] && echo yes || echo no)"
fact done yes
`;

const PROBE_UNIT = `[Unit]
Description=xedge test probe
Requires=basic.target
After=basic.target
[Service]
Type=oneshot
ExecStart=/probe/probe.sh
`;

interface JournalEntry {
  MESSAGE?: string;
  PRIORITY?: string;
  _PID?: string;
}

/** Boots the container with the probe as its only goal; resolves with the container's console output. */
function bootContainer(release: string, probeDir: string, results: string): Promise<{ code: number | null; console: string }> {
  const args = [
    "--quiet",
    "--directory=/",
    "--volatile=yes",
    "--overlay=/usr::/usr",
    "--private-network",
    "--register=no",
    "--keep-unit",
    `--machine=xedge-test-${process.pid}`,
    `--bind-ro=${release}:/release`,
    `--bind-ro=${probeDir}:/probe`,
    `--bind-ro=${join(probeDir, "xedge-probe.service")}:/etc/systemd/system/xedge-probe.service`,
    `--bind=${results}:/results`,
    "--boot",
    "systemd.firstboot=off",
    "systemd.unit=xedge-probe.service",
  ];
  return new Promise((resolveBoot) => {
    // TERM=dumb: the container's systemd writes its console without colours.
    const child = spawn(NSPAWN, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TERM: "dumb", SYSTEMD_COLORS: "0" } });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const limit = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.once("exit", (code) => {
      clearTimeout(limit);
      resolveBoot({ code, console: output });
    });
  });
}

describe("xedge.service under systemd (systemd-nspawn)", { skip }, () => {
  let facts: Map<string, string>;
  let journal: JournalEntry[];
  let results: string;
  let containerConsole: string;

  before(async () => {
    const release = await buildAndUnpack("x64");
    const probeDir = mkdtempSync(join(tmpdir(), "xedge-probe-"));
    writeFileSync(join(probeDir, "probe.sh"), PROBE, { mode: 0o755 });
    writeFileSync(join(probeDir, "xedge-probe.service"), PROBE_UNIT);
    results = mkdtempSync(join(tmpdir(), "xedge-probe-results-"));
    const booted = await bootContainer(release.dir, probeDir, results);
    containerConsole = booted.console;
    const factsFile = join(results, "facts");
    const lines = existsSync(factsFile) ? readFileSync(factsFile, "utf8").trim().split("\n") : [];
    facts = new Map(lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
    assert.equal(facts.get("done"), "yes", `the probe ran to its end; facts: ${lines.join(", ")}\ncontainer:\n${containerConsole.split("\n").slice(-40).join("\n")}`);
    const journalFile = join(results, "journal.json");
    journal = readFileSync(journalFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as JournalEntry);
  });

  const fact = (key: string) => facts.get(key);
  const context = () => `\n${readFileSync(join(results, "boot-journal.txt"), "utf8").split("\n").slice(-60).join("\n")}`;

  it("is installed and enabled by install.sh, and not started on the untouched example config", () => {
    assert.equal(fact("install_exit"), "0", readFileSync(join(results, "install.log"), "utf8"));
    assert.equal(fact("enabled"), "enabled");
    assert.equal(fact("active_after_install"), "inactive");
    assert.match(readFileSync(join(results, "install.log"), "utf8"), /not started: \/etc\/xedge\/xedge\.yaml is still the example/);
  });

  it("starts (READY) with the server unreachable, and says what it does in its status line", () => {
    assert.equal(fact("start_exit"), "0", context());
    assert.equal(fact("state"), "active/running");
    assert.equal(fact("status_text"), "sampling 1 sensors");
    assert.match(fact("status_text_later") ?? "", /^offline · 1 sensor · buffer \d+ · nothing published yet$/, "the status line follows the health");
    assert.ok(journal.some((entry) => entry.MESSAGE?.startsWith("connection failed")), "the server was unreachable");
  });

  it("keeps the watchdog fed from its event loop", () => {
    assert.deepEqual([fact("keepalive_1"), fact("keepalive_2"), fact("keepalive_3")], ["yes", "yes", "yes"], context());
    assert.equal(fact("restarts_while_alive"), "0", "three keep-alives, more than WatchdogSec, and no restart");
  });

  it("writes its store in the sandbox, readable by xedge status as the service user", () => {
    assert.equal(fact("status_exit"), "0", readFileSync(join(results, "status.err"), "utf8"));
    const status = JSON.parse(readFileSync(join(results, "status.json"), "utf8")) as {
      unsent: number;
      sensors: { sensorId: string; lastSeq: number }[];
      agent: { running: boolean; online?: boolean; pid?: number };
    };
    assert.ok(status.unsent > 0, "readings are buffered while the server is unreachable");
    assert.deepEqual([status.agent.running, status.agent.online], [true, false], "the running agent answered on /run/xedge/status.sock: up, offline");
    assert.ok((status.sensors.find((sensor) => sensor.sensorId === "boiler")?.lastSeq ?? 0) > 0);
  });

  it("reloads on systemctl reload in the same process", () => {
    assert.equal(fact("reload_exit"), "0");
    assert.equal(fact("reloaded"), "yes", context());
    assert.equal(fact("same_pid_after_reload"), "yes");
    assert.ok(journal.some((entry) => /^config reloaded .*sensors added: greenhouse/.test(entry.MESSAGE ?? "")), "the new sensor was added");
  });

  it("is upgraded in place by install.sh while it runs: restarted, config kept, readings numbered on", () => {
    assert.equal(fact("upgrade_exit"), "0", readFileSync(join(results, "upgrade.log"), "utf8"));
    assert.match(readFileSync(join(results, "upgrade.log"), "utf8"), /upgraded and restarted/);
    assert.equal(fact("upgrade_state"), "active/running");
    assert.equal(fact("upgrade_new_pid"), "yes");
    assert.equal(fact("upgrade_kept_config"), "yes");
    assert.equal(fact("upgrade_kept_store"), "yes", context());
  });

  it("is killed by the watchdog when its event loop stops, and restarted", () => {
    assert.equal(fact("restarted_after_freeze"), "yes", context());
    assert.ok(journal.some((entry) => entry._PID === "1" && /Watchdog timeout/.test(entry.MESSAGE ?? "")), "systemd names the watchdog");
  });

  it("stops cleanly, with journald priorities and no system call refused by the sandbox", () => {
    assert.equal(fact("stop_exit"), "0");
    assert.equal(fact("stop_result"), "success/0");
    const priority = (prefix: string) => journal.find((entry) => entry.MESSAGE?.startsWith(prefix))?.PRIORITY;
    assert.equal(priority("agent started"), "6");
    assert.equal(priority("connection failed"), "4");
    assert.equal(fact("json_warning_shown"), "yes", "journalctl -p warning shows a JSON log line");
    const json = journal.filter((entry) => entry.MESSAGE?.startsWith("{"));
    const jsonMessages = json.map((entry) => [(JSON.parse(entry.MESSAGE ?? "{}") as { message?: string }).message, entry.PRIORITY]);
    assert.ok(jsonMessages.some(([message, level]) => message === "connection failed" && level === "4"), `JSON lines: ${JSON.stringify(jsonMessages.slice(0, 5))}`);
    assert.ok(json.every((entry) => !/^<\d>/.test(entry.MESSAGE ?? "")), "journald strips the priority prefix");
    const everything = readFileSync(join(results, "boot-journal.txt"), "utf8");
    assert.doesNotMatch(everything, /SIGSYS|Bad system call|status=31\//, "no system call was killed by the filter");
    assert.doesNotMatch(everything, /xedge\.service:(\d+:)? .*(ignoring|Unknown|Failed to)/, "systemd has no complaint about the unit");
  });

  it("may not write its config folder by default; the operator guide's drop-in lets it (remote configuration)", () => {
    assert.equal(fact("config_writable_by_default"), "no", "root owns /etc/xedge, mode 0750");
    assert.match(readFileSync(join(results, "config-write.err"), "utf8"), /Permission denied/);
    // ProtectSystem=strict leaves a ConfigurationDirectory writable: the folder's permissions decide.
    assert.equal(fact("config_dir_mode_with_dropin"), "770");
    assert.equal(fact("config_writable_with_dropin"), "yes", readFileSync(join(results, "config-write.err"), "utf8"));
  });

  it("is removed by --uninstall, which keeps the config and the readings", () => {
    assert.equal(fact("uninstall_exit"), "0", readFileSync(join(results, "uninstall.log"), "utf8"));
    assert.equal(fact("load_state_after_uninstall"), "not-found");
    assert.equal(fact("config_kept"), "yes");
    assert.equal(fact("store_kept"), "yes");
  });
});

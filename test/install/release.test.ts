// npm run release for this machine's architecture (x64 in CI): the tarball's layout and MANIFEST, addons built
// for every supported Node ABI, and the unpacked release working on its own, away from the repository's
// node_modules, on each supported Node.js (Debian bookworm's 18, this machine's 20, Node.js's own 22):
// `xedge --version`, `xedge check` and `xedge run` publishing to a private Prosody.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join, relative } from "node:path";
import { buildAndUnpack, probeAddons, readManifest, RELEASE_WORKDIR, runCommand, VERSION, type UnpackedRelease } from "../support/release.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { brokenLinks } from "../support/markdown-links.ts";
import { officialNode, shippedDocs, SUPPORTED_NODE } from "../../scripts/release.ts";

const ARCH = arch() === "arm64" ? "arm64" : arch() === "arm" ? "armhf" : "x64";
const DEBIAN_ARCH = { x64: "amd64", arm64: "arm64", armhf: "armhf" }[ARCH];
/** Debian bookworm's nodejs 18: Raspberry Pi OS's Node, always among the ABIs a release carries. */
const DEBIAN_NODE_ABI = "108";
const HOST_MAJOR = Number(process.versions.node.split(".")[0]);
const isRoot = process.getuid?.() === 0;

/** A supported Node.js on this machine: the command that runs it (XEDGE_NODE) and how to tell it is the one running a process. */
interface Runtime {
  name: string;
  major: number;
  node: string[];
  /** Whether the process `pid` runs this Node (its executable, or the libnode it maps). */
  runs(pid: number): boolean;
  skip: string | false;
}

/**
 * Every Node.js major the release supports, as this machine can run it: Debian bookworm's 18 from the sysroot
 * the release build unpacked (run by test/support/debian-node.sh), the running Node for
 * its own major, Node.js's official build (npm's node-linux-ARCH, fetched by the release build for its headers)
 * for the others.
 */
function supportedRuntimes(): Runtime[] {
  return SUPPORTED_NODE.map(({ major }): Runtime => {
    if (major === 18) {
      const sysroot = join(RELEASE_WORKDIR, `sysroot-${DEBIAN_ARCH}`);
      return {
        name: "Debian bookworm's Node 18",
        major,
        node: [join(import.meta.dirname, "../support/debian-node.sh"), sysroot],
        runs: (pid) => readFileSync(`/proc/${pid}/maps`, "utf8").includes(`/libnode.so.${DEBIAN_NODE_ABI}`),
        skip: isRoot ? false : "test/support/debian-node.sh mounts the sysroot's /usr/share: run as root",
      };
    }
    const binary = major === HOST_MAJOR ? realpathSync(process.execPath) : join(officialNode(major, arch(), RELEASE_WORKDIR), "bin/node");
    return { name: major === HOST_MAJOR ? `this machine's Node ${major}` : `Node.js's own Node ${major}`, major, node: [binary], runs: (pid) => readlinkSync(`/proc/${pid}/exe`) === binary, skip: false };
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** The example config made usable here: a password file beside it and the store in the same folder. */
function exampleConfig(release: UnpackedRelease, transform: (text: string) => string = (text) => text): string {
  const dir = join(release.dir, "..");
  writeFileSync(join(dir, "password"), "not-a-real-secret\n", { mode: 0o640 });
  const file = join(dir, "xedge.yaml");
  const text = readFileSync(join(release.dir, "xedge.example.yaml"), "utf8").replace("/var/lib/xedge/xedge.db", join(dir, "xedge.db"));
  writeFileSync(file, transform(text));
  return file;
}

describe(`release tarball for ${ARCH}`, () => {
  let release: UnpackedRelease;
  const xedge = () => join(release.dir, "bin/xedge");

  before(async () => {
    release = await buildAndUnpack(ARCH);
  });
  after(() => release?.remove());

  it("is named xedge-VERSION-linux-ARCH and holds the agreed layout", (t) => {
    for (const line of release.buildLog.split("\n")) t.diagnostic(line);
    assert.equal(release.tarball.split("/").at(-1), `xedge-${VERSION}-linux-${ARCH}.tar.gz`);
    const files = new Set(filesUnder(release.dir));
    for (const expected of ["install.sh", "bin/xedge", "lib/xedge.mjs", "systemd/xedge.service", "systemd/xedge.sysusers.conf", "systemd/xedge.tmpfiles.conf", "xedge.example.yaml", "README.md", "MANIFEST"]) {
      assert.ok(files.has(expected), `${expected} is in the release`);
    }
    for (const runtimePackage of ["sqlite3", "serialport", "@serialport/bindings-cpp", "onoff", "epoll", "i2c-bus", "koffi", "bindings"]) {
      assert.ok(files.has(`lib/node_modules/${runtimePackage}/package.json`), `lib/node_modules/${runtimePackage}`);
    }
    for (const buildOnly of ["nan", "node-addon-api", "prebuild-install", "tar"]) {
      assert.ok(!files.has(`lib/node_modules/${buildOnly}/package.json`), `${buildOnly} is needed to compile, not to run`);
    }
    assert.deepEqual(readFileSync(join(release.dir, "install.sh")), readFileSync(join(import.meta.dirname, "../../systemd/install.sh")));
    for (const executable of ["bin/xedge", "install.sh"]) assert.equal(statSync(join(release.dir, executable)).mode & 0o777, 0o755, executable);
    assert.match(readFileSync(xedge(), "utf8"), /^#!\/bin\/sh\n/);
  });

  it("ships the documentation at the repository's paths, each page's links resolving inside the release", () => {
    const files = new Set(filesUnder(release.dir));
    const docs = shippedDocs();
    for (const expected of ["docs/install.md", "docs/operator-guide.md", "docs/servers.md", "drivers/bme280/README.md", "drivers/bme280/sample.yaml", "examples/sim-sensors.yaml"]) {
      assert.ok(docs.includes(expected) && files.has(expected), `${expected} is in the release`);
    }
    for (const doc of docs) assert.deepEqual(readFileSync(join(release.dir, doc)), readFileSync(join(import.meta.dirname, "../..", doc)), doc);
    // Links to source code point at the source repository; a gateway's release carries no sources.
    const sourceCode = (link: { path: string }) => /\.(ts|mjs|py)$/.test(link.path) || link.path.startsWith("test/");
    assert.deepEqual(brokenLinks(release.dir, docs.filter((doc) => doc.endsWith(".md")), sourceCode), []);
  });

  it("ships the built browser console in console/site, ready to serve", () => {
    const site = join(release.dir, "console/site");
    const files = new Set(filesUnder(site));
    assert.deepEqual(readFileSync(join(site, "index.html")), readFileSync(join(import.meta.dirname, "../../console/index.html")));
    const loaded = [...readFileSync(join(site, "index.html"), "utf8").matchAll(/(?:src|href)="([^"]+)"/g)].map(([, file]) => file ?? "");
    assert.deepEqual(loaded.sort(), ["main.css", "main.js"]);
    for (const file of loaded) assert.ok(files.has(file), `console/site/${file}, which the page loads, is in the release`);
    assert.match(readFileSync(join(site, "main.js"), "utf8"), /SCRAM-SHA-1/, "the console as built from this tree");
    assert.deepEqual([...files].filter((file) => file.endsWith(".ts")), [], "no sources");
  });

  it("stores files as root with no other platforms' binaries", async () => {
    const listing = await runCommand("tar", ["-tvzf", release.tarball, "--numeric-owner"]);
    const lines = listing.stdout.trim().split("\n");
    assert.ok(lines.every((line) => line.split(/\s+/)[1] === "0/0"), "owner 0/0 throughout");
    assert.ok(lines.every((line) => line.split(/\s+/).at(-1)?.startsWith(`xedge-${VERSION}-linux-${ARCH}/`)), "one top folder");
    const prebuilds = readdirSync(join(release.dir, "lib/node_modules/@serialport/bindings-cpp/prebuilds"));
    assert.deepEqual(prebuilds, [`linux-${arch()}`]);
  });

  it("has a MANIFEST with version, arch, Node ABIs and the sha256 of every other file", () => {
    const manifest = readManifest(release.dir);
    assert.deepEqual(manifest.fields.get("version"), [VERSION]);
    assert.deepEqual(manifest.fields.get("arch"), [ARCH]);
    const nodes = (manifest.fields.get("node_abi") ?? []).map((line) => line.split(" "));
    assert.deepEqual(
      nodes.map(([abi, version]) => [abi, version?.split(".")[0]]),
      [[DEBIAN_NODE_ABI, "18"], ["115", "20"], ["127", "22"]],
    );
    assert.deepEqual(manifest.fields.get("node_versions"), ["18.19.0 20.0.0 22.0.0"]);
    assert.deepEqual([...manifest.files.keys()].sort(), filesUnder(release.dir).filter((file) => file !== "MANIFEST"));
    for (const [file, sha256] of manifest.files) {
      assert.equal(createHash("sha256").update(readFileSync(join(release.dir, file))).digest("hex"), sha256, file);
    }
  });

  it("carries the nan addons for each Node ABI and loads every addon from its own lib/node_modules", async () => {
    for (const addon of ["epoll/lib/binding/node-v{abi}-linux-{arch}/epoll.node", "i2c-bus/lib/binding/node-v{abi}-linux-{arch}/i2c.node"]) {
      for (const abi of [DEBIAN_NODE_ABI, "115", "127"]) {
        const file = `lib/node_modules/${addon.replace("{abi}", abi).replace("{arch}", arch())}`;
        assert.ok(statSync(join(release.dir, file)).isFile(), file);
      }
    }
    const loaded = await probeAddons([process.execPath], release.dir);
    assert.deepEqual(loaded.map((line) => line.name), ["sqlite3", "epoll", "i2c-bus", "@serialport/bindings-cpp", "koffi"]);
    for (const line of loaded) {
      assert.ok(line.binaries.length > 0 && line.binaries.every((file) => file.startsWith(join(release.dir, "lib/node_modules/"))), `${line.name}: ${line.binaries.join(", ")}`);
    }
    assert.match(loaded[0]?.result ?? "", /^SQLite 3\./);
    assert.equal(loaded.at(-1)?.result, "getpid() through libc is this pid");
  });

  it("bin/xedge check accepts the example config as shipped (with its password file)", async () => {
    const checked = await runCommand(xedge(), ["check", "--offline", "--config", exampleConfig(release)]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  });

  it("bin/xedge check on the example's devices (uncommented) names each missing device instead of failing to load an addon", async () => {
    const withDevices = (text: string) => {
      const [head = "", devices = ""] = text.replace("sensors: []\nactuators: []\n", "").split("#sensors:");
      return `${head}sensors:${devices.replace(/^#/gm, "")}`;
    };
    const checked = await runCommand(xedge(), ["check", "--offline", "--config", exampleConfig(release, withDevices)]);
    assert.equal(checked.code, 1, checked.stdout + checked.stderr);
    const problems = checked.stdout.trim().split("\n").filter((line) => line.startsWith("✗"));
    assert.ok(problems.length >= 8, checked.stdout);
    assert.ok(problems.every((line) => /^✗ sensors\[\d+\] \(\w+\): /.test(line)), checked.stdout);
    assert.doesNotMatch(checked.stdout + checked.stderr, /bindings|NODE_MODULE_VERSION|Cannot find module/);
  });

  it("bin/xedge says what to install when there is no node to run", async () => {
    const run = await runCommand(xedge(), ["check", "--config", exampleConfig(release)], { env: { XEDGE_NODE: join(release.dir, "no-such-node") } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^xedge: cannot run '.*no-such-node': this release runs on Node\.js 18\.19 or later 18\.x, 20 or 22 \(Raspberry Pi OS, Debian: sudo apt update && sudo apt install nodejs\)\n$/,
    );
  });

  for (const runtime of supportedRuntimes()) {
    describe(`on ${runtime.name}`, { skip: runtime.skip }, () => {
      const env = { XEDGE_NODE: runtime.node.join(" ") };

      it(`loads every addon from the release, the nan ones built for its ABI`, async () => {
        const loaded = await probeAddons(runtime.node, release.dir);
        assert.deepEqual(loaded.map((line) => line.name), ["sqlite3", "epoll", "i2c-bus", "@serialport/bindings-cpp", "koffi"]);
        const abi = loaded[0]?.abi ?? "";
        const nan = loaded.filter((line) => line.name === "epoll" || line.name === "i2c-bus").flatMap((line) => line.binaries.map((file) => file.split("/").at(-2)));
        assert.deepEqual(nan, [`node-v${abi}-linux-${arch()}`, `node-v${abi}-linux-${arch()}`]);
        assert.match(loaded[0]?.result ?? "", /^SQLite 3\./);
        assert.equal(loaded.at(-1)?.result, "getpid() through libc is this pid");
      });

      it("bin/xedge --version prints the release's version", async () => {
        const printed = await runCommand(xedge(), ["--version"], { env });
        assert.equal(printed.code, 0, printed.stderr);
        assert.equal(printed.stdout, `${VERSION}\n`);
      });

      describe("with a private Prosody (sim hardware)", () => {
        let server: XmppTestServer;
        let config: string;
        let agent: AgentProcess;
        let observer: Observer;

        before(async () => {
          server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
          config = writeAgentConfig(server).file;
          observer = await Observer.connect(server, "ops", "ops-secret");
        });
        after(async () => {
          await observer?.close();
          if (agent) assert.equal(await agent.stop(), 0, agent.stderr.slice(-10).join("\n"));
          await server?.stop();
        });

        it("bin/xedge check accepts the config", async () => {
          const checked = await runCommand(xedge(), ["check", "--config", config], { env });
          assert.equal(checked.code, 0, checked.stderr);
        });

        it(`bin/xedge run connects and publishes readings, running on ${runtime.name}`, async () => {
          agent = AgentProcess.start(config, env, [xedge()]);
          await agent.waitForMessage("online", 30_000);
          assert.ok(agent.child.pid !== undefined && runtime.runs(agent.child.pid), `the agent runs on ${runtime.name}`);
          const items = await observer.until(() => observer.items(server.pubsubService, "xedge/gw1/boiler"), (found) => found.length >= 2, 20_000, "two published readings");
          assert.ok(items.every((item) => item.payload?.is("fields", "urn:xmpp:iot:sensordata")), "readings as XEP-0323 fields");
        });
      });
    });
  }
});

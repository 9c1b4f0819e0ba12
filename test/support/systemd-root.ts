// Runs systemd-analyze on xedge's unit without a running systemd: `--root` points it at a folder that holds the
// unit, the programs it executes and this machine's own units (sysinit.target and the like, which every
// service depends on), so that `verify` checks exactly what it would on an installed system.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const UNIT_PATH = "/usr/lib/systemd/system/xedge.service";

export interface AnalyzeResult {
  code: number | null;
  /** stdout and stderr together: verify prints its findings on stderr and exits 0 for many of them. */
  output: string;
}

export function systemdAnalyze(args: string[]): Promise<AnalyzeResult> {
  return new Promise((resolve) => {
    execFile("/usr/bin/systemd-analyze", args, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * A root for systemd-analyze: a copy of `tree` (an install made with DESTDIR) or, without one, just `unitFile`
 * at UNIT_PATH and a stand-in /opt/xedge/bin/xedge; plus this machine's units and /usr/bin/kill (ExecReload).
 */
export function analyzeRoot(options: { tree?: string; unitFile?: string }): string {
  const root = mkdtempSync(join(tmpdir(), "xedge-systemd-root-"));
  if (options.tree) cpSync(options.tree, root, { recursive: true, verbatimSymlinks: true });
  cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true, force: false });
  if (options.unitFile) cpSync(options.unitFile, join(root, UNIT_PATH));
  const program = join(root, "opt/xedge/bin/xedge");
  if (!existsSync(program)) {
    mkdirSync(dirname(program), { recursive: true });
    writeFileSync(program, "#!/bin/sh\n", { mode: 0o755 });
  }
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  cpSync("/usr/bin/kill", join(root, "usr/bin/kill"));
  if (!existsSync(join(root, "bin"))) symlinkSync("usr/bin", join(root, "bin"));
  return root;
}

/** `systemd-analyze verify` of the unit inside `root`. */
export function verifyUnit(root: string): Promise<AnalyzeResult> {
  return systemdAnalyze(["verify", `--root=${root}`, "--man=no", UNIT_PATH]);
}

/** The overall exposure level `systemd-analyze security` gives the unit inside `root` (0 best … 10 worst). */
export async function exposureLevel(root: string): Promise<{ level: number; output: string }> {
  const result = await systemdAnalyze(["security", "--offline=true", `--root=${root}`, "--no-pager", UNIT_PATH]);
  const match = /Overall exposure level for xedge\.service: (\d+\.\d+)/.exec(result.output);
  if (!match) throw new Error(`systemd-analyze security gave no exposure level (exit ${result.code}):\n${result.output}`);
  return { level: Number(match[1]), output: result.output };
}

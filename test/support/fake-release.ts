// An unpacked release for fast install tests, laid out as scripts/release.ts lays out its tarball but built from
// the working tree in a moment: the bundle, the bin wrapper, the systemd files, install.sh, the example config, the documentation.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUNDLE } from "./agent.ts";
import { shippedDocs, SUPPORTED_NODE } from "../../scripts/release.ts";

export const REPO = resolve(import.meta.dirname, "../..");

/** Its lib/node_modules points at the repository's (for the native addons): this machine's architecture only. */
export function fakeRelease(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "xedge-release-")), "xedge-0.0.0-linux-x64");
  mkdirSync(join(dir, "lib"), { recursive: true });
  cpSync(BUNDLE, join(dir, "lib/xedge.mjs"));
  symlinkSync(join(REPO, "node_modules"), join(dir, "lib/node_modules"));
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin/xedge"), '#!/bin/sh\nexec node "$(dirname "$(readlink -f "$0")")/../lib/xedge.mjs" "$@"\n', { mode: 0o755 });
  for (const file of ["xedge.service", "xedge.sysusers.conf", "xedge.tmpfiles.conf"]) {
    cpSync(join(REPO, "systemd", file), join(dir, "systemd", file));
  }
  cpSync(join(REPO, "systemd/install.sh"), join(dir, "install.sh"));
  chmodSync(join(dir, "install.sh"), 0o755);
  cpSync(join(REPO, "examples/xedge.example.yaml"), join(dir, "xedge.example.yaml"));
  for (const doc of shippedDocs(REPO)) cpSync(join(REPO, doc), join(dir, doc));
  writeFileSync(join(dir, "MANIFEST"), `version=0.0.0\narch=x64\nnode_versions=${SUPPORTED_NODE.map(({ minimum }) => minimum).join(" ")}\n`);
  return dir;
}

// Process reaping for the private servers: every instance of this process dies with it (exit hook, SIGINT,
// SIGTERM), and the first start removes the instances that dead test processes (SIGKILL, crash) left behind.
// An instance folder is os.tmpdir()/xedge-<kind>-XXXXXX holding owner.pid (the test process) and server.pid.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";

import { cmdlineOf, instanceProcesses, isAlive, trySignal } from "../procs.ts";
import type { ServerKind } from "./common.ts";

/** What the hooks need of an instance: a graceful stop, and a synchronous kill for the "exit" hook. */
export interface Reapable {
  stop(): Promise<void>;
  killSync(): void;
}

const DIR_PREFIX = "xedge-";

const live = new Set<Reapable>();
let hooksInstalled = false;
let reaped: Promise<void> | undefined;

/** A fresh folder for one instance, owned by this process; the first call installs the hooks and reaps. */
export async function instanceDir(kind: ServerKind): Promise<string> {
  installHooks();
  reaped ??= reapStale();
  await reaped;
  const dir = await mkdtemp(join(os.tmpdir(), `${DIR_PREFIX}${kind}-`));
  await writeFile(join(dir, "owner.pid"), `${process.pid}\n`);
  return dir;
}

/** Stopped by the hooks if this process ends while it runs. */
export function track(instance: Reapable): void {
  live.add(instance);
}

/** Stopped for good: the hooks leave it alone. */
export function untrack(instance: Reapable): void {
  live.delete(instance);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Last resort: whatever a test forgot to stop dies with the test process.
  process.on("exit", () => {
    for (const inst of live) inst.killSync();
  });
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    // A program that handles the signal itself (the demo's Ctrl-C) decides how to stop and with which code;
    // the exit hook above still kills whatever it leaves running.
    if (process.listenerCount(sig) > 1) return;
    const code = 128 + (os.constants.signals[sig] ?? 15);
    if (stopping) {
      process.exit(code); // second signal: the exit hook kills synchronously
    }
    stopping = true;
    void Promise.allSettled([...live].map((s) => s.stop())).finally(() => process.exit(code));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** Remove instances left behind by test processes that died (SIGKILL, crash). */
async function reapStale(): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${DIR_PREFIX}prosody-`) && !name.startsWith(`${DIR_PREFIX}ejabberd-`)) continue;
    const dir = join(tmp, name);
    try {
      let owner: number | undefined;
      try {
        owner = Number(readFileSync(join(dir, "owner.pid"), "utf8").trim());
      } catch {
        // No owner file: either being created right now or broken; only old ones are safe to take.
        if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue;
      }
      if (owner !== undefined && (owner === process.pid || isAlive(owner))) continue;
      let serverPid: number | undefined;
      try {
        serverPid = Number(readFileSync(join(dir, "server.pid"), "utf8").trim());
      } catch {
        serverPid = undefined;
      }
      // Only a server whose command line still names this folder is ours: PIDs get reused.
      const roots: number[] = [];
      if (serverPid !== undefined && serverPid > 0) {
        const cmd = cmdlineOf(serverPid) ?? "";
        if (/prosody|beam/.test(cmd) && cmd.includes(`${dir}/`)) roots.push(serverPid);
      }
      for (const p of instanceProcesses(dir, roots)) trySignal(p.pid, "SIGKILL");
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Another process may be reaping the same folder.
    }
  }
}

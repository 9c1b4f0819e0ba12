// Helpers for tests of serial drivers over firmware-sim's pseudo-terminals.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { simSerialPaths } from "./pty.ts";

/** Retries `check` until it stops throwing, or rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (performance.now() >= deadline) throw error;
      await sleep(everyMs);
    }
  }
}

/** Asserts that every socat this process started has exited and no simulated serial path is left. */
export function assertNoSocatLeft(startedPids: Iterable<number>): void {
  assert.equal(simSerialPaths.size, 0, `simulated serial paths left open: ${[...simSerialPaths.keys()].join(", ")}`);
  for (const pid of startedPids) {
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `socat ${pid} is still running`);
  }
  let children = "";
  try {
    children = execFileSync("pgrep", ["-P", String(process.pid), "-l"], { encoding: "utf8" });
  } catch {
    // pgrep exits 1 when it finds nothing.
  }
  assert.doesNotMatch(children, /socat|setpriv/, `child processes left: ${children}`);
}

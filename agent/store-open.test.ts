import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store, type StoreOptions } from "./store.ts";
import { openRetryDelay, openStoreWhenSpace, type StoreOpenWait } from "./store-open.ts";

const OPTIONS: StoreOptions = { commitIntervalMs: 60_000 };

function failing(code: string): Error {
  return Object.assign(new Error(`${code}: database or disk is full`), { code });
}

/** Store.open failing with each of `errors` in turn, then opening the real store. */
function openFailing(errors: Error[]) {
  const attempts: number[] = [];
  const open = (path: string, options: StoreOptions) => {
    attempts.push(performance.now());
    const error = errors.shift();
    return error ? Promise.reject(error) : Store.open(path, options);
  };
  return { open, attempts };
}

describe("opening the store on a full disk", () => {
  it("waits for space: told once with the mount and the fix, retried with the backoff, then opened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xedge-store-open-"));
    try {
      const { open, attempts } = openFailing([failing("SQLITE_FULL"), failing("ENOSPC"), failing("SQLITE_FULL")]);
      const waits: StoreOpenWait[] = [];
      const opened: StoreOpenWait[] = [];
      const delays: number[] = [];
      const store = await openStoreWhenSpace(join(dir, "xedge.db"), OPTIONS, {
        open,
        onWaiting: (wait) => void waits.push(wait),
        onOpened: (wait) => void opened.push(wait),
        retryDelayMs: (attempt) => {
          delays.push(attempt);
          return 10;
        },
      });
      await store.close();
      assert.equal(attempts.length, 4);
      assert.deepEqual(delays, [0, 1, 2], "one delay before each retry, counted from the first");
      assert.equal(waits.length, 1, "told once");
      assert.equal(waits[0]?.cause, "disk-full");
      assert.match(waits[0]?.fix ?? "", /^free space on \S+ \(old logs: journalctl --vacuum-size=50M\); the store opens by itself and the agent starts$/);
      assert.ok(waits[0]?.mount.startsWith("/"), `the mount point: ${waits[0]?.mount}`);
      assert.deepEqual(opened, waits, "told when it opened, with the same wait");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("opens at once without a word when there is space", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xedge-store-open-"));
    try {
      let told = 0;
      const store = await openStoreWhenSpace(join(dir, "xedge.db"), OPTIONS, { onWaiting: () => void told++, onOpened: () => void told++ });
      await store.close();
      assert.equal(told, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails as before on any other error", async () => {
    const { open, attempts } = openFailing([Object.assign(new Error("SQLITE_CANTOPEN: unable to open database file"), { code: "SQLITE_CANTOPEN" })]);
    let told = 0;
    await assert.rejects(openStoreWhenSpace("/nonexistent/xedge.db", OPTIONS, { open, onWaiting: () => void told++ }), /SQLITE_CANTOPEN/);
    assert.equal(attempts.length, 1);
    assert.equal(told, 0);
  });

  it("ends the wait when its signal is aborted", async () => {
    const { open, attempts } = openFailing(Array.from({ length: 100 }, () => failing("SQLITE_FULL")));
    const stop = new AbortController();
    const opening = openStoreWhenSpace("/nonexistent/xedge.db", OPTIONS, { open, signal: stop.signal, onWaiting: () => void setTimeout(() => stop.abort(), 50), retryDelayMs: () => 20 });
    await assert.rejects(opening, { name: "AbortError" });
    assert.ok(attempts.length >= 2 && attempts.length <= 4, `retried until aborted: ${attempts.length} attempts`);
  });

  it("backs off from 1 s, doubling, to every 30 s", () => {
    assert.deepEqual(Array.from({ length: 8 }, (_, attempt) => openRetryDelay(attempt)), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});

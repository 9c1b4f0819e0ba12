// Opening the store on a full disk: the SD card filled up (the journal, logs) and the gateway restarted (a power
// cut). SQLite needs room to open a store (its -shm and WAL; the migrations write), so the open fails with
// SQLITE_FULL or ENOSPC. Exiting would have systemd start the agent every 5 s for as long as the disk stays full,
// with nothing to tell anyone far away why the gateway is offline: instead the open is retried with a backoff,
// and whoever composes the agent is told once, to say why meanwhile. Any other failure to open fails as before.
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Store, type StoreOptions } from "./store.ts";
import { diagnoseWriteFailure, isDiskFull, type WriteFault } from "./write-faults.ts";

/** The first retry comes after this; each next one after twice as long, up to MAX_OPEN_RETRY_MS. */
export const FIRST_OPEN_RETRY_MS = 1_000;
/** Space freed by hand is found within this. */
export const MAX_OPEN_RETRY_MS = 30_000;

/** The store cannot open for want of space: where, why, and since when. */
export interface StoreOpenWait extends WriteFault {
  since: Date;
}

export interface OpenWhenSpaceOptions {
  /** Called once, when the first attempt finds the disk full; the next attempt waits for it. */
  onWaiting: (wait: StoreOpenWait) => void | Promise<void>;
  /** Called when the store opened after waiting (before it is returned). */
  onOpened?: (wait: StoreOpenWait) => void;
  /** Ends the wait: the promise then rejects. */
  signal?: AbortSignal;
  /** The delay before retry number `attempt` (0 first); tests shorten it. */
  retryDelayMs?: (attempt: number) => number;
  /** Tests: stands in for Store.open. */
  open?: (path: string, options: StoreOptions) => Promise<Store>;
}

/** 1 s, 2 s, 4 s … 30 s, then every 30 s. */
export function openRetryDelay(attempt: number): number {
  return Math.min(MAX_OPEN_RETRY_MS, FIRST_OPEN_RETRY_MS * 2 ** Math.min(attempt, 16));
}

/** Opens the store at `path`, waiting for space as long as the disk is full. */
export async function openStoreWhenSpace(path: string, storeOptions: StoreOptions, options: OpenWhenSpaceOptions): Promise<Store> {
  const retryDelayMs = options.retryDelayMs ?? openRetryDelay;
  const open = options.open ?? ((at: string, opening: StoreOptions) => Store.open(at, opening));
  let wait: StoreOpenWait | undefined;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      const store = await open(path, storeOptions);
      if (wait) options.onOpened?.(wait);
      return store;
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      if (!wait) {
        wait = { ...diagnoseWriteFailure(error, dirname(path), "the store opens by itself and the agent starts"), since: new Date() };
        await options.onWaiting(wait);
      }
    }
    await sleep(retryDelayMs(attempt), undefined, options.signal ? { signal: options.signal } : {});
  }
}

// Waiting in tests for something that arrives on its own (a log line, a datagram, a chat answer): each arrival
// wakes the waiters, and a waiter gives up after its timeout with a message that says what was missing.
export class Arrivals {
  private readonly waiters = new Set<() => void>();

  /** Call after each arrival. */
  notify(): void {
    for (const wake of this.waiters) wake();
  }

  /** Resolves with the first defined `probe()`, checked now and after each arrival; rejects after `timeoutMs`. */
  until<T>(probe: () => T | undefined, timeoutMs: number, missing: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found === undefined) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(missing()));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

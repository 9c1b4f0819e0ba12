// How long the console waits before its next attempt to log in again after a lost connection: exponential from
// 1 s to a cap of a minute, with "equal jitter" (half of the delay fixed, half random), as the agent does, so
// that the operators' consoles do not all come back in the same second after a server restart.
export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 60_000;

/** The delay before attempt `attempt` (0 for the first after the loss); `random` in [0, 1). */
export function retryDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + random() * (ceiling / 2);
}

// The gateway's audit trail as a test reads it: straight from the agent's database file, read-only, while the
// agent runs (SQLite allows the concurrent reader).
import { join } from "node:path";
import { Database } from "../../agent/sqlite.ts";

export interface AuditRow {
  requester: string;
  via: string;
  nodes: string;
  params: string;
  result: string;
  detail: string | null;
}

export async function auditRows(dir: string): Promise<AuditRow[]> {
  const db = await Database.open(join(dir, "xedge.db"), { readonly: true });
  try {
    return await db.all<AuditRow>("SELECT requester, via, nodes, params, result, detail FROM audit ORDER BY id");
  } finally {
    await db.close();
  }
}

/** Probes every 100 ms until the predicate holds; the error names what was awaited and the last value seen. */
export async function until<T>(probe: () => Promise<T>, predicate: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 300)}`);
}

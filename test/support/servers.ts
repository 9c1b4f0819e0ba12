// Private, real XMPP servers (Prosody or ejabberd) for integration tests: one per test file,
// everything (config, data, logs, certificates) in a fresh temporary folder. The parts live in servers/:
// common.ts (the contract and options below), instance.ts (one instance's lifecycle), prosody.ts and ejabberd.ts
// (what differs between the two), reaper.ts (nothing outlives the test process, nothing a dead one left survives).
import { Instance } from "./servers/instance.ts";
import { instanceDir, track } from "./servers/reaper.ts";
import type { ServerKind, StartOptions, XmppTestServer } from "./servers/common.ts";

export { serverKinds, type ServerKind, type StartOptions, type StopOptions, type XmppTestServer } from "./servers/common.ts";

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<XmppTestServer> {
  const dir = await instanceDir(kind);
  const inst = new Instance(kind, dir, options);
  track(inst);
  try {
    await inst.init();
    const accounts = inst.accountsInSql ? [] : Object.entries(options.accounts ?? {});
    for (const [user, password] of accounts) {
      // One at a time: each ejabberdctl boots an Erlang VM, in parallel they fight for CPU.
      await inst.register(user, password);
    }
    if (accounts.length > 0) await inst.settle(accounts.map(([user]) => user));
    return inst;
  } catch (err) {
    const tail = await inst.logTail(40);
    await inst.stop().catch(() => undefined);
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${kind} did not start: ${msg}\n--- log tail ---\n${tail}`, { cause: err });
  }
}

// The login figure: CPU time per login of xedge's SCRAM (node:crypto, salted password cached for reconnects)
// against @xmpp/client as it comes (SCRAM-SHA-1 hashed in JavaScript by the sasl-scram-sha-1 package, which is
// also what xedge used before). Both run in one child process (login-child.ts), taking turns.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { XmppTestServer } from "../test/support/servers.ts";
import { figure, median, runWorker, type Figure } from "./figures.ts";
import type { LoginJob, LoginRuns } from "./login-child.ts";
import { GATEWAY } from "./publish.ts";

const LOGIN_CHILD = resolve(import.meta.dirname, "login-child.ts");

export async function loginFigures(server: XmppTestServer, repetitions: number, progress: (line: string) => void): Promise<Figure[]> {
  const work = mkdtempSync(join(tmpdir(), "xedge-bench-login-"));
  try {
    const job: LoginJob = { service: server.service, domain: server.domain, caFile: server.caFile, username: GATEWAY.user, password: GATEWAY.password, repetitions };
    const jobFile = join(work, "job.json");
    writeFileSync(jobFile, JSON.stringify(job));
    const runs = await runWorker<LoginRuns>(LOGIN_CHILD, jobFile, server.caFile, "login worker");
    const cpu = (side: keyof LoginRuns) => runs[side].map((login) => login.cpuMs);
    const wall = (side: keyof LoginRuns) => runs[side].map((login) => login.wallMs);
    progress(
      `login ${server.kind}: CPU ms per login, median of ${repetitions}: xedge first ${median(cpu("xedgeFirst")).toFixed(1)}, reconnect ${median(cpu("xedgeReconnect")).toFixed(1)}, @xmpp/client ${median(cpu("bare")).toFixed(1)}`,
    );
    return [
      figure(`login CPU, first login (${server.kind})`, "ms", { xedge: cpu("xedgeFirst"), baseline: cpu("bare") }, { atMost: 0.5 }),
      figure(`login CPU, reconnect (${server.kind})`, "ms", { xedge: cpu("xedgeReconnect"), baseline: cpu("bare") }, { atMost: 0.5 }),
      figure(`login wall time, first login (${server.kind})`, "ms", { xedge: wall("xedgeFirst"), baseline: wall("bare") }, { atMost: 1 }),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

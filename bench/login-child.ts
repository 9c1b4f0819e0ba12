// The login figure's worker, a child process so that @xmpp/client can trust the test CA via NODE_EXTRA_CA_CERTS
// (it takes no TLS options). Logs in again and again, taking turns: xedge's client with a fresh salted-password
// cache (a first login: PBKDF2 runs), xedge's client reusing the cache (a reconnect), and @xmpp/client as it
// comes (SCRAM-SHA-1 by the sasl-scram-sha-1 package). Each login is timed from start() to online, in CPU time
// of this process (all threads: PBKDF2 runs on libuv's pool) and in wall time.
// Usage: node --import tsx bench/login-child.ts JOB.json; prints a LoginRuns JSON on stdout.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { client } from "@xmpp/client";
import { createClient } from "../agent/xmpp/client.ts";
import { SaltedPasswordCache } from "../agent/xmpp/scram.ts";

export interface LoginJob {
  service: string;
  domain: string;
  caFile: string;
  username: string;
  password: string;
  repetitions: number;
}

export interface LoginCost {
  cpuMs: number;
  wallMs: number;
}

export interface LoginRuns {
  xedgeFirst: LoginCost[];
  xedgeReconnect: LoginCost[];
  bare: LoginCost[];
}

interface Startable {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  on(event: "error", listener: (error: unknown) => void): unknown;
}

async function timedLogin(entity: Startable): Promise<LoginCost> {
  // A failed login rejects start(); what the socket reports after stop() (ejabberd resets it) is no news.
  entity.on("error", () => undefined);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await entity.start();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await entity.stop();
  return { cpuMs: (used.user + used.system) / 1000, wallMs };
}

const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as LoginJob;
const options = { service: job.service, domain: job.domain, username: job.username, password: job.password, resource: "login", caFile: job.caFile };
const reconnectCache = new SaltedPasswordCache();
const runs: LoginRuns = { xedgeFirst: [], xedgeReconnect: [], bare: [] };
const sides: [keyof LoginRuns, () => Startable][] = [
  ["bare", () => client({ service: job.service, domain: job.domain, username: job.username, password: job.password, resource: "login" })],
  ["xedgeFirst", () => createClient(options, new SaltedPasswordCache()).entity],
  ["xedgeReconnect", () => createClient(options, reconnectCache).entity],
];
// Fills the reconnect cache, and lets the JIT and the server's caches warm up for every side alike.
for (const [, make] of sides) await timedLogin(make());
for (let i = 0; i < job.repetitions; i++) {
  const order = i % 2 === 0 ? sides : [...sides].reverse();
  for (const [side, make] of order) runs[side].push(await timedLogin(make()));
}
process.stdout.write(`${JSON.stringify(runs)}\n`);

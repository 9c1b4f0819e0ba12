// Two private XMPP servers on two domains (a.test, b.test) federating over loopback, for tests of operators on
// another server than the gateway's. Each server listens for server-to-server links at its own loopback address;
// each reaches the other through a fault proxy (so a test can cut the link between the servers) and verifies the
// other's certificate against one CA made for the run. Names resolve only inside each server's private mount
// namespace (see FederationMember in servers/common.ts): the machine's /etc/hosts and /etc/resolv.conf stay as
// they are, and no DNS query leaves the machine.
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";

import { DnsResponder } from "./dns-responder.ts";
import { FaultProxy } from "./fault-proxy.ts";
import { freePort } from "./ports.ts";
import { startServer, type ServerKind, type StartOptions, type XmppTestServer } from "./servers.ts";
import { createFederationCa } from "./tls.ts";

export const DOMAIN_A = "a.test";
export const DOMAIN_B = "b.test";
const STANDARD_S2S_PORT = 5269;

export interface Federation {
  /** The server of a.test (the gateway's, in the tests). */
  a: XmppTestServer;
  /** The server of b.test (the remote operators'). */
  b: XmppTestServer;
  /** The s2s port every server listens on: 5269 unless something on this machine holds it on every address. */
  s2sPort: number;
  /** Where each server itself listens for s2s (the proxies in front of them listen elsewhere). */
  s2sAddresses: { a: string; b: string };
  /** What the servers asked the DNS responder (Prosody only asks it), for assertion messages. */
  dnsQueries: readonly string[];
  /** Cuts the links between the servers in both directions: open connections close, new ones are closed at once. */
  cut(): void;
  /** Lets the servers connect to each other again. */
  heal(): void;
  /** Bytes the proxies relayed toward a.test and toward b.test, for assertions that the link was used. */
  relayed(): { toA: number; toB: number };
  stop(): Promise<void>;
}

/** `accounts`, `pubsubAdmins` and such for each server; the federation sets domain, s2s and names. */
export type MemberOptions = Omit<StartOptions, "federation" | "cluster">;

/** A random 127.x.y.0 network per run, so that federations of parallel test processes do not meet. */
function loopbackNetwork(): string {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return `127.${byte()}.${byte()}`;
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** 5269 if free on every address (a listener on 0.0.0.0:5269 takes it on all of them), else another free port. */
async function s2sPortFor(addresses: string[]): Promise<number> {
  for (const candidate of [STANDARD_S2S_PORT, await freePort(), await freePort()]) {
    const free = await Promise.all(addresses.map((address) => canListen(address, candidate)));
    if (free.every(Boolean)) return candidate;
  }
  throw new Error(`no port free for s2s on every address of ${addresses.join(", ")}`);
}

export async function startFederation(kinds: [a: ServerKind, b: ServerKind], options: { a?: MemberOptions; b?: MemberOptions } = {}): Promise<Federation> {
  const net24 = loopbackNetwork();
  const at = { a: `${net24}.2`, b: `${net24}.3`, toA: `${net24}.4`, toB: `${net24}.5`, dns: `${net24}.53` };
  const s2sPort = await s2sPortFor([at.a, at.b, at.toA, at.toB]);
  // Every name of a domain leads to the proxy in front of its server.
  const hosts = { [DOMAIN_A]: at.toA, [`pubsub.${DOMAIN_A}`]: at.toA, [DOMAIN_B]: at.toB, [`pubsub.${DOMAIN_B}`]: at.toB };
  const caDir = await mkdtemp(join(os.tmpdir(), "xedge-federation-"));
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
    started.length = 0;
    await rm(caDir, { recursive: true, force: true });
  };
  try {
    const ca = await createFederationCa(caDir);
    const dns = await DnsResponder.start(at.dns, hosts, s2sPort);
    started.push({ stop: () => dns.close() });
    const toA = await FaultProxy.start({ host: at.a, port: s2sPort }, { host: at.toA, port: s2sPort });
    started.push({ stop: () => toA.close() });
    const toB = await FaultProxy.start({ host: at.b, port: s2sPort }, { host: at.toB, port: s2sPort });
    started.push({ stop: () => toB.close() });
    const member = (domain: string, s2sAddress: string) => ({ domain, s2sAddress, s2sPort, ca, hosts, nameserver: at.dns });
    // One after the other: each ejabberd boots Erlang VMs, and in parallel they fight for the CPU.
    const a = await startServer(kinds[0], { ...options.a, federation: member(DOMAIN_A, at.a) });
    started.push(a);
    const b = await startServer(kinds[1], { ...options.b, federation: member(DOMAIN_B, at.b) });
    started.push(b);
    return {
      a,
      b,
      s2sPort,
      s2sAddresses: { a: at.a, b: at.b },
      dnsQueries: dns.asked,
      cut: () => {
        toA.drop();
        toB.drop();
      },
      heal: () => {
        toA.heal();
        toB.heal();
      },
      relayed: () => ({ toA: toA.stats.delivered.up, toB: toB.stats.delivered.up }),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

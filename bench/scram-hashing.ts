// SCRAM-SHA-1's hashing alone, without a server: the client-final message of RFC 5802 §5's exchange computed by
// xedge's Scram (node:crypto's PBKDF2) and by the sasl-scram-sha-1 package that xedge used before (and that
// @xmpp/client still uses: one WebCrypto HMAC per round), at the iteration counts servers use. CPU ms of this
// process per computation, median of the repetitions.
// x64:            node --import tsx bench/scram-hashing.ts
// emulated arm64: bundle it (npx esbuild bench/scram-hashing.ts --bundle --platform=node --format=esm
//                 --outfile=/tmp/scram-hashing.mjs), then run that file with an arm64 node under qemu-aarch64-static.
import { performance } from "node:perf_hooks";
import PreviousMechanism from "sasl-scram-sha-1";
import { Scram } from "../agent/xmpp/scram.ts";
import { median } from "./figures.ts";

const CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawL";
const serverFirst = (iterations: number) => `r=${CLIENT_NONCE}3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=${iterations}`;
const REPETITIONS = Number(process.env["XEDGE_SCRAM_REPETITIONS"] ?? 5);

async function cpuMs(work: () => Promise<unknown>): Promise<{ cpu: number; wall: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / 1000, wall: performance.now() - started };
}

async function ours(iterations: number): Promise<string> {
  const scram = new Scram({ hash: "sha1", username: "user", password: "pencil", clientNonce: CLIENT_NONCE });
  scram.clientFirst();
  return scram.clientFinal(serverFirst(iterations));
}

async function previous(iterations: number): Promise<string> {
  const mechanism = new PreviousMechanism({ genNonce: () => CLIENT_NONCE });
  const credentials = { username: "user", password: "pencil" };
  await mechanism.response(credentials);
  mechanism.challenge(serverFirst(iterations));
  return mechanism.response(credentials);
}

// Both must compute RFC 5802's answer, or the comparison means nothing.
const expected = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
for (const [name, compute] of [["xedge", ours], ["previous", previous]] as const) {
  const answer = await compute(4096);
  if (answer !== expected) throw new Error(`${name} computed ${answer}, expected ${expected}`);
}

console.log(`SCRAM-SHA-1 client proof, ${process.arch}, Node ${process.version}, median of ${REPETITIONS}`);
for (const iterations of [4096, 10_000]) {
  const runs = { xedge: [] as { cpu: number; wall: number }[], previous: [] as { cpu: number; wall: number }[] };
  for (let i = 0; i < REPETITIONS; i++) {
    runs.xedge.push(await cpuMs(() => ours(iterations)));
    runs.previous.push(await cpuMs(() => previous(iterations)));
  }
  const cpu = (side: keyof typeof runs) => median(runs[side].map((run) => run.cpu));
  const wall = (side: keyof typeof runs) => median(runs[side].map((run) => run.wall));
  console.log(
    `i=${iterations}: xedge ${cpu("xedge").toFixed(1)} ms CPU (${wall("xedge").toFixed(1)} ms wall), previous ${cpu("previous").toFixed(1)} ms CPU (${wall("previous").toFixed(1)} ms wall): ${(cpu("previous") / cpu("xedge")).toFixed(0)}× less CPU`,
  );
}

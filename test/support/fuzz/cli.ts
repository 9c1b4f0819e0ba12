// `npm run fuzz -- --stanzas N --seed S [--server prosody|ejabberd] [--window W] [--first I]`: a longer fuzz run than CI's,
// printing throughput, answers by condition, agent memory and every failure with its seed and index.
import { parseArgs } from "node:util";
import { serverKinds, type ServerKind } from "../servers.ts";
import { runFuzz, startTarget, summarize } from "./run.ts";

function usage(problem: string): never {
  console.error(`${problem}\nusage: npm run fuzz -- --stanzas N --seed S [--server prosody|ejabberd] [--window W] [--first I]`);
  process.exit(2);
}

function integer(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) usage(`--${name}: expected an integer of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

let parsed;
try {
  parsed = parseArgs({
    options: { stanzas: { type: "string" }, seed: { type: "string" }, server: { type: "string" }, window: { type: "string" }, first: { type: "string" } },
    strict: true,
  }).values;
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const kind = (parsed.server ?? "prosody") as ServerKind;
if (!serverKinds.includes(kind)) usage(`--server: expected ${serverKinds.join(" or ")}, got ${JSON.stringify(parsed.server)}`);
const stanzas = integer("stanzas", parsed.stanzas, 10_000);
const seed = integer("seed", parsed.seed, Date.now() % 1_000_000);
const window = integer("window", parsed.window, 16);
const first = integer("first", parsed.first, 0, 0);

console.log(`fuzzing the agent on ${kind}: ${stanzas} stanzas, seed ${seed} (reproduce with --seed ${seed})`);
const target = await startTarget(kind);
let failed = true;
try {
  const report = await runFuzz(target, { seed, stanzas, window, first, progress: (line) => console.log(line) });
  console.log(summarize(report));
  const alive = target.agent.child.exitCode === null;
  console.log(`agent ${alive ? "still running" : `exited with ${target.agent.child.exitCode}`}`);
  failed = !alive || report.failures.length > 0 || report.agentErrors.length > 0 || report.agentLinkLosses > 0;
  for (const line of report.agentErrors.slice(0, 10)) console.log(`agent: ${line}`);
} finally {
  await target.stop();
}
process.exit(failed ? 1 : 0);

// What the fuzzer sends and what it expects back. Every case starts from a valid stanza of one face and breaks it
// in one way (or not at all, or at the iq level), and knows, from the face's documented rules, which answers are
// right for that sender. docs/fuzzing.md lists the mutation classes and their expected conditions. Each face's
// cases are in cases/<face>.ts; this file draws a face, a sender and, for one iq in five, an iq-level mutation.
import { Random } from "./random.ts";
import { adhocFace } from "./cases/adhoc.ts";
import { chatFace } from "./cases/chat.ts";
import type { Context, Face, FuzzCase, Sender } from "./cases/common.ts";
import { controlMessageFace, controlSetFace, getFormFace } from "./cases/control.ts";
import { discoInfoFace, discoItemsFace, pingFace, versionFace } from "./cases/disco-version-ping.ts";
import { iqLevel } from "./cases/iq-level.ts";
import { nfGetFormFace, nfSetFace } from "./cases/nf-control.ts";
import { nfCancelFace, nfReadoutFace } from "./cases/nf-sensordata.ts";
import { cancelFace, readoutFace } from "./cases/sensordata.ts";

export { NS, SENDERS, type FuzzCase, type Outcome, type Probe, type Sender } from "./cases/common.ts";
export { MAX_STANZA_BYTES, serialize } from "./cases/hostile.ts";

/** The order is part of every seed's meaning: a face is drawn by its place and weight in this list. */
const FACES: readonly Face[] = [
  readoutFace,
  cancelFace,
  controlSetFace,
  controlMessageFace,
  getFormFace,
  adhocFace,
  discoInfoFace,
  discoItemsFace,
  versionFace,
  pingFace,
  chatFace,
  nfReadoutFace,
  nfCancelFace,
  nfSetFace,
  nfGetFormFace,
];

/** Deepest nesting sent by default: Prosody passes it on; ejabberd closes a stream past about 3,000 levels. */
export const MAX_DEPTH = 6_000;

/** Case `index` of the run with `seed`: the same stanzas every time (apart from ids echoed from replies). */
export function generateCase(seed: number, index: number, agent: string, maxDepth = MAX_DEPTH): FuzzCase {
  const r = Random.forCase(seed, index);
  const context: Context = { index, agent, prefix: `fz${index}`, counter: 0, maxDepth };
  const face = r.weighted(FACES.map((candidate) => [candidate, candidate.weight] as const));
  const sender = r.weighted<Sender>([
    ["stranger", 3],
    ["reader", 3],
    ["controller", 4],
  ]);
  const built = face.build(r, sender, context);
  const [first] = built.probes;
  if (face.iqType && first && built.probes.length === 1 && r.chance(0.2)) {
    const broken = iqLevel(r, first, face.iqType, context);
    if (broken) return { index, sender, face: face.name, mutation: broken.mutation, probes: [broken.probe] };
  }
  return { index, sender, face: face.name, mutation: built.mutation, probes: built.probes };
}

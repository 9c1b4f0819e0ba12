// Stanza fuzzing (docs/fuzzing.md): ten thousand hostile stanzas, made by mutating valid ones of every face, sent
// through a real Prosody (and fewer through ejabberd) by a stranger and by read and control operators to the real
// agent bundle. Every iq gets exactly one answer of the right kind, the agent stays up, keeps publishing and
// reading, and its memory stays bounded. A failure names its seed and case index: `npm run fuzz -- --seed S`.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { xml } from "../../agent/xmpp/client.ts";
import { Observer } from "../support/observer.ts";
import type { ServerKind } from "../support/servers.ts";
import { AGENT_JID, ILL_FORMED, latestPublished, rssMedian, runFuzz, sendIllFormed, startTarget, summarize, type FuzzTarget } from "../support/fuzz/run.ts";

const SEED = Number(process.env["XEDGE_FUZZ_SEED"] ?? "20261121");
// ejabberd passes five times as many stanzas per second as Prosody: twice the stanzas keep its run long enough
// for the agent's memory to settle in the first quarter, before the halves are compared.
const PASSES: { kind: ServerKind; stanzas: number }[] = [
  { kind: "prosody", stanzas: 10_000 },
  { kind: "ejabberd", stanzas: 20_000 },
];
/** Generous: the agent idles at about 80 MB here; a leak per stanza would pass this long before the end. */
const RSS_LIMIT_KB = 256 * 1024;
/** RSS growth allowed between the second and the last quarter: V8 sizes its heap lazily, in steps. */
const RSS_SETTLING = 1.1;
/** Heap growth (after a forced GC) allowed over the second half: a leak of 200 bytes per stanza would exceed it. */
const HEAP_GROWTH_LIMIT = 1_000_000;

for (const { kind, stanzas } of PASSES) {
  describe(`stanza fuzzing on ${kind}`, () => {
    let target: FuzzTarget;
    let observer: Observer;

    before(async () => {
      target = await startTarget(kind);
      observer = await Observer.connect(target.server, "ops", "ops-secret");
    });
    after(async () => {
      await observer?.close();
      await target?.stop();
    });

    it(`answers ${stanzas} fuzzed stanzas (seed ${SEED}) each as its face documents, and stays up, publishing and bounded`, async (t) => {
      const report = await runFuzz(target, { seed: SEED, stanzas });
      const summary = summarize(report);
      t.diagnostic(summary);
      assert.deepEqual(report.failures, [], summary);
      assert.ok(report.stanzas >= stanzas);
      assert.deepEqual(report.agentErrors, [], "the agent logged no error and printed no crash");
      assert.equal(report.agentLinkLosses, 0, "the agent's own link held: every answer came from the agent, not a server bouncing for it");
      assert.equal(target.agent.child.exitCode, null, "the agent is still running");

      const rss = report.rss.map((sample) => sample.kb);
      assert.ok(rss.length >= 8, `enough memory samples (${rss.length})`);
      assert.ok(Math.max(...rss) < RSS_LIMIT_KB, `agent RSS peaked at ${Math.max(...rss)} kB`);
      // The sharp test: what the heap holds after a full collection does not grow from half-way to the end.
      const heapGrowth = report.heap.end - report.heap.middle;
      assert.ok(heapGrowth < HEAP_GROWTH_LIMIT, `agent heap after GC grew by ${heapGrowth} bytes over the second half`);
      const settled = rssMedian(report.rss, 0.25, 0.5);
      const last = rssMedian(report.rss, 0.75, 1);
      assert.ok(last <= settled * RSS_SETTLING, `agent RSS grew over the second half: ${settled} kB → ${last} kB`);

      // Still publishing: a reading newer than any before the check reaches the pubsub node.
      const published = await latestPublished(observer, target.server);
      await observer.until(() => latestPublished(observer, target.server), (latest) => latest > published, 15_000, "a reading published after the run");

      // Still reading: a valid readout is accepted and its data arrives, then its end.
      const seqnr = "4242424";
      const nodes: string[] = [];
      const done = new Promise<void>((resolve) => {
        const stop = observer.onMessage((message) => {
          const fields = message.getChild("fields", "urn:xmpp:iot:sensordata");
          if (fields?.attrs.seqnr !== seqnr) return;
          nodes.push(...fields.getChildren("node").map((node) => String(node.attrs.nodeId)));
          if (fields.attrs.done === "true") {
            stop();
            resolve();
          }
        });
      });
      const accepted = await observer.iq("get", AGENT_JID, xml("req", { xmlns: "urn:xmpp:iot:sensordata", seqnr, momentary: "true" }, xml("node", { nodeId: "boiler" })));
      assert.equal(accepted.getChild("accepted", "urn:xmpp:iot:sensordata")?.attrs.seqnr, seqnr);
      await done;
      assert.deepEqual(nodes, ["boiler"]);
    });

    it("leaves ill-formed XML to the server: it closes each sender's stream, and the agent answers on", async () => {
      const lossesBefore = target.agent.logs.filter((line) => line.message === "link lost").length;
      const endings = await sendIllFormed(target.server);
      const seen = JSON.stringify(Object.fromEntries(endings));
      for (const sample of ILL_FORMED) {
        if (sample.tolerated?.includes(kind)) assert.equal(endings.get(sample.name), undefined, `${kind} tolerates "${sample.name}": ${seen}`);
        else assert.ok(endings.get(sample.name), `${kind} kept the stream open after "${sample.name}": ${seen}`);
      }
      const pong = await observer.iq("get", AGENT_JID, xml("ping", { xmlns: "urn:xmpp:ping" }));
      assert.equal(pong.attrs.type, "result");
      assert.equal(target.agent.logs.filter((line) => line.message === "link lost").length, lossesBefore, "the agent's link held");
      assert.equal(target.agent.child.exitCode, null);
    });
  });
}

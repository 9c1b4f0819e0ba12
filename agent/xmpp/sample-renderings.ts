// A sensor's current sample rendered once and reused: a momentary readout comes every few milliseconds when an
// operator polls, a new sample once a second, and building the answer's elements was a third of the agent's own
// work per readout (docs/benchmark-results.md, readout latency).
//
// A rendering is appended under each answer in turn, so its `parent` names the latest answer it went out in.
// That is safe because serialisation never reads `parent`, a rendering is never changed once built, and it is
// kept per namespace it goes out in, so a namespace looked up from it (findNS) is the same whichever
// answer it was last appended to.
//
// Both sensor-data dialects pack an answer the same way (packedNodes): a group's fields in slices that fill each
// message, a slice reused only when it is the group's sample whole.
import type { Element } from "./client.ts";
import type { Field, Sample } from "../../lib/model.ts";
import type { ReadoutGroup } from "../readout.ts";

export class SampleRenderings {
  /** Keyed by the sample object: a new sample is a new object, and an old one takes its renderings with it. */
  private readonly bySample = new WeakMap<Sample, Map<string, Element>>();

  /**
   * The element for `fields` of `group` in namespace `ns`: when they are the group's current sample whole, its
   * rendering for that namespace and the group's clock, built by `build` the first time; otherwise built afresh (a
   * sample split over several messages, or stored readings, which carry no sample).
   */
  of(group: Pick<ReadoutGroup, "sample" | "fields" | "clock">, fields: readonly Field[], ns: string, build: () => Element): Element {
    const sample = group.sample;
    if (!sample || fields.length !== group.fields.length) return build();
    let renderings = this.bySample.get(sample);
    if (!renderings) {
      renderings = new Map();
      this.bySample.set(sample, renderings);
    }
    const key = `${ns} ${group.clock ?? "trusted"}`;
    let rendering = renderings.get(key);
    if (!rendering) {
      rendering = build();
      renderings.set(key, rendering);
    }
    return rendering;
  }
}

/** How a face packs an answer. */
export interface AnswerOptions {
  /** Most fields in one message. */
  fieldsPerMessage?: number;
  /** Where a current sample's rendering is kept between readouts; without it every answer is built afresh. */
  renderings?: SampleRenderings;
}

/**
 * The groups' fields rendered in batches of at most `fieldsPerMessage` fields, in order; the last batch may hold
 * fewer. `render` builds one group's slice; with `renderings`, a slice that is the group's current sample whole is
 * built once per sample for namespace `ns`.
 */
export function packedNodes(
  groups: readonly ReadoutGroup[],
  ns: string,
  fieldsPerMessage: number,
  renderings: SampleRenderings | undefined,
  render: (group: ReadoutGroup, fields: Field[]) => Element,
): Element[][] {
  const batches: Element[][] = [];
  let batch: Element[] = [];
  let room = fieldsPerMessage;
  for (const group of groups) {
    for (let offset = 0; offset < group.fields.length; ) {
      const fields = group.fields.slice(offset, offset + room);
      const build = () => render(group, fields);
      batch.push(renderings ? renderings.of(group, fields, ns, build) : build());
      offset += fields.length;
      room -= fields.length;
      if (room === 0) {
        batches.push(batch);
        batch = [];
        room = fieldsPerMessage;
      }
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

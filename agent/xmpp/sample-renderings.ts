// A sensor's current sample rendered once and reused: a momentary readout comes every few milliseconds when an
// operator polls, a new sample once a second, and building the answer's elements was a third of the agent's own
// work per readout (docs/benchmark-results.md, readout latency).
//
// A rendering is appended under each answer in turn, so its `parent` names the latest answer it went out in.
// That is safe because serialisation never reads `parent`, a rendering is never changed once built, and the
// variant names the namespace it goes out in, so a namespace looked up from it (findNS) is the same whichever
// answer it was last appended to.
import type { Element } from "./client.ts";
import type { Sample } from "../../lib/model.ts";

export class SampleRenderings {
  /** Keyed by the sample object: a new sample is a new object, and an old one takes its renderings with it. */
  private readonly bySample = new WeakMap<Sample, Map<string, Element>>();

  /** The rendering of `sample` in `variant` (what else shapes it: namespace, clock), built by `build` the first time. */
  of(sample: Sample, variant: string, build: () => Element): Element {
    let renderings = this.bySample.get(sample);
    if (!renderings) {
      renderings = new Map();
      this.bySample.set(sample, renderings);
    }
    let rendering = renderings.get(variant);
    if (!rendering) {
      rendering = build();
      renderings.set(variant, rendering);
    }
    return rendering;
  }
}

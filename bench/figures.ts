// A benchmark figure: xedge against a baseline measured in the same run, as a ratio beside its target.

export interface Figure {
  name: string;
  xedge: number;
  baseline: number;
  unit: string;
  /** xedge / baseline. */
  ratio: number;
  /** The ratio the figure should reach, e.g. ">= 0.5" (throughput) or "<= 1.5" (time), or xedge's own bound ("xedge <= 45 MB"). */
  target: string;
  meetsTarget: boolean;
  /** Every repetition, in the order they ran; xedge and baseline are the medians. */
  runs: { xedge: number[]; baseline: number[] };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

export function figure(
  name: string,
  unit: string,
  runs: { xedge: number[]; baseline: number[] },
  target: { atLeast: number } | { atMost: number } | { xedgeAtMost: number },
): Figure {
  const xedge = median(runs.xedge);
  const baseline = median(runs.baseline);
  const ratio = xedge / baseline;
  const [text, meetsTarget] =
    "atLeast" in target
      ? [`>= ${target.atLeast}`, ratio >= target.atLeast]
      : "atMost" in target
        ? [`<= ${target.atMost}`, ratio <= target.atMost]
        : [`xedge <= ${target.xedgeAtMost} ${unit}`, xedge <= target.xedgeAtMost];
  return { name, xedge, baseline, unit, ratio, target: text, meetsTarget, runs };
}

/** Items per second from a count and milliseconds. */
export function perSecond(count: number, ms: number): number {
  return (count * 1000) / ms;
}

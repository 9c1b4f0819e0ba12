// A benchmark figure: xedge against a baseline measured in the same run, as a ratio beside its target.
import { spawn } from "node:child_process";
import { once } from "node:events";
import os from "node:os";

export interface Figure {
  name: string;
  xedge: number;
  baseline: number;
  unit: string;
  /** xedge / baseline. */
  ratio: number;
  /**
   * The ratio the figure should reach, e.g. ">= 0.5" (throughput) or "<= 1.5" (time), xedge's own bound
   * ("xedge <= 6 MB"), or "information" for a comparison with no target.
   */
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
  target: { atLeast: number } | { atMost: number } | { xedgeAtMost: number } | "information",
): Figure {
  if (target === "information") {
    const [xedge, baseline] = [median(runs.xedge), median(runs.baseline)];
    return { name, xedge, baseline, unit, ratio: xedge / baseline, target: "information", meetsTarget: true, runs };
  }
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

/** The machine a run was measured on, saved with its figures. */
export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/**
 * Runs a baseline in its own Node process (`script JOBFILE`, TypeScript through tsx, trusting the test server's CA
 * the way @xmpp/client can: NODE_EXTRA_CA_CERTS) and resolves with the JSON it prints.
 */
export async function runWorker<Result>(script: string, jobFile: string, caFile: string, what: string): Promise<Result> {
  const child = spawn(process.execPath, ["--import", "tsx", script, jobFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`${what} exited with ${code}: ${stderr.trim()}`);
  return JSON.parse(stdout) as Result;
}

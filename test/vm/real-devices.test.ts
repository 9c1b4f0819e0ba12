// The real backends (drivers/real/) and the drivers over them against Linux's own simulated devices, in one
// boot of the test VM (test/support/vm.ts): the tests in test/vm/inside/*.vm.ts run inside it with
// `hardware: real`, and each comes back here as a subtest with its own result.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { bootVm, VM_OUT_ENV } from "../support/vm.ts";
import type { InsideTestResult } from "./inside/json-reporter.ts";

const RESULTS = "results.jsonl";

interface ResultNode {
  result: InsideTestResult;
  children: ResultNode[];
}

/** Rebuilds the tree from node's post-order (a test's line follows its subtests' lines). */
function resultTree(results: InsideTestResult[]): ResultNode[] {
  const pending: ResultNode[] = [];
  for (const result of results) {
    const children: ResultNode[] = [];
    while (pending.length > 0 && (pending.at(-1)?.result.nesting ?? 0) > result.nesting) children.unshift(pending.pop() as ResultNode);
    pending.push({ result, children });
  }
  return pending;
}

async function report(t: TestContext, node: ResultNode): Promise<void> {
  await t.test(node.result.name, { skip: node.result.skipped }, async (sub) => {
    for (const child of node.children) await report(sub, child);
    if (!node.result.ok && node.children.every((child) => child.result.ok)) assert.fail(node.result.error ?? "failed inside the VM");
  });
}

test("real backends and drivers against the kernel in a VM", { timeout: 600_000 }, async (t) => {
  const vm = await bootVm({
    command: `node --import tsx --test-reporter=./test/vm/inside/json-reporter.ts --test-reporter-destination="$${VM_OUT_ENV}/${RESULTS}" --test-reporter=spec --test-reporter-destination=stdout test/vm/inside/run.ts`,
    timeoutMs: 540_000,
  });
  t.diagnostic(`VM run: ${vm.seconds.toFixed(1)} s`);
  const lines = (vm.outputFiles[RESULTS] ?? "").split("\n").filter((line) => line !== "");
  assert.ok(lines.length > 0, `no results came back from the VM (exit code ${vm.exitCode}):\n${vm.console}`);
  const results = lines.map((line) => JSON.parse(line) as InsideTestResult);
  for (const node of resultTree(results)) await report(t, node);
  // A failed test already failed its subtest above; an exit code alone means the run itself broke.
  if (results.every((result) => result.ok)) assert.equal(vm.exitCode, 0, `the tests inside the VM exited with ${vm.exitCode}:\n${vm.console}`);
});

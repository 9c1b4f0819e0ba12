// The real backends (drivers/real/) and the drivers over them against Linux's own simulated devices, in one
// boot of the test VM (test/support/vm.ts): the tests in test/vm/inside/*.vm.ts run inside it with
// `hardware: real`, and each comes back here as a subtest with its own result.
// The inside tests are bundled here with esbuild first: under TCG, tsx would spend 10-20 s compiling in the
// guest. Packages stay external and resolve from node_modules, because the bundle is written under it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bootVm, VM_OUT_ENV } from "../support/vm.ts";
import type { InsideTestResult } from "./inside/json-reporter.ts";

const RESULTS = "results.jsonl";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const insideDir = join(repoRoot, "test/vm/inside");

/** Bundles every inside test into one module and the reporter into another, in a fresh folder under node_modules. */
async function bundleInsideTests(): Promise<{ folder: string; tests: string; reporter: string }> {
  const cacheRoot = join(repoRoot, "node_modules/.cache/xedge-vm");
  mkdirSync(cacheRoot, { recursive: true });
  const folder = mkdtempSync(join(cacheRoot, "inside-"));
  const files = readdirSync(insideDir).filter((name) => name.endsWith(".vm.ts")).sort();
  const common = { bundle: true, platform: "node", format: "esm", target: "node18", packages: "external", sourcemap: "inline", logLevel: "warning" } as const;
  await build({
    ...common,
    stdin: { contents: files.map((name) => `import "./${name}";`).join("\n"), resolveDir: insideDir, sourcefile: "inside-tests.ts", loader: "ts" },
    outfile: join(folder, "tests.mjs"),
  });
  await build({ ...common, entryPoints: [join(insideDir, "json-reporter.ts")], outfile: join(folder, "reporter.mjs") });
  return { folder, tests: join(folder, "tests.mjs"), reporter: join(folder, "reporter.mjs") };
}

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
  const bundle = await bundleInsideTests();
  t.after(() => rmSync(bundle.folder, { recursive: true, force: true }));
  const vm = await bootVm({
    command:
      `node --enable-source-maps --test-reporter=${bundle.reporter} --test-reporter-destination="$${VM_OUT_ENV}/${RESULTS}" ` +
      `--test-reporter=spec --test-reporter-destination=stdout ${bundle.tests}`,
    timeoutMs: 540_000,
  });
  const devicesUp = /vm: devices up in ([\d.]+) s/.exec(vm.console)?.[1] ?? "?";
  t.diagnostic(`VM run: ${vm.seconds.toFixed(1)} s (devices up ${devicesUp} s after the kernel started)`);
  const lines = (vm.outputFiles[RESULTS] ?? "").split("\n").filter((line) => line !== "");
  assert.ok(lines.length > 0, `no results came back from the VM (exit code ${vm.exitCode}):\n${vm.console}`);
  const results = lines.map((line) => JSON.parse(line) as InsideTestResult);
  const tree = resultTree(results);
  t.diagnostic(`inside: ${tree.map((node) => `${node.result.name} ${(node.result.durationMs / 1000).toFixed(1)} s`).join("; ")}`);
  for (const node of tree) await report(t, node);
  // A failed test already failed its subtest above; an exit code alone means the run itself broke.
  if (results.every((result) => result.ok)) assert.equal(vm.exitCode, 0, `the tests inside the VM exited with ${vm.exitCode}:\n${vm.console}`);
});

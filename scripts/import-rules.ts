// The layering of the repository, checked over its import graph (test/import-rules.test.ts runs it in CI;
// `node --import tsx scripts/import-rules.ts` prints the wrong arrows). Imports are read with TypeScript's own
// pre-processor, so `import type`, re-exports and dynamic `import()` count as arrows too.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import ts from "typescript";

/**
 * Where a file lives in the house. The first entry whose pattern matches a repository path wins; a folder itself
 * (an import of "../lib") belongs to its layer too, so such an arrow is checked like any other.
 */
const LAYERS = [
  { layer: "lib", pattern: /^lib(\/|$)/ },
  { layer: "drivers/real", pattern: /^drivers\/real(\/|$)/ },
  { layer: "drivers", pattern: /^drivers(\/|$)/ },
  { layer: "firmware-sim", pattern: /^firmware-sim(\/|$)/ },
  { layer: "agent/xmpp", pattern: /^agent\/xmpp(\/|$)/ },
  { layer: "composition root", pattern: /^agent\/(main|cli|entry)\.ts$/ },
  { layer: "hardware table", pattern: /^agent\/hardware[^/]*\.ts$/ },
  { layer: "agent core", pattern: /^agent(\/|$)/ },
  { layer: "console", pattern: /^console(\/|$)/ },
  { layer: "test", pattern: /^test(\/|$)/ },
  { layer: "bench", pattern: /^bench(\/|$)/ },
  { layer: "scripts", pattern: /^scripts(\/|$)/ },
] as const;

export type Layer = (typeof LAYERS)[number]["layer"];
type ProductLayer = Exclude<Layer, "test" | "bench" | "scripts">;

const PRODUCT: readonly ProductLayer[] = ["lib", "drivers", "drivers/real", "firmware-sim", "agent core", "hardware table", "composition root", "agent/xmpp", "console"];

/**
 * Which layers each layer of the product may import (itself included only where listed). test/, bench/ and
 * scripts/ may import anything; nothing in the product imports them. Unit tests (*.test.ts) inside the product
 * folders may import any product layer, but not test/, bench/ or scripts/.
 */
export const RULES: Record<ProductLayer, { mayImport: readonly ProductLayer[]; why: string }> = {
  "lib":              { mayImport: ["lib"],
                        why: "the bottom floor imports nothing of the project" },
  "drivers":          { mayImport: ["lib", "drivers", "drivers/real"],
                        why: "drivers know the HAL and lib/, never the agent" },
  "drivers/real":     { mayImport: ["lib", "drivers", "drivers/real"],
                        why: "the real backends implement the HAL over the kernel's devices" },
  "firmware-sim":     { mayImport: ["lib", "drivers", "drivers/real", "firmware-sim"],
                        why: "the simulator stands behind the HAL and owns its settings; it never imports the agent" },
  "agent core":       { mayImport: ["lib", "drivers", "agent core", "hardware table"],
                        why: "the core knows no protocol and no hardware backend; only the hardware table names the backends" },
  "hardware table":   { mayImport: ["lib", "drivers", "drivers/real", "firmware-sim", "agent core", "hardware table"],
                        why: "the one place in the agent that names the hardware backends (sim, real)" },
  "composition root": { mayImport: PRODUCT,
                        why: "main, cli and entry wire the layers together" },
  "agent/xmpp":       { mayImport: ["lib", "agent core", "agent/xmpp"],
                        why: "a face translates stanzas to core calls and back" },
  "console":          { mayImport: ["console"],
                        why: "the browser console talks to agents only over XMPP and shares no code with them" },
};

export function layerOf(path: string): Layer | undefined {
  return LAYERS.find(({ pattern }) => pattern.test(path))?.layer;
}

function isProduct(layer: Layer | undefined): layer is ProductLayer {
  return PRODUCT.some((product) => product === layer);
}

/** One relative import: `from` and `to` are paths from the repository root, `specifier` as written. */
export interface ImportEdge {
  from: string;
  specifier: string;
  to: string;
}

/** The relative imports of each source, given as repository path → text. Package imports are not arrows. */
export function importsOf(sources: Iterable<[path: string, text: string]>): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const [from, text] of sources) {
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith(".")) continue;
      edges.push({ from, specifier, to: posix.normalize(posix.join(posix.dirname(from), specifier)) });
    }
  }
  return edges;
}

/** One line per wrong arrow, naming the file, the import and the rule it breaks; empty when all is well. */
export function wrongArrows(edges: readonly ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    const arrow = `${edge.from} imports "${edge.specifier}"`;
    if (edge.to.startsWith("../")) {
      problems.push(`${arrow}, outside the repository: a clone must stand alone`);
      continue;
    }
    const from = layerOf(edge.from);
    if (!isProduct(from)) continue;
    const to = layerOf(edge.to);
    if (to === "test" || to === "bench" || to === "scripts") {
      problems.push(`${arrow} (${to}): product code never imports test/, bench/ or scripts/`);
      continue;
    }
    // Unit tests may reach any product layer; files outside the layers (package.json) are no arrow.
    if (to === undefined || edge.from.endsWith(".test.ts")) continue;
    const rule = RULES[from];
    if (!rule.mayImport.includes(to)) {
      problems.push(`${arrow} (${to}): ${from} may import only ${rule.mayImport.join(", ")}; ${rule.why}`);
    }
  }
  return problems;
}

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SCANNED = ["lib", "agent", "drivers", "firmware-sim", "console", "test", "bench", "scripts"];

/** Every source file of the repository at `root`, as repository path → text. */
export function repositorySources(root: string): [string, string][] {
  const sources: [string, string][] = [];
  for (const folder of SCANNED) {
    for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !SOURCE.test(entry.name)) continue;
      const file = join(entry.parentPath, entry.name);
      if (file.split("/").includes("node_modules")) continue;
      sources.push([relative(root, file).split("\\").join("/"), readFileSync(file, "utf8")]);
    }
  }
  return sources.sort(([a], [b]) => a.localeCompare(b));
}

export const REPOSITORY_ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const problems = wrongArrows(importsOf(repositorySources(REPOSITORY_ROOT)));
  for (const problem of problems) console.error(problem);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

// The registry holds cards only: nothing the agent imports statically from its entry point, however indirectly, is
// a driver's device code, so a gateway evaluates the device code of the drivers its config names only (each card's
// `open` loads it; firmware-sim, which a `sim:` config loads with import(), may import device code).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import ts from "typescript";
import { actuatorDrivers, sensorDrivers } from "./registry.ts";

const ROOT = resolve(import.meta.dirname, "..");

/** The project files `file` imports when it is evaluated: `import type` is erased, `import()` waits for its call. */
function evaluatedImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  return source.statements.flatMap((statement) => {
    const typeOnly = ts.isImportDeclaration(statement) ? statement.importClause?.isTypeOnly === true : ts.isExportDeclaration(statement) && statement.isTypeOnly;
    const specifier = ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement) ? statement.moduleSpecifier : undefined;
    if (typeOnly || specifier === undefined || !ts.isStringLiteral(specifier) || !specifier.text.startsWith(".")) return [];
    return [resolve(dirname(file), specifier.text)];
  });
}

test("the agent's static imports reach no driver's device code", () => {
  const reached = new Set<string>();
  const pending = [resolve(ROOT, "agent/entry.ts")];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (reached.has(file)) continue;
    reached.add(file);
    pending.push(...evaluatedImports(file));
  }
  const paths = [...reached].map((file) => relative(ROOT, file));
  assert.deepEqual(paths.filter((path) => path.endsWith("/device.ts")), []);
  // The walk did go through the cards: every registered driver's folder is reached.
  const cards = paths.filter((path) => /^drivers\/[^/]+\/index\.ts$/.test(path)).length;
  assert.equal(cards, Object.keys(sensorDrivers).length + Object.keys(actuatorDrivers).length);
});

// npm run build: one esbuild bundle, dist/xedge.mjs. Native addons stay external (they are per-architecture
// binaries loaded from node_modules, or shipped beside the bundle in a release). `node scripts/build.mjs FILE`
// writes the bundle to FILE instead (scripts/release.ts: dist/xedge.mjs is left alone while tests run it).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { build } from "esbuild";

// The packages with native addons (scripts/release.ts ships them, with what they load, in lib/node_modules).
export const nativeExternals = JSON.parse(readFileSync(resolve(import.meta.dirname, "native-externals.json"), "utf8"));

await build({
  entryPoints: [resolve(import.meta.dirname, "../agent/entry.ts")],
  outfile: process.argv[2] ?? resolve(import.meta.dirname, "../dist/xedge.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: nativeExternals,
  sourcemap: "linked",
  legalComments: "linked",
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __xedgeCreateRequire } from 'node:module';\nconst require = __xedgeCreateRequire(import.meta.url);" },
  // agent/version.ts: the bundle carries its version instead of looking for a package.json beside it.
  define: { XEDGE_VERSION: JSON.stringify(JSON.parse(readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8")).version) },
  logLevel: "warning",
});

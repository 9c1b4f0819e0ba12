// npm run build: the agent's esbuild bundle, dist/xedge.mjs, and the browser console, dist/console/. Native addons stay external (they are per-architecture
// binaries loaded from node_modules, or shipped beside the bundle in a release). `node scripts/build.mjs FILE [DIR]`
// writes the bundle to FILE instead, and the console to DIR when given (scripts/release.ts: dist/xedge.mjs and
// dist/console are left alone while tests run them).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
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
  // The bundle's source stays in V8's heap for the process's life: without comments it is a third smaller and pure
  // ASCII (one byte per character; a single "—" in a comment made V8 keep all 2.1 MB as two-byte, 4.2 MB of heap).
  // Identifiers keep their names, so stack traces stay readable; the source map maps lines back.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  legalComments: "linked",
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __xedgeCreateRequire } from 'node:module';\nconst require = __xedgeCreateRequire(import.meta.url);" },
  // agent/version.ts: the bundle carries its version instead of looking for a package.json beside it.
  define: { XEDGE_VERSION: JSON.stringify(JSON.parse(readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8")).version) },
  logLevel: "warning",
});

// The operator console (console/): a static page for browsers, served from anywhere; into dist/console with the
// default output, into DIR when a release names one.
const consoleDir = process.argv[2] === undefined ? resolve(import.meta.dirname, "../dist/console") : process.argv[3];
if (consoleDir !== undefined) {
  // @xmpp/resolve's SRV lookup (node:dns) is for Node: its package.json's "browser" map names "./lib/dns"
  // without the ".js" its import has, so esbuild does not apply it. A WebSocket URL needs no DNS lookup.
  const withoutNodeDns = {
    name: "without-node-dns",
    setup(builder) {
      builder.onResolve({ filter: /^node:dns$/ }, () => ({ path: "node:dns", namespace: "without-node-dns" }));
      builder.onLoad({ filter: /.*/, namespace: "without-node-dns" }, () => ({ contents: "export default {};" }));
    },
  };
  const outdir = resolve(consoleDir);
  await build({
    entryPoints: [resolve(import.meta.dirname, "../console/main.ts")],
    outdir,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: ["chrome109", "firefox115", "safari16"],
    minify: true,
    sourcemap: "linked",
    legalComments: "linked",
    logLevel: "warning",
    plugins: [withoutNodeDns],
  });
  mkdirSync(outdir, { recursive: true });
  copyFileSync(resolve(import.meta.dirname, "../console/index.html"), resolve(outdir, "index.html"));
}

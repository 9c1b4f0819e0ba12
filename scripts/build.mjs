// npm run build: the agent's esbuild bundle, dist/xedge.mjs, and the browser console, dist/console/. Native addons stay external (they are per-architecture
// binaries loaded from node_modules, or shipped beside the bundle in a release). `node scripts/build.mjs FILE`
// writes the bundle to FILE instead (scripts/release.ts: dist/xedge.mjs is left alone while tests run it).
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
  sourcemap: "linked",
  legalComments: "linked",
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __xedgeCreateRequire } from 'node:module';\nconst require = __xedgeCreateRequire(import.meta.url);" },
  // agent/version.ts: the bundle carries its version instead of looking for a package.json beside it.
  define: { XEDGE_VERSION: JSON.stringify(JSON.parse(readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8")).version) },
  logLevel: "warning",
});

// The operator console (console/): a static page for browsers, served from anywhere; only with the default
// output (a release names FILE and ships the agent alone).
if (process.argv[2] === undefined) {
  // @xmpp/resolve's SRV lookup (node:dns) is for Node: its package.json's "browser" map names "./lib/dns"
  // without the ".js" its import has, so esbuild does not apply it. A WebSocket URL needs no DNS lookup.
  const withoutNodeDns = {
    name: "without-node-dns",
    setup(builder) {
      builder.onResolve({ filter: /^node:dns$/ }, () => ({ path: "node:dns", namespace: "without-node-dns" }));
      builder.onLoad({ filter: /.*/, namespace: "without-node-dns" }, () => ({ contents: "export default {};" }));
    },
  };
  const outdir = resolve(import.meta.dirname, "../dist/console");
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

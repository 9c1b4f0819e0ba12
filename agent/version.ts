// The package version: inlined by scripts/build.mjs into the bundle, read from package.json when run from source.
import { readFileSync } from "node:fs";

declare const XEDGE_VERSION: string | undefined;

function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

export const version: string = typeof XEDGE_VERSION === "string" ? XEDGE_VERSION : packageVersion();

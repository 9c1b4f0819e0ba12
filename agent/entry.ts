// Entry point of the bundle (dist/xedge.mjs) and of `xedge` during development.
import { webcrypto } from "node:crypto";
import { main } from "./cli.ts";

// Node 18 (Debian bookworm's and Raspberry Pi OS's nodejs, a supported runtime of the release) has no global
// Web Crypto without --experimental-global-webcrypto; xmpp.js's SASL mechanisms use the global one.
globalThis.crypto ??= webcrypto;

await main(process.argv);

// The operator console as an admin would put it on the XMPP server's own HTTP module: the built page
// (dist/console/) and, beside it, the XEP-0156 host-meta that names the server's WebSocket endpoint.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const CONSOLE_BUILD = resolve(import.meta.dirname, "../../dist/console");

/** Copies the built console into `webRoot` (created), to be served with StartOptions.httpFiles. */
export function copyConsole(webRoot: string): void {
  cpSync(CONSOLE_BUILD, webRoot, { recursive: true });
}

/** Writes `.well-known/host-meta.json` naming wss://localhost:PORT/xmpp-websocket; returns that URL. */
export function writeHostMeta(webRoot: string, httpsPort: number): string {
  const websocket = `wss://localhost:${httpsPort}/xmpp-websocket`;
  mkdirSync(join(webRoot, ".well-known"), { recursive: true });
  writeFileSync(join(webRoot, ".well-known", "host-meta.json"), JSON.stringify({ links: [{ rel: "urn:xmpp:alt-connections:websocket", href: websocket }] }));
  return websocket;
}

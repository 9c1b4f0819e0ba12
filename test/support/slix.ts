// The slixmpp interop scripts (test/faces/interop/*.py) log in as an operator of a test server, talk to the agent
// and print one JSON object per line, the last `{"event": "end"}`. This runs one and returns those lines.
import { spawn } from "node:child_process";
import { basename, join } from "node:path";
import type { XmppTestServer } from "./servers.ts";

const INTEROP = join(import.meta.dirname, "../faces/interop");

/** Runs interop/`script` as `user` against `agentJid` with `extra` arguments after the connection's; rejects when it did not end. */
export function runSlixScript<Event extends { event: string }>(script: string, server: XmppTestServer, user: string, agentJid: string, extra: string[]): Promise<Event[]> {
  const { hostname, port } = new URL(server.service.replace(/^xmpp:/, "http:"));
  const args = [join(INTEROP, script), `${user}@localhost/slix`, `${user}-secret`, agentJid, server.caFile, hostname, port, ...extra];
  return new Promise((resolveRun, reject) => {
    const child = spawn("/usr/bin/python3", args, { env: { ...process.env, PYTHONPATH: "/usr/lib/python3/dist-packages" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", () => {
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Event);
      if (!events.some((e) => e.event === "end")) reject(new Error(`${basename(script)} did not finish:\n${stdout}\n${stderr}`));
      else resolveRun(events);
    });
  });
}

// `npm run demo`, headless: it starts its own server and agent, shows readings arriving, and leaves nothing running.
import { it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { listProcesses } from "../support/procs.ts";

it("the demo shows readings arriving at the pubsub nodes, its live view, and stops everything it started", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "../../scripts/demo.ts"), "--seconds", "5"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  assert.equal(code, 0, output);
  const port = /server\s+xmpp:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
  assert.ok(port, `the demo prints where its server listens:\n${output}`);
  assert.match(output, /operator ops@localhost {2}password \S+/);
  assert.match(output, /console +https:\/\/localhost:\d+\/ /, "the demo prints the browser console's address");
  // One simulated sensor per driver, each with its own fields.
  const expected: Record<string, RegExp> = {
    boiler: /temperature -?\d+\.\d\d °C {2}humidity \d+\.\d\d %RH {2}pressure \d+\.\d\d hPa/,
    greenhouse: /temperature -?\d+\.\d\d °C {2}humidity \d+\.\d\d %RH/,
    tank: /valvePosition \d\.\d{4} V {2}loopCurrent \d+\.\d+ mA/,
    cellar: /temperature -?\d+\.\d{4} °C/,
    door: /state (true|false)/,
    rain: /count \d+ {2}total \d+\.\d mm {2}rate \d+\.\d mm\/h/,
    gps: /latitude -?\d+\.\d{6} ° {2}longitude -?\d+\.\d{6} °/,
    meter: /voltage \d+\.\d V {2}activePower \d+ W/,
    bench: /temp \d+\.\d+ {2}hum \d+\.\d+/,
  };
  for (const [sensor, fields] of Object.entries(expected)) {
    assert.match(output, new RegExp(`${sensor}\\s+#\\d+\\s+${fields.source}`), `a reading from ${sensor}`);
  }
  // Not a terminal: the live view is printed once at the end, rendered from the same readings and the store.
  const view = output.slice(output.indexOf("xedge demo · gateway gw1@localhost/edge"));
  assert.ok(view.length < output.length, `the final view is printed:\n${output}`);
  assert.match(view, /and try +help · read · read boiler · set pump state on · status · history boiler 10m/);
  for (const [sensor, fields] of Object.entries(expected)) {
    // A sparkline of the first numeric field; the door's only field is a boolean.
    const trend = sensor === "door" ? "\\s+" : "\\s+[▁▂▃▄▅▆▇█]+\\s+";
    assert.match(view, new RegExp(`\\n  ${sensor}\\s+#\\d+${trend}${fields.source}`), `the view's row for ${sensor}`);
  }
  assert.match(view, /\n {2}buffer \d+ · dropped 0 · last publish (\d+ s ago|just now)/);
  assert.match(output, /demo stopped; nothing left running\./);
  // Only this demo's server and agent: other test files may be running theirs at the same time.
  const agentDir = /store +(\/\S+)\/xedge\.db/.exec(output)?.[1];
  const serverDir = /CA in (\/\S+)\/pki\//.exec(output)?.[1];
  assert.ok(agentDir && serverDir, "the demo prints its store and CA paths");
  const leftovers = listProcesses().filter((p) => p.cmdline.includes(agentDir) || p.cmdline.includes(serverDir));
  assert.deepEqual(leftovers.map((p) => p.cmdline), []);
});

it("Ctrl-C (SIGINT) stops the demo and everything it started", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "../../scripts/demo.ts")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const seen = new Promise<void>((ready) => {
    const collect = (chunk: string) => {
      output += chunk;
      if (/boiler\s+#\d+/.test(output)) ready();
    };
    child.stdout.setEncoding("utf8").on("data", collect);
    child.stderr.setEncoding("utf8").on("data", collect);
  });
  const exited = new Promise<number | null>((done) => child.once("exit", done));
  await Promise.race([seen, exited]);
  child.kill("SIGINT");
  assert.equal(await exited, 0, output);
  assert.match(output, /demo stopped; nothing left running\./);
  const agentDir = /store +(\/\S+)\/xedge\.db/.exec(output)?.[1];
  const serverDir = /CA in (\/\S+)\/pki\//.exec(output)?.[1];
  assert.ok(agentDir && serverDir, output);
  assert.deepEqual(listProcesses().filter((p) => p.cmdline.includes(agentDir) || p.cmdline.includes(serverDir)).map((p) => p.cmdline), []);
});

// npm run demo: a private Prosody on loopback, the agent on simulated hardware, and the readings as they
// arrive at the pubsub nodes, seen by an operator's client. On a terminal that is a live view redrawn in place
// (scripts/demo-view.ts); otherwise (CI) one line per reading, and the view once at the end.
// `--seconds N` stops by itself after N seconds (used headless in CI).
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseArgs } from "node:util";
import { startServer } from "../test/support/servers.ts";
import { AgentProcess, writeAgentConfig } from "../test/support/agent.ts";
import { Observer, type Item } from "../test/support/observer.ts";
import { copyConsole, writeHostMeta } from "../test/support/console-site.ts";
import { formatDuration } from "../lib/duration.ts";
import { openForStatus } from "../agent/store.ts";
import { DemoView } from "./demo-view.ts";

const { values } = parseArgs({ options: { seconds: { type: "string" } } });
const stopAfterMs = values.seconds === undefined ? undefined : Number(values.seconds) * 1000;

/** One simulated sensor per driver, and a relay: the same gateway the tests run. */
const DEVICES = readFileSync(resolve(import.meta.dirname, "../examples/sim-sensors.yaml"), "utf8");
const SENSORS = (parseYaml(DEVICES) as { sensors: { id: string }[] }).sensors.map((sensor) => sensor.id);
const gatewayPassword = randomBytes(9).toString("base64url");
const operatorPassword = randomBytes(9).toString("base64url");

console.log("xedge demo: starting a private Prosody on 127.0.0.1 …");
// The browser console, served by the server itself beside the host-meta that names its WebSocket.
const webRoot = mkdtempSync(join(tmpdir(), "xedge-demo-console-"));
copyConsole(webRoot);
const server = await startServer("prosody", {
  accounts: { gw1: gatewayPassword, ops: operatorPassword },
  pubsubAdmins: ["gw1@localhost"],
  websocket: true,
  httpFiles: webRoot,
});
const websocketUrl = writeHostMeta(webRoot, server.httpsPort);
const consoleUrl = `https://localhost:${server.httpsPort}/`;
const { file, dir } = writeAgentConfig(server, {
  password: gatewayPassword,
  commitInterval: "500ms",
  devices: DEVICES,
  operators: [{ jid: "ops@localhost", role: "control" }],
});
const agent = AgentProcess.start(file);

const live = process.stdout.isTTY;
/** ANSI: home, clear to the end of each line and of the screen; the cursor is hidden while the view runs. */
const HOME = "\x1b[H";
const CLEAR_LINE = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";
const CLEAR_SCREEN = "\x1b[2J";
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";
let drawing = false;

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (drawing) process.stdout.write(SHOW_CURSOR);
    drawing = false;
    console.log("\nstopping the agent and the server …");
    await agent.stop("SIGTERM");
    await observer?.close();
    await server.stop();
    rmSync(webRoot, { recursive: true, force: true });
    console.log("demo stopped; nothing left running.");
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

let observer: Observer | undefined;
try {
  await agent.waitForMessage("online", 30_000);
  const statusCommand = `node dist/xedge.mjs status --config ${file}`;
  const demoView = new DemoView(
    { gateway: "gw1@localhost/edge", operator: "ops@localhost", password: operatorPassword, host: "127.0.0.1", port: server.port, caFile: server.caFile, statusCommand, consoleUrl },
    SENSORS,
  );
  if (!live) {
    console.log(`
  gateway  gw1@localhost/edge  (simulated sensors: ${SENSORS.join(", ")}; relay: pump)
  server   ${server.service}  (STARTTLS, certificate signed by the CA in ${server.caFile})
  operator ops@localhost  password ${operatorPassword}  (role control: may read and set)
  pubsub   ${server.pubsubService}, nodes xedge/gw1/<sensor>
  store    ${dir}/xedge.db   (try: ${statusCommand})
  console  ${consoleUrl}  (the browser console; WebSocket ${websocketUrl}; the browser must trust the CA above)

  Connect a desktop XMPP client on this machine as the operator (host 127.0.0.1, port ${server.port}, trust the
  demo CA above), chat with gw1@localhost (try: help, read, read boiler, set pump state on, status,
  history boiler 10m) and browse the pubsub service ${server.pubsubService}.
  Readings arriving at the pubsub nodes (Ctrl-C stops everything):
`);
  }
  observer = await Observer.connect(server, "ops", operatorPassword);
  const ops = observer;
  let shown = 0;
  const show = (item: Item) => {
    const node = item.payload?.getChild("node");
    const sensor = String(node?.attrs.nodeId);
    demoView.addItem(sensor, item.id, item.payload);
    shown += 1;
    if (live) return;
    const timestamp = node?.getChild("timestamp");
    const fields = (timestamp?.children ?? []).flatMap((f) =>
      typeof f === "string" ? [] : [`${String(f.attrs.name)} ${String(f.attrs.value)}${f.attrs.unit ? ` ${String(f.attrs.unit)}` : ""}`],
    );
    const time = new Date(String(timestamp?.attrs.value)).toLocaleTimeString();
    console.log(`  ${time}  ${sensor.padEnd(11)} #${item.id.padEnd(5)} ${fields.join("  ")}`);
  };
  const draw = () => {
    if (!drawing) return;
    const lines = demoView.render(new Date(), process.stdout.columns);
    process.stdout.write(`${HOME}${lines.map((line) => `${line}${CLEAR_LINE}`).join("\n")}\n\n  Ctrl-C stops everything.${CLEAR_LINE}\n${CLEAR_BELOW}`);
  };
  if (live) {
    drawing = true;
    process.stdout.write(`${HIDE_CURSOR}${CLEAR_SCREEN}`);
    process.stdout.on("resize", () => {
      process.stdout.write(CLEAR_SCREEN);
      draw();
    });
  }
  // The outbox and last publish as `xedge status` sees them: the store, opened read-only, once a second.
  const pollStore = async () => {
    try {
      const opened = await openForStatus(`${dir}/xedge.db`);
      await opened.close();
      demoView.setStatus(opened.status);
    } catch {
      // The agent holds a write lock for a moment: the next poll reads it.
    }
  };
  await pollStore();
  const storeTimer = setInterval(() => void pollStore(), 1000);
  // Each node's latest item first (a door may stay shut for minutes), then every new one as it arrives.
  for (const sensor of SENSORS) {
    const node = `xedge/gw1/${sensor}`;
    const items = await ops.until(() => ops.items(server.pubsubService, node), (found) => found.length > 0, 20_000, `the first item on ${node}`);
    show(items.at(-1)!);
    await ops.subscribe(server.pubsubService, node);
    draw();
  }
  let seen = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    ops.notifications.slice(seen).forEach(show);
    seen = ops.notifications.length;
    draw();
    if (stopAfterMs !== undefined && Date.now() - started >= stopAfterMs) {
      clearInterval(timer);
      clearInterval(storeTimer);
      void pollStore().then(() => {
        if (!live) console.log(`\n${demoView.render(new Date()).join("\n")}`);
        draw();
        console.log(`\n${shown} readings shown in ${formatDuration(Math.round((Date.now() - started) / 1000) * 1000)}.`);
        void shutdown(shown > 0 ? 0 : 1);
      });
    }
  }, 250);
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  console.error(agent.stderr.slice(-10).join("\n"));
  await shutdown(1);
}

// The store's filesystem fails under the running agent bundle, with a real Prosody: it fills up (a small tmpfs
// filled with a file until ENOSPC), or the kernel makes it read-only after an error (ext4 on a loop device,
// errors=remount-ro, an error triggered through /sys/fs/ext4/<dev>/trigger_fs_error: what an SD card's I/O error
// does). The agent keeps running and publishing what it committed, holds new readings in memory within their bound,
// says so (log, xedge status, presence text, metrics), counts exactly what the bound dropped, and commits the rest,
// in order and without a gap in the item ids, once it can. Needs root (mount); without it the test is skipped,
// saying so, and a mount that fails as root fails the test.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { Store } from "../../agent/store.ts";
import { AgentProcess, runCli, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { assertNodeMatchesStore, bme280s, sortedIds, status, waitUntil } from "../support/accounting.ts";
import { xml, type Element } from "../../agent/xmpp/client.ts";
import type { Operator } from "../../agent/authz.ts";

const isRoot = process.getuid?.() === 0;
const AGENT = "gw1@localhost/edge";
const NF = "urn:nf:iot:sd:1.0";
const FAST_LINK = "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 1s }";
/** The bound on readings held in memory is store.maxReadings here (at most 10,000). */
const MAX_READINGS = 60;

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = error instanceof Error && "stderr" in error ? String(error.stderr) : "";
    throw new Error(`${command} ${args.join(" ")} failed (this test needs root, mount(8) and e2fsprogs): ${stderr || String(error)}`, { cause: error });
  }
}

/** Writes zeros into `file` until the filesystem says ENOSPC. */
function fillUp(file: string): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if (!(error instanceof Error && "code" in error && error.code === "ENOSPC")) throw error;
  } finally {
    closeSync(fd);
  }
}

/** GET /metrics on the agent's unix socket. */
function scrape(socketPath: string): Promise<string> {
  return new Promise((resolveScrape, reject) => {
    const req = request({ socketPath, path: "/metrics", timeout: 5000 }, (response) => {
      let text = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolveScrape(text));
    });
    req.on("error", reject);
    req.end();
  });
}

function valueOf(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  assert.ok(line, `no sample ${name}{${labels}} in the metrics`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** `xedge status --json` while the store cannot be read: the running agent's report and why the store did not open. */
async function reportWithoutStore(file: string) {
  const result = await runCli(["status", "--json", "--config", file]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as { storeError?: string; agent: { running: boolean; buffered: number; storeFault?: string; health: { show: string; text: string } } };
}

/** The newest presence the gateway sent to `ops`, as show (available when absent) and status. */
function lastGatewayPresence(ops: Observer): { show: string; status: string } | undefined {
  const fromGateway = (stanza: Element) => String(stanza.attrs.from ?? "").startsWith("gw1@") && (stanza.attrs.type === undefined || stanza.attrs.type === "unavailable");
  const presence = ops.presences.filter(fromGateway).at(-1);
  return presence && { show: presence.getChildText("show") ?? (presence.attrs.type === "unavailable" ? "unavailable" : "available"), status: presence.getChildText("status") ?? "" };
}

/** Calls `send`, then resolves with the first of the agent's messages that `pick` takes something from. */
function answerFrom<T>(ops: Observer, send: () => Promise<unknown>, pick: (message: Element) => T | undefined, what: string): Promise<T> {
  return new Promise((resolveAnswer, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${what} in 10 s`));
    }, 10_000);
    const stop = ops.onMessage((message) => {
      const picked = String(message.attrs.from ?? "").startsWith("gw1@") ? pick(message) : undefined;
      if (picked === undefined) return;
      clearTimeout(timer);
      stop();
      resolveAnswer(picked);
    });
    send().catch((error: unknown) => {
      clearTimeout(timer);
      stop();
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

/** Sends `body` to the agent as chat and resolves with its answer's text. */
function chatAnswer(ops: Observer, body: string): Promise<string> {
  const send = () => ops.send(xml("message", { to: AGENT, type: "chat" }, xml("body", {}, body)));
  return answerFrom(ops, send, (message) => (message.attrs.type === "chat" ? (message.getChildText("body") ?? undefined) : undefined), `answer to "${body}"`);
}

/** The agent's live report from `xedge status --json`. */
async function agentReport(file: string) {
  const { agent } = (await status(file)) as { agent?: { running: boolean; storeFault?: string; buffered?: number; health?: { show: string; text: string } } };
  assert.ok(agent?.running, "the agent answers xedge status");
  return agent;
}

/** A config whose store lives in `state` (the mounted filesystem); the config, sockets and logs stay outside it. */
function configFor(server: XmppTestServer, dir: string, state: string, sensors: string, operators?: Operator[]): { file: string; metricsSocket: string } {
  const metricsSocket = join(dir, "metrics.sock");
  const { file } = writeAgentConfig(
    server,
    { xmppExtra: FAST_LINK, sensors, extra: `metrics: { listen: ${metricsSocket} }`, ...(operators ? { operators } : {}) },
    dir,
  );
  writeFileSync(file, readFileSync(file, "utf8").replace(`  path: ${join(dir, "xedge.db")}`, `  path: ${join(state, "xedge.db")}\n  maxReadings: ${MAX_READINGS}`));
  return { file, metricsSocket };
}

describe("the store's filesystem full or read-only under the running agent, on Prosody", { skip: isRoot ? false : "mounts a tmpfs and an ext4 loop device: run as root" }, () => {
  let server: XmppTestServer;
  let dir: string;
  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    dir = mkdtempSync(join(tmpdir(), "xedge-disk-full-"));
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("disk full while online, then offline: what is committed goes out, the newest readings are held and committed once space returns", async () => {
    const work = join(dir, "full");
    const state = join(work, "state");
    mkdirSync(state, { recursive: true });
    run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", state]);
    let ops: Observer | undefined;
    try {
      // Two sensors at 20 Hz, unplugged 10 s after the start: from then on nothing is sampled, and the counts hold still.
      const { file, metricsSocket } = configFor(server, work, state, bme280s("f", 2, "50ms", "10s"));
      const agent = AgentProcess.start(file);
      try {
        await agent.waitForMessage("online", 30_000);
        await waitUntil(async () => (await status(file)).sensors.every((sensor) => sensor.lastSeq > 5) && (await status(file)).lastPublished !== undefined, "the first readings published", 15_000);

        fillUp(join(state, "filler"));
        const entered = await agent.waitForLog((line) => line.message.startsWith("store cannot commit ("), 15_000);
        assert.equal(entered.message, `store cannot commit (disk full on ${state}): new readings are held in memory`);
        assert.equal(entered.level, "error");
        assert.equal(entered.cause, "disk-full");
        assert.equal(entered.mount, state);
        assert.match(String(entered.fix), /free space on/);
        assert.equal(entered.maxHeld, MAX_READINGS);

        // Still online and full: everything committed before the disk filled goes out.
        ops = await Observer.connect(server, "ops", "ops-secret");
        const committedBefore = await status(file);
        for (const sensor of committedBefore.sensors) {
          const node = `xedge/gw1/${sensor.sensorId}`;
          const connected = ops;
          await waitUntil(async () => sortedIds(await connected.items(server.pubsubService, node)).at(-1) === sensor.lastSeq, `${node} to hold #${sensor.lastSeq}`, 10_000);
        }
        const report = await agentReport(file);
        assert.equal(report.health?.show, "dnd");
        assert.match(String(report.storeFault), new RegExp(`^disk full on ${state}: \\d+ readings held in memory`));
        assert.match(String(report.health?.text), /disk full on .*readings held in memory/);
        assert.ok(valueOf(await scrape(metricsSocket), "xedge_readings_held") > 0);

        // The server goes away too; the held readings pass their bound and the sensors are unplugged.
        await server.stop({ keepData: true });
        await agent.waitForMessage("store cannot commit: readings held in memory reached their bound; the oldest are dropped and counted", 15_000);
        await waitUntil(async () => agent.logs.filter((line) => line.message === "sensor failed").length >= 2, "both sensors unplugged", 15_000);
        const frozen = await scrape(metricsSocket);
        assert.equal(valueOf(frozen, "xedge_readings_held"), MAX_READINGS);
        const counts = ["f1", "f2"].map((sensor) => ({
          sensor,
          sampled: valueOf(frozen, "xedge_readings_sampled_total", `sensor="${sensor}"`),
          lost: valueOf(frozen, "xedge_readings_lost_unwritable_total", `sensor="${sensor}"`),
        }));
        assert.ok(counts.every(({ lost }) => lost > 0), `readings were lost past the bound: ${JSON.stringify(counts)}`);
        const offline = await agentReport(file);
        assert.match(String(offline.storeFault), new RegExp(`${MAX_READINGS} readings held in memory, ${counts[0]!.lost + counts[1]!.lost} lost`));

        rmSync(join(state, "filler"));
        const left = await agent.waitForMessage("store commits again: the readings held in memory are committed", 15_000);
        assert.equal(left.committed, MAX_READINGS);
        assert.equal(left.lost, counts[0]!.lost + counts[1]!.lost);
        assert.deepEqual(String(left.lostBySensor).split(",").sort(), counts.map(({ sensor, lost }) => `${sensor}=${lost}`));
        const recovered = await status(file);
        assert.equal(recovered.lostUnwritable, left.lost, "the loss is recorded in the store");
        for (const { sensor, sampled, lost } of counts) {
          assert.equal(recovered.sensors.find((stored) => stored.sensorId === sensor)?.lastSeq, sampled - lost, `${sensor}: every sample committed but the ones counted lost`);
        }
        assert.equal((await agentReport(file)).storeFault, undefined);

        await ops.close();
        ops = undefined;
        await server.restart();
        await waitUntil(async () => (await status(file)).unsent === 0, "the held readings to be published", 30_000);
      } finally {
        assert.equal(await agent.stop(), 0);
      }
      ops = await Observer.connect(server, "ops", "ops-secret");
      for (const sensor of ["f1", "f2"]) await assertNodeMatchesStore(ops, server, join(state, "xedge.db"), sensor);
    } finally {
      await ops?.close().catch(() => undefined);
      run("umount", ["-l", state]);
    }
  });

  it("disk full at start, with no store and then with one: the agent stays up saying why, samples meanwhile, and starts once space returns", async () => {
    const work = join(dir, "start");
    const state = join(work, "state");
    mkdirSync(state, { recursive: true });
    run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", state]);
    let ops: Observer | undefined;
    try {
      // Sampled 4 times a second from the start, also while the agent waits, and unplugged 8 s after it: fewer
      // readings than the bound on held ones (60), so none is dropped however long the wait. A relay (after the
      // sensor's line, under `actuators:`) for the control the operator asks for while the agent waits.
      const relay = "\nactuators:\n  - { id: pump, driver: gpio-output, gpio: { pin: 22 }, safeState: off }";
      const { file } = configFor(server, work, state, bme280s("s", 1, "250ms", "8s") + relay, [{ jid: "ops@localhost", role: "control" }]);
      ops = await Observer.connect(server, "ops", "ops-secret");
      const connected = ops;
      /** Waits until the waiting agent reports at least `atLeast` readings held in memory; returns how many. */
      const heldWhileWaiting = async (atLeast: number) => {
        let held = 0;
        await waitUntil(async () => (held = (await reportWithoutStore(file)).agent.buffered) >= atLeast, `${atLeast} readings held while waiting`, 10_000);
        return held;
      };
      /** Control requests refused while the agent waited: each must be in the audit trail once the store opens. */
      let refusedWhileWaiting = 0;
      /**
       * While it waits the agent answers its operator from memory: a readout gives the sensor's latest sample,
       * history the reason it waits, chat its status; a control request is refused with the reason, the relay closed.
       */
      const answersFromMemory = async () => {
        const current = await connected.iq("get", AGENT, xml("req", { xmlns: NF, id: "waiting", m: "true" }));
        const node = current.getChild("resp", NF)?.getChildElements().find((nd) => nd.attrs.id === "s1");
        const temperature = node?.getChild("ts")?.getChildren("q").find((q) => q.attrs.n === "temperature");
        assert.match(String(temperature?.attrs.v), /^-?\d+(\.\d+)?$/, `the latest temperature: ${current.toString()}`);
        const pump = current.getChild("resp", NF)?.getChildElements().find((nd) => nd.attrs.id === "pump");
        assert.match(String(pump?.getChild("ts")?.getChildText("err")), /^store cannot open: disk full on .*; the actuators open once it does$/);
        // History is answered in messages after the iq's <accepted/>.
        const askHistory = () => connected.iq("get", AGENT, xml("req", { xmlns: NF, id: "waiting-history", h: "true" }, xml("nd", { id: "s1" })));
        const failure = await answerFrom(connected, askHistory, (message) => message.getChild("resp", NF)?.getChild("nd")?.getChild("ts")?.getChildText("err") ?? undefined, "history answer");
        assert.equal(failure, `store cannot open: disk full on ${state}; history is answered once it opens`);
        assert.match(await chatAnswer(connected, "status"), new RegExp(`store cannot open: disk full on ${state}`));
        const set = xml("set", { xmlns: "urn:xmpp:iot:control" }, xml("node", { nodeId: "pump" }), xml("boolean", { name: "state", value: "true" }));
        await assert.rejects(connected.iq("set", AGENT, set), (error: Error & { condition?: string }) => {
          assert.equal(error.condition, "conflict");
          assert.match(error.message, /actuator pump is not available: store cannot open: disk full/);
          return true;
        });
        refusedWhileWaiting += 1;
      };
      /**
       * Starts the agent on the full disk and checks what it says while it waits, sampling meanwhile; returns it
       * still waiting, when it started and how many readings it held at the last look.
       */
      const startWaiting = async () => {
        const startedAt = Date.now();
        const agent = AgentProcess.start(file);
        const waiting = await agent.waitForLog((line) => line.message.startsWith("store cannot open ("), 15_000);
        assert.equal(waiting.message, `store cannot open (disk full on ${state}): the agent waits for space and starts once the store opens`);
        assert.equal(waiting.level, "error");
        assert.equal(waiting.cause, "disk-full");
        assert.equal(waiting.mount, state);
        assert.match(String(waiting.fix), new RegExp(`^free space on ${state} \\(old logs: journalctl --vacuum-size=50M\\); the store opens by itself`));
        await agent.waitForMessage("online", 15_000);
        const presence = await connected.until(() => lastGatewayPresence(connected), (last) => last?.show === "dnd", 10_000, "the gateway's presence dnd");
        assert.match(String(presence?.status), new RegExp(`store cannot open: disk full on ${state}`));
        const held = await heldWhileWaiting(3);
        const report = await reportWithoutStore(file);
        assert.equal(report.agent.running, true);
        assert.match(String(report.agent.storeFault), new RegExp(`^store cannot open: disk full on ${state}: \\d+ readings held in memory$`));
        assert.match(report.agent.health.text, /buffer [1-9]\d*/, "the health line counts the readings held");
        assert.equal(report.agent.health.show, "dnd");
        await answersFromMemory();
        assert.equal(agent.child.exitCode, null, "the agent keeps running");
        return { agent, startedAt, held };
      };
      /**
       * Frees the space: the agent opens its store, hands it the readings taken meanwhile, starts and publishes.
       * Returns the last number committed, when the store opened and how many readings it was handed.
       */
      const freeAndPublish = async (agent: AgentProcess, beyond: number, heldSeen: number) => {
        rmSync(join(state, "filler"));
        const opened = await agent.waitForMessage("store opened: there is space again; the agent starts", 20_000);
        const handed = await agent.waitForMessage("store opened: the readings taken while it could not open are appended to it", 10_000);
        assert.ok(Number(handed.readings) >= heldSeen, `the ${heldSeen} readings seen held, and those taken since, are handed: ${String(handed.readings)}`);
        assert.equal(handed.lost, 0);
        await agent.waitForMessage("agent started", 10_000);
        // The sensor is unplugged 8 s after the start, so the outbox can drain to empty.
        await agent.waitForMessage("sensor failed", 20_000);
        await waitUntil(async () => (await status(file)).unsent === 0, "the outbox drained", 10_000);
        const last = (await status(file)).sensors[0]!.lastSeq;
        assert.ok(last > beyond + 5, `new readings committed after #${beyond}: the last is #${last}`);
        // The usual health: the sensor, unplugged, may make it dnd again, for that reason.
        await connected.until(
          () => lastGatewayPresence(connected),
          (presence) => presence !== undefined && presence.show !== "unavailable" && !presence.status.includes("store cannot open"),
          10_000,
          "the gateway's presence without the store's fault",
        );
        return { last, openedAt: Date.parse(opened.time), handed: Number(handed.readings) };
      };
      /**
       * Once the agent stopped: the readings it was handed are the first committed after #`beyond`, numbered on
       * from it without a gap, in the order taken, with the times they were taken: those of the wait before the
       * store opened (`heldSeen` of them at least), none before the agent started.
       */
      const assertHeldCommitted = async (beyond: number, handed: number, heldSeen: number, startedAt: number, openedAt: number) => {
        const store = await Store.open(join(state, "xedge.db"), { commitIntervalMs: 60_000 });
        try {
          const held = (await store.history("s1")).filter((reading) => reading.seq > beyond).slice(0, handed);
          assert.deepEqual(held.map((reading) => reading.seq), Array.from({ length: handed }, (_, i) => beyond + 1 + i));
          assert.ok(held.slice(1).every((reading, i) => reading.timestamp > held[i]!.timestamp), "in the order taken");
          assert.ok(held[0]!.timestamp.getTime() >= startedAt, `taken after the agent started: ${held[0]!.timestamp.toISOString()}`);
          const beforeOpen = held.filter((reading) => reading.timestamp.getTime() < openedAt).length;
          assert.ok(beforeOpen >= heldSeen, `${beforeOpen} readings stamped before the store opened, ${heldSeen} seen held`);
          const refused = (await store.auditLog(100)).filter((entry) => entry.result === "unavailable" && entry.nodeIds.includes("pump"));
          assert.equal(refused.length, refusedWhileWaiting, "every control request refused while waiting is in the audit trail");
          assert.ok(refused.every((entry) => entry.requester.startsWith("ops@localhost/") && entry.via === "iq" && /store cannot open/.test(entry.detail ?? "")), JSON.stringify(refused));
        } finally {
          await store.close();
        }
      };

      // Presence reaches the operator once subscribed; the waiting gateway accepts the operator's subscription.
      await ops.iq("get", "ops@localhost", xml("query", { xmlns: "jabber:iq:roster" }));
      fillUp(join(state, "filler"));
      const first = AgentProcess.start(file);
      let published = 0;
      try {
        await first.waitForLog((line) => line.message.startsWith("store cannot open ("), 15_000);
        await first.waitForMessage("online", 15_000);
        await ops.send(xml("presence", { to: "gw1@localhost", type: "subscribe" }));
        await first.waitForMessage("presence subscription accepted", 10_000);
        await heldWhileWaiting(1);
      } finally {
        assert.equal(await first.stop(), 0, "a stop while waiting ends the wait");
      }
      assert.ok(first.logs.some((line) => line.message === "agent stopped before its store opened"));
      const lostAtStop = first.logs.find((line) => line.message === "readings taken while the store could not open are lost: it never opened");
      assert.ok(Number(lostAtStop?.readings) >= 1, "a stop while waiting says how many held readings it loses");
      // No store file yet: the agent waits, then creates it.
      const fresh = await startWaiting();
      try {
        const { last, openedAt, handed } = await freeAndPublish(fresh.agent, 0, fresh.held);
        published = last;
        await fresh.agent.stop();
        await assertHeldCommitted(0, handed, fresh.held, fresh.startedAt, openedAt);
      } finally {
        assert.equal(await fresh.agent.stop(), 0);
      }
      // An existing store on a full disk: not taken for a damaged one, and continued.
      fillUp(join(state, "filler"));
      const again = await startWaiting();
      try {
        const { openedAt, handed } = await freeAndPublish(again.agent, published, again.held);
        await again.agent.stop();
        await assertHeldCommitted(published, handed, again.held, again.startedAt, openedAt);
      } finally {
        assert.equal(await again.agent.stop(), 0);
      }
      assert.ok(!again.agent.logs.some((line) => line.message.startsWith("store damaged")), "the full disk did not pass for a damaged store");
      assert.deepEqual(readdirSync(state).filter((name) => name.includes("damaged") || name.includes("recovering")), []);
      await assertNodeMatchesStore(ops, server, join(state, "xedge.db"), "s1");
    } finally {
      await ops?.close().catch(() => undefined);
      run("umount", ["-l", state]);
    }
  });

  it("read-only remount after an I/O error: the mount is named with the fix; after fsck and a restart nothing committed is lost and no item id reused", async () => {
    const work = join(dir, "ro");
    const state = join(work, "state");
    const image = join(work, "state.ext4");
    mkdirSync(state, { recursive: true });
    run("truncate", ["-s", "16M", image]);
    run("mkfs.ext4", ["-q", "-F", image]);
    run("mount", ["-o", "loop,errors=remount-ro", image, state]);
    let mounted = true;
    let ops: Observer | undefined;
    try {
      const { file, metricsSocket } = configFor(server, work, state, bme280s("r", 1, "200ms", "1h"));
      const first = AgentProcess.start(file);
      let lastCommitted = 0;
      try {
        await first.waitForMessage("online", 30_000);
        await waitUntil(async () => (await status(file)).sensors.every((sensor) => sensor.lastSeq > 5) && (await status(file)).lastPublished !== undefined, "the first readings published", 15_000);
        const device = basename(run("findmnt", ["-n", "-o", "SOURCE", state]).trim());
        writeFileSync(`/sys/fs/ext4/${device}/trigger_fs_error`, "xedge test: a failing SD card");
        const entered = await first.waitForLog((line) => line.message.startsWith("store cannot commit ("), 15_000);
        assert.equal(entered.message, `store cannot commit (read-only mount ${state}): new readings are held in memory`);
        assert.equal(entered.cause, "read-only");
        assert.equal(entered.mount, state);
        assert.match(String(entered.fix), new RegExp(`mount -o remount,rw ${state} or reboot`));
        const report = await agentReport(file);
        assert.equal(report.health?.show, "dnd");
        assert.match(String(report.storeFault), new RegExp(`^read-only mount ${state}: \\d+ readings held in memory`));
        await waitUntil(async () => valueOf(await scrape(metricsSocket), "xedge_readings_held") >= 10, "readings held in memory", 10_000);
        lastCommitted = (await status(file)).sensors[0]!.lastSeq;
      } finally {
        // ext4 keeps an aborted journal read-only until fsck: the agent stops, and what it held is lost, saying so.
        assert.equal(await first.stop(), 0);
      }
      const lostAtStop = first.logs.find((line) => line.message === "closing the store failed");
      assert.match(String(lostAtStop?.error), /^\d+ readings held in memory could not be committed and are lost/);

      run("umount", [state]);
      mounted = false;
      // e2fsck exits 1 when it corrected errors: the error the test triggered is recorded in the superblock.
      const fsck = spawnSync("e2fsck", ["-fy", image], { encoding: "utf8" });
      assert.ok(fsck.status === 0 || fsck.status === 1, `e2fsck: ${fsck.stdout}${fsck.stderr}`);
      run("mount", ["-o", "loop,errors=remount-ro", image, state]);
      mounted = true;
      // A commit under way at the error may turn out durable after all (its fsync failed, its WAL frames were written
      // anyway): then the store holds it, once, although the agent counted it lost. Never fewer than were committed.
      const afterFsck = (await status(file)).sensors[0]!.lastSeq;
      assert.ok(afterFsck >= lastCommitted, `every committed reading survived: ${afterFsck} < ${lastCommitted}`);
      // This time the sensor is unplugged after 3 s, so production stops and every committed reading can go out.
      configFor(server, work, state, bme280s("r", 1, "200ms", "3s"));
      const second = AgentProcess.start(file);
      try {
        await second.waitForMessage("online", 30_000);
        await second.waitForMessage("sensor failed", 15_000);
        assert.ok((await status(file)).sensors[0]!.lastSeq > afterFsck, "new readings committed after the restart");
        await waitUntil(async () => (await status(file)).unsent === 0, "the outbox drained", 15_000);
      } finally {
        assert.equal(await second.stop(), 0);
      }
      ops = await Observer.connect(server, "ops", "ops-secret");
      await assertNodeMatchesStore(ops, server, join(state, "xedge.db"), "r1");
    } finally {
      await ops?.close().catch(() => undefined);
      if (mounted) run("umount", ["-l", state]);
    }
  });
});

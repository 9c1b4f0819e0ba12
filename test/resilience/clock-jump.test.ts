// The wall clock jumps under the running agent bundle, with a real Prosody: the agent starts on a clock that
// timesyncd has not synchronized yet and restarts once, NTP then steps it 3 hours forward and declares it synchronized, and a
// minute-sized step back follows while a timed set runs (it must last its time, not its time plus the step). libfaketime (Debian's faketime package) moves the agent's wall clock through a
// file the test rewrites (FAKETIME_TIMESTAMP_FILE, re-read every second), and leaves its monotonic clock real
// (FAKETIME_DONT_FAKE_MONOTONIC); timesyncd's flag file is a path in the test's folder (XEDGE_CLOCK_SYNC_FILE).
// Node reads the wall clock with clock_gettime(CLOCK_REALTIME) through libc, which the preloaded library answers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { AgentProcess, writeAgentConfig, type LogLine } from "../support/agent.ts";
import { Observer, type Item } from "../support/observer.ts";
import { range, sortedIds, status } from "../support/accounting.ts";
import { Store } from "../../agent/store.ts";
import { xml } from "../../agent/xmpp/client.ts";

/** Debian's multi-threaded libfaketime (Node runs threads), in the machine's multiarch folder. */
const LIBFAKETIME = `/usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu/faketime/libfaketimeMT.so.1`;
const FAST_LINK = "  pingInterval: 1s\n  pingTimeout: 500ms\n  reconnect: { initialDelay: 200ms, maxDelay: 1s }";
const HOURS_3 = 3 * 3_600_000;
const MINUTES_2 = 2 * 60_000;
/** The alert's `for:`: both jumps fall inside it. */
const FOR_MS = 8_000;
/** A timed set made just before the step back: it must still last this long, not this plus the step. */
const TIMED_MS = 6_000;

/** The index of the first reading taken on the synchronized clock. */
function firstTrustedOf(history: readonly { clock?: string }[]): number {
  return history.findIndex((reading) => reading.clock === undefined);
}

/** The timestamp and the timestamp QoS flags of a pubsub item's first field. */
function stampOf(item: Item): { at: number; timeOffset: boolean; warning: boolean } {
  const timestamp = item.payload?.getChild("node")?.getChild("timestamp");
  const field = timestamp?.getChildElements()[0];
  return { at: Date.parse(String(timestamp?.attrs.value)), timeOffset: field?.attrs.timeOffset === "true", warning: field?.attrs.warning === "true" };
}

describe("the wall clock jumps under the running agent, on Prosody", { skip: existsSync(LIBFAKETIME) ? false : `needs ${LIBFAKETIME} (apt-get install faketime)` }, () => {
  let server: XmppTestServer;
  let dir: string;
  before(async () => {
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", ops: "ops-secret" }, pubsubAdmins: ["gw1@localhost"] });
    dir = mkdtempSync(join(tmpdir(), "xedge-clock-jump-"));
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("marks readings until NTP syncs, then corrects them; order, item ids and for: ignore both jumps", async () => {
    const timesync = join(dir, "timesync");
    mkdirSync(timesync);
    const syncFile = join(timesync, "synchronized");
    const offsetFile = join(dir, "faketime");
    writeFileSync(offsetFile, "+0\n");
    const { file } = writeAgentConfig(
      server,
      {
        xmppExtra: FAST_LINK,
        operators: [{ jid: "ops@localhost", role: "control" }],
        extra: `alerts:\n  - { id: warm, sensor: boiler, field: temperature, above: -100, for: ${FOR_MS}ms, notify: [ops@localhost] }`,
        devices: [
          "sensors:",
          "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 200ms }",
          "actuators:",
          "  - { id: pump, driver: gpio-output, gpio: { pin: 22 }, safeState: off }",
        ].join("\n"),
      },
      dir,
    );
    const environment = {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_CACHE_DURATION: "1",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
      XEDGE_CLOCK_SYNC_FILE: syncFile,
    };
    let agent = AgentProcess.start(file, environment);
    const ops = await Observer.connect(server, "ops", "ops-secret");
    const chat: string[] = [];
    ops.onMessage((message) => {
      const body = message.getChildText("body");
      if (body !== null && String(message.attrs.from).startsWith("gw1@localhost")) chat.push(body);
    });
    const said = (pattern: RegExp, timeoutMs: number) => ops.until(() => chat.find((body) => pattern.test(body)), (body) => body !== undefined, timeoutMs, `a message matching ${String(pattern)}`);
    const node = "xedge/gw1/boiler";
    const jumpLine = (direction: string) => (line: LogLine) => line.message.startsWith(`clock jumped ${direction} by `);
    let backward: LogLine | undefined;
    try {
      const unsynced = await agent.waitForMessage("clock not synchronized yet: readings are marked until it is, then corrected from the monotonic clock", 15_000);
      assert.equal(unsynced.syncFile, syncFile);
      await agent.waitForMessage("online", 30_000);
      await ops.until(() => ops.items(server.pubsubService, node), (items) => items.length >= 3, 10_000, "three readings published before the sync");
      const report = (await status(file)) as { agent?: { clockUnsynced?: string; health?: { text: string } } };
      assert.equal(report.agent?.clockUnsynced, "clock not synchronized");
      assert.match(String(report.agent?.health?.text), /clock not synchronized/);

      // The agent restarts before NTP reaches a server: the same boot, so its first process's readings are
      // corrected at the sync too.
      assert.equal(await agent.stop(), 0);
      agent = AgentProcess.start(file, environment);
      await agent.waitForMessage("online", 30_000);

      // NTP steps the clock 3 hours forward, then timesyncd says it is synchronized.
      writeFileSync(offsetFile, `+${HOURS_3 / 1000}\n`);
      const forward = await agent.waitForLog(jumpLine("forward"), 10_000);
      assert.equal(forward.message, "clock jumped forward by 3 h");
      assert.ok(Math.abs(Number(forward.byMs) - HOURS_3) < 1_000, `the jump's size: ${String(forward.byMs)}`);
      assert.equal(forward.synchronized, false);
      writeFileSync(syncFile, "");
      const synchronized = await agent.waitForMessage("clock synchronized: readings taken before it are corrected from the monotonic clock", 10_000);
      assert.ok(Number(synchronized.corrected) >= 3, `corrected: ${String(synchronized.corrected)}`);
      assert.equal(agent.logs.some((line) => line.message === "alert fired"), false, "a jump forward of hours fires no for: early");

      // A timed set, then two minutes back while it runs.
      await ops.send(xml("message", { to: "gw1@localhost/edge", type: "chat" }, xml("body", {}, `set pump state on for ${TIMED_MS / 1000}s`)));
      await said(/^Done: pump state = true for 6s/, 10_000);
      const timedFrom = Date.now();
      writeFileSync(offsetFile, `+${(HOURS_3 - MINUTES_2) / 1000}\n`);
      backward = await agent.waitForLog(jumpLine("backward"), 10_000);
      assert.equal(backward.message, "clock jumped backward by 2 min");
      assert.equal(backward.synchronized, true);
      await said(/^Switched pump state back to false/, TIMED_MS + 10_000);
      const lasted = Date.now() - timedFrom;
      assert.ok(lasted < TIMED_MS + 4_000, `switched back after ${lasted} ms of real time, not the step's 2 minutes more`);

      // The alert fires once its condition held FOR_MS of real time, from the first reading (taken at real time).
      const fired = await agent.waitForMessage("alert fired", FOR_MS + 10_000);
      const heldFor = Date.now() - Date.parse(String(fired.since));
      assert.ok(heldFor >= FOR_MS - 500 && heldFor < FOR_MS + 4_000, `fired after ${heldFor} ms of real time`);
      const last = (await status(file)).sensors[0]?.lastSeq ?? 0;
      await ops.until(() => ops.items(server.pubsubService, node), (items) => (sortedIds(items).at(-1) ?? 0) >= last, 10_000, `#${last} published`);
    } finally {
      await agent.stop();
    }

    const items = await ops.items(server.pubsubService, node);
    await ops.close();
    const store = await Store.open(join(dir, "xedge.db"), { commitIntervalMs: 60_000 });
    try {
      const history = await store.history("boiler");
      const seqs = history.map((reading) => reading.seq);
      assert.deepEqual(seqs, range(1, seqs.length), "every sequence number once, in order, whatever the clock did");
      const ids = sortedIds(items);
      assert.deepEqual(ids, range(1, ids.length), "the node holds 1..n, each item id once");
      assert.ok(ids.length > firstTrustedOf(history) && ids.length <= seqs.length, `items up to #${ids.length} of ${seqs.length}`);
      const kinds = history.map((reading) => reading.clock ?? "trusted");
      const firstTrusted = firstTrustedOf(history);
      assert.ok(firstTrusted >= 3, `corrected readings first: ${kinds.join(",")}`);
      assert.deepEqual(new Set(kinds.slice(0, firstTrusted)), new Set(["corrected"]), "every reading taken before the sync is corrected, the first process's too");
      const correctedTimes = history.slice(0, firstTrusted).map((reading) => reading.timestamp.getTime());
      const gaps = correctedTimes.slice(1).map((time, i) => time - (correctedTimes[i] ?? 0));
      assert.ok(gaps.every((gap) => gap > 0 && gap < 10_000), `corrected readings in order, the restart a few seconds, not hours: ${gaps.join(",")}`);
      assert.deepEqual(new Set(kinds.slice(firstTrusted)), new Set(["trusted"]));
      // Corrected timestamps sit before the first one taken on the synchronized clock, as their order says.
      const lastCorrected = history[firstTrusted - 1]?.timestamp.getTime() ?? 0;
      const firstSynced = history[firstTrusted]?.timestamp.getTime() ?? 0;
      assert.ok(lastCorrected <= firstSynced && firstSynced - lastCorrected < 2_000, `corrected ${lastCorrected}, then ${firstSynced}`);
      const bySeq = new Map(history.map((reading) => [reading.seq, reading]));
      let publishedUnsynced = 0;
      for (const item of items) {
        const stored = bySeq.get(Number(item.id));
        const wire = stampOf(item);
        if (wire.warning) {
          // Published before the sync, flagged: left on the node as it was; the store holds it corrected.
          publishedUnsynced += 1;
          assert.equal(wire.timeOffset, true);
          assert.equal(stored?.clock, "corrected");
          // Taken before the step: moved by it; taken between the step and the sync: already right.
          const moved = (stored?.timestamp.getTime() ?? 0) - wire.at;
          assert.ok(Math.abs(moved - HOURS_3) < 100 || Math.abs(moved) < 100, `item ${item.id} corrected by ${moved} ms`);
        } else {
          assert.equal(wire.timeOffset, stored?.clock === "corrected", `item ${item.id}: timeOffset exactly on corrected readings`);
          assert.equal(wire.at, stored?.timestamp.getTime(), `item ${item.id} carries the store's timestamp`);
        }
      }
      assert.ok(publishedUnsynced >= 3, `readings published before the sync carry timeOffset and warning: ${publishedUnsynced}`);
      // A history query over the two minutes the clock went back finds the readings from both sides, in order.
      const jumpedAt = Date.parse(String(backward?.to));
      const around = await store.history("boiler", { from: new Date(jumpedAt - 1_000), to: new Date(jumpedAt + MINUTES_2 + 1_000) });
      assert.ok(around.length > 0);
      assert.deepEqual(around.map((reading) => reading.seq), [...around.map((reading) => reading.seq)].sort((a, b) => a - b));
    } finally {
      await store.close();
    }
  });
});

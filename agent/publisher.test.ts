// The publisher with a real store (temp SQLite file) and an in-memory sink whose publishes the test settles
// one by one, standing in for the server's iq results.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { after, afterEach, before, describe, it } from "node:test";
import type { Logger } from "./log.ts";
import type { Reading, Sample } from "../lib/model.ts";
import { PublishError, Publisher, type PublisherOptions, type PublishSink } from "./publisher.ts";
import { Store, type StoredReading } from "./store.ts";

interface Call {
  reading: StoredReading;
  settled: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

function isStored(reading: Reading): reading is StoredReading {
  return typeof (reading as Partial<StoredReading>).id === "number";
}

/** Records every publish in order; each stays pending until the test resolves or rejects it. */
class FakeSink implements PublishSink {
  readonly calls: Call[] = [];
  resets = 0;
  /** Most publishes unsettled at one moment. */
  maxPending = 0;
  /** When set, every publish resolves on its own (after a turn of the event loop). */
  autoResolve = false;
  /** Called as each publish arrives, before it is recorded. */
  onPublish: ((reading: StoredReading) => void) | undefined;

  publish(reading: Reading): Promise<void> {
    assert.ok(isStored(reading), "the publisher hands the sink stored readings");
    this.onPublish?.(reading);
    return new Promise<void>((resolve, reject) => {
      const call: Call = {
        reading,
        settled: false,
        resolve: () => {
          assert.equal(call.settled, false, `${label(reading)} settled twice`);
          call.settled = true;
          resolve();
        },
        reject: (error: unknown) => {
          assert.equal(call.settled, false, `${label(reading)} settled twice`);
          call.settled = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      };
      this.calls.push(call);
      this.maxPending = Math.max(this.maxPending, this.pending().length);
      if (this.autoResolve) setImmediate(() => call.resolve());
    });
  }

  reset(): void {
    this.resets += 1;
  }

  pending(): Call[] {
    return this.calls.filter((call) => !call.settled);
  }

  /** Labels of everything published so far, in order. */
  sent(): string[] {
    return this.calls.map((call) => label(call.reading));
  }

  /** The unsettled publish of a reading. */
  call(labelText: string): Call {
    const found = this.pending().find((c) => label(c.reading) === labelText);
    assert.ok(found, `${labelText} is not in flight (in flight: ${this.pending().map((c) => label(c.reading)).join(", ")})`);
    return found;
  }
}

const label = (reading: Reading) => `${reading.sensorId}#${reading.seq}`;

const silentLog: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Polls until `condition` holds; fails (does not measure time) if it never does. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets pending promise callbacks and the store's queued SQLite work run. */
async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

let dir: string;
let dbCount = 0;
let open: { store: Store; publisher: Publisher }[] = [];

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
let tick = 0;
const sample = (sensorId: string): Sample => ({
  sensorId,
  timestamp: new Date(T0 + ++tick * 1000),
  fields: [{ name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2 }],
});

async function setup(options: PublisherOptions): Promise<{ store: Store; sink: FakeSink; publisher: Publisher }> {
  const store = await Store.open(join(dir, `publisher-${++dbCount}.db`), { commitIntervalMs: 3_600_000 });
  const sink = new FakeSink();
  const publisher = new Publisher(store, sink, options, silentLog);
  open.push({ store, publisher });
  return { store, sink, publisher };
}

/** Appends readings for the given sensors (in that order) and commits them. */
async function commit(store: Store, sensors: string[]): Promise<void> {
  for (const sensor of sensors) store.append(sample(sensor));
  await store.flush();
}

const unsent = async (store: Store) => (await store.status()).unsent;

describe("Publisher", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xedge-publisher-test-"));
  });

  afterEach(async () => {
    for (const { store, publisher } of open) {
      publisher.stop();
      await store.close();
    }
    open = [];
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes the outbox in commit order, each sensor in seq order", async () => {
    const { store, sink, publisher } = await setup({ window: 2 });
    await commit(store, ["a", "b", "a", "a", "b", "c", "a"]);
    publisher.resume();
    const expected = ["a#1", "b#1", "a#2", "a#3", "b#2", "c#1", "a#4"];
    for (let n = 0; n < expected.length; n++) {
      await until(() => sink.calls.length > n, `publish ${n + 1} is sent`);
      sink.call(expected[n] ?? "").resolve();
    }
    await until(() => sink.pending().length === 0 && sink.calls.length === expected.length, "all are sent");
    assert.deepEqual(sink.sent(), expected);
    await until(() => publisher.lastPublished !== undefined, "lastPublished is set");
    assert.equal(await unsent(store), 0);
  });

  it("sends a reading once when the outbox read itself commits it", async () => {
    const { store, sink, publisher } = await setup({ window: 5 });
    sink.autoResolve = true;
    await commit(store, ["boiler", "boiler"]);
    // Appended, not committed: the publisher's first outbox read commits it, so the reading reaches the
    // publisher both through the commit listener and in the page.
    store.append(sample("boiler"));
    publisher.resume();
    await until(() => sink.calls.length >= 3 && sink.pending().length === 0, "the outbox drains");
    await settle();
    assert.deepEqual(sink.sent(), ["boiler#1", "boiler#2", "boiler#3"]);
    assert.equal(await unsent(store), 0);
  });

  it("keeps at most `window` publishes in flight", async () => {
    const { store, sink, publisher } = await setup({ window: 3 });
    await commit(store, Array.from({ length: 10 }, () => "boiler"));
    publisher.resume();
    await until(() => sink.calls.length === 3, "the window is full");
    await settle();
    assert.equal(sink.calls.length, 3, "nothing beyond the window is sent");

    sink.call("boiler#1").resolve();
    await until(() => sink.calls.length === 4, "one more is sent for the one acknowledged");
    await settle();
    assert.equal(sink.pending().length, 3);

    // Drain the rest one acknowledgement at a time.
    while (sink.calls.length < 10 || sink.pending().length > 0) {
      const [first] = sink.pending();
      if (first) first.resolve();
      await settle(2);
    }
    assert.equal(sink.maxPending, 3);
    assert.deepEqual(
      sink.sent(),
      Array.from({ length: 10 }, (_, n) => `boiler#${n + 1}`),
    );
  });

  it("marks a reading published only once the sink resolves", async () => {
    const { store, sink, publisher } = await setup({ window: 2 });
    const published: string[] = [];
    publisher.on("published", (reading) => published.push(label(reading)));
    // Read through a function: an assertion on the getter would narrow its type for the rest of the test.
    const lastPublished = (): Date | undefined => publisher.lastPublished;
    await commit(store, ["boiler", "boiler", "boiler"]);
    publisher.resume();
    await until(() => sink.calls.length === 2, "two are in flight");
    await settle();
    assert.equal(await unsent(store), 3, "sent but unacknowledged readings stay in the outbox");
    assert.deepEqual(published, []);
    assert.equal(lastPublished(), undefined);

    sink.call("boiler#1").resolve();
    await until(() => published.length === 1, "boiler#1 is acknowledged");
    assert.equal(await unsent(store), 2);
    assert.deepEqual(
      (await store.unsent(0, 10)).map(label),
      ["boiler#2", "boiler#3"],
    );
    assert.ok(lastPublished() instanceof Date);

    sink.call("boiler#2").resolve();
    await until(() => sink.calls.length === 3, "boiler#3 is sent");
    sink.call("boiler#3").resolve();
    await until(() => published.length === 3, "all are acknowledged");
    assert.deepEqual(published, ["boiler#1", "boiler#2", "boiler#3"]);
    assert.equal(await unsent(store), 0);
  });

  it("sets aside a reading the service refuses for good, and goes on with that sensor's and the others' readings", async () => {
    const { store, sink, publisher } = await setup({ window: 3 });
    const setAside: string[] = [];
    publisher.on("setAside", (reading, reason) => setAside.push(`${label(reading)}: ${reason}`));
    await commit(store, ["gps", "gps", "boiler", "gps"]);
    publisher.resume();
    await until(() => sink.calls.length === 3, "the window is full");
    sink.call("gps#1").reject(new PublishError("payload-too-big", "rejected"));
    await until(() => sink.calls.length === 4, "the next reading takes its place in the window");
    for (const name of ["gps#2", "boiler#1", "gps#3"]) sink.call(name).resolve();
    await until(() => sink.pending().length === 0, "all are settled");
    await settle();
    assert.deepEqual(sink.sent(), ["gps#1", "gps#2", "boiler#1", "gps#3"], "each sent once: nothing is re-sent");
    assert.equal(sink.resets, 0, "a refused reading does not restart the pipeline");
    assert.deepEqual(setAside, ["gps#1: payload-too-big"]);
    assert.equal(await unsent(store), 0);
    assert.equal(store.setAsideCount, 1);
    assert.deepEqual((await store.history("gps")).map(label), ["gps#1", "gps#2", "gps#3"], "the refused reading is kept");
    await commit(store, ["gps"]);
    await until(() => sink.calls.length === 5, "a later reading of the same sensor is sent");
    assert.deepEqual(sink.sent().slice(4), ["gps#4"]);
  });

  it("after a rejection re-sends everything unacknowledged from the failed reading, ignoring the failed generation's results", async () => {
    const { store, sink, publisher } = await setup({ window: 3, retryDelayMs: 10 });
    const published: string[] = [];
    publisher.on("published", (reading) => published.push(label(reading)));
    await commit(store, ["a", "b", "a", "b", "a", "b"]);
    publisher.resume();
    await until(() => sink.calls.length === 3, "the window is full");
    assert.deepEqual(sink.sent(), ["a#1", "b#1", "a#2"]);

    sink.call("a#1").resolve();
    await until(() => sink.calls.length === 4, "b#2 is sent after a#1 is acknowledged");
    const resetsBefore = sink.resets;
    sink.call("b#1").reject(new PublishError("item-not-found", "transient"));
    await until(() => sink.resets === resetsBefore + 1, "the sink is reset after the failure");
    // Results of publishes made before the failure arrive late: they must not count.
    sink.call("a#2").resolve();
    sink.call("b#2").resolve();
    await settle();
    assert.deepEqual(published, ["a#1"]);
    assert.equal(await unsent(store), 5, "only a#1 left the outbox");

    await until(() => sink.calls.length === 7, "the retry re-sends a full window");
    assert.deepEqual(sink.sent().slice(4), ["b#1", "a#2", "b#2"], "re-sent in order from the failed reading");
    for (const name of ["b#1", "a#2", "b#2"]) sink.call(name).resolve();
    await until(() => sink.calls.length === 9, "a#3 and b#3 are sent");
    sink.call("a#3").resolve();
    sink.call("b#3").resolve();
    await until(() => published.length === 6, "all are acknowledged");
    assert.deepEqual(published, ["a#1", "b#1", "a#2", "b#2", "a#3", "b#3"]);
    assert.equal(await unsent(store), 0);
  });

  it("sends nothing newer while waiting to retry a failed reading", async () => {
    // The delay is long next to one SQLite commit, so the commit below surely falls inside it.
    const { store, sink, publisher } = await setup({ window: 2, retryDelayMs: 500 });
    await commit(store, ["boiler"]);
    publisher.resume();
    await until(() => sink.calls.length === 1, "boiler#1 is sent");
    sink.call("boiler#1").reject(new PublishError("remote-server-timeout", "transient"));
    await until(() => sink.resets === 1, "the failure is handled");
    // A reading committed during the retry delay must wait for boiler#1.
    await commit(store, ["boiler"]);
    await settle();
    assert.deepEqual(sink.sent(), ["boiler#1"]);

    await until(() => sink.calls.length === 3, "the retry sends boiler#1 and boiler#2");
    assert.deepEqual(sink.sent(), ["boiler#1", "boiler#1", "boiler#2"]);
    sink.call("boiler#1").resolve();
    sink.call("boiler#2").resolve();
    await until(() => sink.pending().length === 0, "both are acknowledged");
    assert.equal(await unsent(store), 0);
  });

  it("pause() stops sending; resume() re-sends what was in flight", async () => {
    const { store, sink, publisher } = await setup({ window: 2 });
    await commit(store, ["boiler", "boiler", "boiler"]);
    publisher.resume();
    await until(() => sink.calls.length === 2, "two are in flight");

    publisher.pause();
    assert.equal(sink.resets, 1, "pause() resets the sink's session state");
    // The link is gone: a result that still arrives is not trusted.
    sink.call("boiler#1").resolve();
    await commit(store, ["boiler"]);
    await settle();
    assert.equal(sink.calls.length, 2, "nothing is sent while paused");
    assert.equal(await unsent(store), 4, "what was in flight stays in the outbox");

    publisher.resume();
    await until(() => sink.calls.length === 4, "the window is refilled");
    assert.deepEqual(sink.sent(), ["boiler#1", "boiler#2", "boiler#1", "boiler#2"]);
    sink.autoResolve = true;
    for (const call of sink.pending()) call.resolve();
    await until(() => sink.calls.length === 6 && sink.pending().length === 0, "the outbox drains");
    assert.deepEqual(sink.sent().slice(4), ["boiler#3", "boiler#4"]);
    assert.equal(await unsent(store), 0);
  });

  it("drains after resume() is called again while the first outbox page is still loading", async () => {
    const { store, sink, publisher } = await setup({ window: 2 });
    sink.autoResolve = true;
    await commit(store, ["boiler", "boiler", "boiler"]);
    // A link flap: online, offline, online again before the outbox read returns.
    publisher.resume();
    publisher.pause();
    publisher.resume();
    await until(() => sink.calls.length === 3 && sink.pending().length === 0, "the outbox drains");
    assert.deepEqual(sink.sent(), ["boiler#1", "boiler#2", "boiler#3"]);
    assert.equal(await unsent(store), 0);
  });

  it("drains a backlog larger than a page, in order, including readings committed while pages load", async () => {
    const { store, sink, publisher } = await setup({ window: 2, pageSize: 5 });
    const backlogSensors = ["a", "b", "c"];
    await commit(store, Array.from({ length: 23 }, (_, n) => backlogSensors[n % 3] ?? "a"));

    // On every outbox read, commit two "late" readings after the page's query and before the publisher has
    // the page: they are in neither that page nor, when it is the last page, any later one.
    const loadUnsent = store.unsent.bind(store);
    let pagesLoaded = 0;
    let lastPagesWithLateCommit = 0;
    store.unsent = async (afterId: number, limit: number) => {
      const page = await loadUnsent(afterId, limit);
      pagesLoaded += 1;
      if (page.length < limit) lastPagesWithLateCommit += 1;
      await commit(store, ["late", "late"]);
      return page;
    };
    // And for each backlog reading the sink sees, append (without committing) a "mid" one: the next outbox
    // read commits it, so it arrives both through the commit listener and in the page.
    sink.onPublish = (reading) => {
      if (backlogSensors.includes(reading.sensorId)) store.append(sample("mid"));
    };
    sink.autoResolve = true;
    publisher.resume();

    await until(() => lastPagesWithLateCommit > 0 && sink.calls.length > 23 && sink.pending().length === 0, "the backlog drains");
    // Once idle, a final commit (which also commits any "mid" appended last) is still picked up.
    sink.onPublish = undefined;
    await commit(store, ["z"]);
    await until(() => sink.sent().includes("z#1") && sink.pending().length === 0, "the final reading is sent");
    await settle();

    assert.deepEqual(await loadUnsent(0, 1000), [], "the outbox is empty");
    assert.ok(pagesLoaded > 5, `several pages were loaded (${pagesLoaded})`);
    assert.equal(lastPagesWithLateCommit, 1, "readings were committed while the last page loaded");

    // Every committed reading was sent exactly once, in commit (id) order, so every sensor in seq order.
    const ids = sink.calls.map((call) => call.reading.id);
    assert.deepEqual(
      ids,
      ids.map((_, n) => n + 1),
      "ids 1..N, each once, in order",
    );
    const seqs = new Map<string, number[]>();
    for (const call of sink.calls) seqs.set(call.reading.sensorId, [...(seqs.get(call.reading.sensorId) ?? []), call.reading.seq]);
    for (const [sensor, list] of seqs) {
      assert.deepEqual(
        list,
        list.map((_, n) => n + 1),
        `${sensor} in seq order`,
      );
    }
    assert.equal(seqs.get("mid")?.length, 23, "one mid per backlog reading");
    assert.equal(seqs.get("late")?.length, 2 * pagesLoaded, "two late per page load");
    assert.equal(sink.calls.length, 23 + 23 + 2 * pagesLoaded + 1);
  });
});

// The w1 sysfs reader on sysfs-shaped folders: the one implementation behind both backends.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HardwareAccessError } from "../hal.ts";
import { openW1Sysfs, W1_DEVICES } from "./onewire.ts";

const folder = mkdtempSync(join(tmpdir(), "xedge-w1-test-"));
after(() => rmSync(folder, { recursive: true, force: true }));

describe("w1 sysfs reader", () => {
  test("lists devices (not bus masters), reads w1_slave, and says when a device is gone", async () => {
    const root = join(folder, "devices");
    for (const entry of ["w1_bus_master1", "28-0316a2795aff", "10-000802b4a3c1"]) mkdirSync(join(root, entry), { recursive: true });
    writeFileSync(join(root, "28-0316a2795aff", "w1_slave"), "text");
    const w1 = openW1Sysfs(root);
    assert.deepEqual(await w1.list(), ["10-000802b4a3c1", "28-0316a2795aff"]);
    assert.equal(await w1.readSlave("28-0316a2795aff"), "text");
    await assert.rejects(w1.readSlave("28-000000000001"), { code: "ENOENT", message: /^no such device on the bus \(.*28-000000000001\/w1_slave is missing\)$/ });
    await assert.rejects(w1.readSlave("../etc"), /is not a 1-Wire device id/);
  });

  test("a missing tree is HardwareAccessError telling how to enable 1-Wire", async () => {
    const w1 = openW1Sysfs(join(folder, "absent"));
    const expected = (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /absent: 1-Wire is not enabled: run `sudo raspi-config nonint do_onewire 0` \(it adds dtoverlay=w1-gpio to \/boot\/firmware\/config.txt: data on GPIO 4, header pin 7\) and reboot$/);
      return true;
    };
    await assert.rejects(w1.list(), expected);
    await assert.rejects(w1.readSlave("28-0316a2795aff"), expected);
    assert.equal(W1_DEVICES, "/sys/bus/w1/devices");
  });
});

describe("w1 reads per bus master", () => {
  /** A sysfs tree with two masters whose w1_slave files are FIFOs: a read blocks until the test answers it. */
  function fifoTree(): { root: string; slave: (id: string) => string } {
    const sys = join(folder, "sys");
    const root = join(sys, "bus/w1/devices");
    mkdirSync(root, { recursive: true });
    const placement = { "28-000000000001": "w1_bus_master1", "28-000000000002": "w1_bus_master1", "28-000000000003": "w1_bus_master2" };
    for (const [id, master] of Object.entries(placement)) {
      mkdirSync(join(sys, "devices", master, id), { recursive: true });
      execFileSync("mkfifo", [join(sys, "devices", master, id, "w1_slave")]);
      symlinkSync(`../../../devices/${master}/${id}`, join(root, id));
    }
    return { root, slave: (id) => join(root, id, "w1_slave") };
  }

  /** A writer on the FIFO, which exists only while a reader has it open (ENXIO otherwise). */
  function writerOf(path: string): number {
    return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  }

  test("reads on one master wait for each other; reads on another master do not", { timeout: 30_000 }, async () => {
    const { root, slave } = fifoTree();
    const w1 = openW1Sysfs(root);
    const onMaster1 = ["28-000000000001", "28-000000000002"];
    const onMaster2 = "28-000000000003";
    const ids = [...onMaster1, onMaster2];
    const reads = new Map(ids.map((id) => [id, w1.readSlave(id)]));
    const readOf = (id: string): Promise<string> => reads.get(id) ?? assert.fail(`no read of ${id}`);
    // The writer held on each FIFO whose read is in flight; closing it ends that read.
    const writers = new Map<string, number>();
    /** Holds a writer on `id`'s FIFO if its read has it open; false if no read has. */
    const holdWriter = (id: string): boolean => {
      try {
        writers.set(id, writerOf(slave(id)));
        return true;
      } catch (error) {
        if (error instanceof Error && "code" in error && error.code === "ENXIO") return false;
        throw error;
      }
    };
    /** Waits until the read of one of `candidates` is in flight, holds a writer on it and says which. */
    const inFlight = async (...candidates: string[]): Promise<string> => {
      const deadline = performance.now() + 5_000;
      for (;;) {
        const found = candidates.find(holdWriter);
        if (found !== undefined) return found;
        if (performance.now() > deadline) assert.fail(`no read of ${candidates.join(" or ")} opened its w1_slave within 5 s`);
        await sleep(20);
      }
    };
    /** Closes the writer held on `id`'s FIFO, after `text`: its read ends with what was written. */
    const answer = (id: string, text = "") => {
      const writer = writers.get(id);
      assert.ok(writer !== undefined, `${id} has no reader`);
      if (text !== "") writeSync(writer, text);
      closeSync(writer);
      writers.delete(id);
    };
    try {
      // Each read first looks up its master, so the two on master 1 may take its queue in either order; whichever
      // goes first, the other waits for it.
      const first = await inFlight(...onMaster1);
      const second = onMaster1.find((id) => id !== first) ?? assert.fail("two reads on master 1");
      // Master 2's read runs while master 1's still waits for its answer.
      await inFlight(onMaster2);
      await sleep(200);
      assert.equal(holdWriter(second), false, "a second read on master 1 started before the first ended");
      answer(first, "first");
      assert.equal(await readOf(first), "first");
      await inFlight(second);
      answer(second, "second");
      answer(onMaster2, "third");
      assert.deepEqual(await Promise.all([first, second, onMaster2].map(readOf)), ["first", "second", "third"]);
    } finally {
      // Whatever failed, end every read: one blocked in open() holds a threadpool thread, and the process could never
      // exit. A writer opened and closed at once ends the read that has its FIFO open, with nothing read; the next
      // read on that master then opens its own, so this goes on until every read has settled.
      let settled = false;
      const allSettled = Promise.allSettled(reads.values()).then(() => void (settled = true));
      while (!settled) {
        for (const id of ids) if (writers.has(id) || holdWriter(id)) answer(id);
        await sleep(20);
      }
      await allSettled;
    }
  });
});

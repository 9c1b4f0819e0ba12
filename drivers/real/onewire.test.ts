// The w1 sysfs reader on sysfs-shaped folders: the one implementation behind both backends.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually } from "../../firmware-sim/serial/testing.ts";
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

  test("reads on one master wait for each other; reads on another master do not", async () => {
    const { root, slave } = fifoTree();
    const w1 = openW1Sysfs(root);
    const [firstOn1, secondOn1, onMaster2] = ["28-000000000001", "28-000000000002", "28-000000000003"] as const;
    const ids = [firstOn1, secondOn1, onMaster2];
    const reads = ids.map((id) => w1.readSlave(id));
    // The writer held on each FIFO whose read is in flight; closing it ends that read.
    const writers = new Map<string, number>();
    const answered = new Set<string>();
    const inFlight = async (id: string) => writers.set(id, await eventually(async () => writerOf(slave(id))));
    const answer = (id: string, text: string) => {
      const writer = writers.get(id);
      assert.ok(writer !== undefined, `${id} has no reader`);
      writeSync(writer, text);
      closeSync(writer);
      writers.delete(id);
      answered.add(id);
    };
    try {
      await inFlight(firstOn1);
      // Master 2's read runs while master 1's still waits for its answer.
      await inFlight(onMaster2);
      await sleep(200);
      assert.throws(() => writers.set(secondOn1, writerOf(slave(secondOn1))), { code: "ENXIO" }, "a second read on master 1 started before the first ended");
      answer(firstOn1, "first");
      assert.equal(await reads[0], "first");
      await inFlight(secondOn1);
      answer(secondOn1, "second");
      answer(onMaster2, "third");
      assert.deepEqual(await Promise.all(reads), ["first", "second", "third"]);
    } finally {
      // Whatever failed, end every read still blocked in a threadpool thread.
      for (const id of ids.filter((unread) => !answered.has(unread))) {
        if (!writers.has(id)) await inFlight(id).catch(() => undefined);
        const writer = writers.get(id);
        if (writer !== undefined) closeSync(writer);
      }
      await Promise.allSettled(reads);
    }
  });
});

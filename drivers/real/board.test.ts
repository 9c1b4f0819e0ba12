// Board facts from a board's files laid out in temporary folders, with real symlinks.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isRaspberryPi, openBoard } from "./board.ts";

const folders: string[] = [];
after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

function root(files: Record<string, string>): string {
  const folder = mkdtempSync(join(tmpdir(), "xedge-board-test-"));
  folders.push(folder);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(folder, path, ".."), { recursive: true });
    writeFileSync(join(folder, path), text);
  }
  return folder;
}

describe("board facts", () => {
  test("the device-tree model, NUL-terminated, from /proc or else /sys; none on a PC", async () => {
    assert.equal(await openBoard({ root: root({ "proc/device-tree/model": "Raspberry Pi 5 Model B Rev 1.0\0" }) }).model(), "Raspberry Pi 5 Model B Rev 1.0");
    assert.equal(await openBoard({ root: root({ "sys/firmware/devicetree/base/model": "Raspberry Pi 4 Model B Rev 1.4\0" }) }).model(), "Raspberry Pi 4 Model B Rev 1.4");
    assert.equal(await openBoard({ root: root({}) }).model(), undefined);
    assert.ok(isRaspberryPi("Raspberry Pi Compute Module 5 Rev 1.0"));
    assert.ok(!isRaspberryPi(undefined));
    assert.ok(!isRaspberryPi("Pine64 RockPro64 v2.1"));
  });

  test("a device path's node through chained symlinks; undefined when it is absent", async () => {
    const folder = root({ "dev/ttyAMA10": "" });
    symlinkSync("ttyAMA10", join(folder, "dev/serial0"));
    mkdirSync(join(folder, "dev/serial/by-path"), { recursive: true });
    symlinkSync("../../serial0", join(folder, "dev/serial/by-path/debug"));
    const board = openBoard({ root: folder });
    assert.equal(await board.deviceName("/dev/serial/by-path/debug"), "ttyAMA10");
    assert.equal(await board.deviceName("/dev/serial1"), undefined);
  });

  test("group membership: held by the process, listed for the user, or no such group", () => {
    const folder = root({ "etc/group": "gpio:x:997:pi,xedge\nusers:x:100:\n" });
    const board = (userName: string, groups: number[]) => openBoard({ root: folder, userName: () => userName, processGroups: () => groups });
    assert.deepEqual(board("pi", [100]).groupMembership("gpio"), { held: false, listed: true });
    assert.deepEqual(board("svc", [997]).groupMembership("gpio"), { held: true, listed: false });
    assert.equal(board("pi", []).groupMembership("i2c"), undefined);
    assert.equal(openBoard({ root: root({}) }).groupMembership("gpio"), undefined);
  });
});

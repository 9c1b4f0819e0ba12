// Naming the mount of the store's folder from the mount table, and telling read-only mounts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeCause, mountOf } from "./write-faults.ts";

// Lines as Linux writes them: the mount options in field 6, the filesystem's after " - " and its type and source.
const MOUNTINFO = [
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
  "45 27 179:2 / /var/lib rw,relatime - ext4 /dev/mmcblk0p2 rw,errors=remount-ro,emergency_ro",
  "46 27 0:50 / /var/lib-old rw,relatime - tmpfs tmpfs rw,size=4096k",
  "47 27 0:51 / /srv/state\\040dir ro,relatime - tmpfs tmpfs ro,size=4096k",
  "48 47 0:52 / /srv/state\\040dir/inner rw,relatime - tmpfs tmpfs rw",
  "",
].join("\n");

describe("mountOf", () => {
  it("finds the longest mount point holding the path, not a sibling sharing its prefix", () => {
    assert.deepEqual(mountOf("/var/lib/xedge", MOUNTINFO), { mountPoint: "/var/lib", readOnly: true });
    assert.deepEqual(mountOf("/var/lib-old/xedge", MOUNTINFO), { mountPoint: "/var/lib-old", readOnly: false });
    assert.deepEqual(mountOf("/home/pi", MOUNTINFO), { mountPoint: "/", readOnly: false });
  });

  it("reads escaped mount points and `ro` in the mount options", () => {
    assert.deepEqual(mountOf("/srv/state dir/xedge", MOUNTINFO), { mountPoint: "/srv/state dir", readOnly: true });
    assert.deepEqual(mountOf("/srv/state dir/inner/xedge", MOUNTINFO), { mountPoint: "/srv/state dir/inner", readOnly: false });
  });

  it("tells an ext4 remounted read-only by an error (emergency_ro) as read-only", () => {
    assert.equal(mountOf("/var/lib", MOUNTINFO)?.readOnly, true);
  });
});

describe("describeCause", () => {
  it("says what and where in a few words", () => {
    assert.equal(describeCause({ cause: "disk-full", mount: "/var/lib" }), "disk full on /var/lib");
    assert.equal(describeCause({ cause: "read-only", mount: "/var/lib" }), "read-only mount /var/lib");
    assert.equal(describeCause({ cause: "write-error", mount: "/" }), "write error on /");
  });
});

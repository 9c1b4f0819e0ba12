import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Authz, allows, bareJid } from "./authz.ts";

describe("authorization", () => {
  const authz = new Authz([
    { jid: "ops@example.net", role: "control" },
    { jid: "Viewer@Example.net", role: "read" },
    { jid: "root@example.net", role: "admin" },
  ]);

  it("matches every resource of a listed bare JID, ignoring case", () => {
    assert.equal(authz.roleOf("ops@example.net/gajim"), "control");
    assert.equal(authz.roleOf("viewer@example.net/phone"), "read");
    assert.equal(bareJid("A@B.net/Res"), "a@b.net");
  });

  it("lets read operators read but not control, and strangers do neither", () => {
    assert.equal(authz.canRead("viewer@example.net/x"), true);
    assert.equal(authz.canControl("viewer@example.net/x"), false);
    assert.equal(authz.canControl("ops@example.net/x"), true);
    assert.equal(authz.canRead("mallory@example.net/x"), false);
    assert.equal(authz.canRead("ops@example.net.evil/x"), false);
    assert.equal(authz.canRead(""), false);
  });

  it("lets admins read and control too; only admins administer", () => {
    assert.equal(authz.canRead("root@example.net/x"), true);
    assert.equal(authz.canControl("root@example.net/x"), true);
    assert.equal(authz.canAdminister("root@example.net/x"), true);
    assert.equal(authz.canAdminister("ops@example.net/x"), false);
    assert.equal(authz.canAdminister("viewer@example.net/x"), false);
    assert.deepEqual((["read", "control", "admin"] as const).map((needed) => allows("control", needed)), [true, true, false]);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Authz, bareJid } from "./authz.ts";

describe("authorization", () => {
  const authz = new Authz([
    { jid: "ops@example.net", role: "control" },
    { jid: "Viewer@Example.net", role: "read" },
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
});

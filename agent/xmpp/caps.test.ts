import { it } from "node:test";
import assert from "node:assert/strict";
import { capsVer } from "./caps.ts";

it("computes XEP-0115's simple example (§5.2)", () => {
  const ver = capsVer({
    identities: [{ category: "client", type: "pc", name: "Exodus 0.9.1" }],
    features: ["http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"],
  });
  assert.equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
});

it("sorts identities by category, type and language, features by octets", () => {
  const a = capsVer({ identities: [{ category: "client", type: "pc", lang: "en", name: "Psi" }, { category: "client", type: "pc", lang: "el", name: "Ψ" }], features: ["b", "a"] });
  const b = capsVer({ identities: [{ category: "client", type: "pc", lang: "el", name: "Ψ" }, { category: "client", type: "pc", lang: "en", name: "Psi" }], features: ["a", "b"] });
  assert.equal(a, b);
});

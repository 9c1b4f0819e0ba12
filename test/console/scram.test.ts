// The console's SCRAM (WebCrypto, here Node's globalThis.crypto) against the RFCs' own example exchanges,
// driven as xmpp.js drives a mechanism: response, challenge, response, with messages as one character per byte.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ScramMechanism } from "../../console/scram.ts";

const USER = { username: "user", password: "pencil" };

const RFC5802 = {
  clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
  clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
  serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

const RFC7677 = {
  clientNonce: "rOprNGfwEbeRWgbNEkqO",
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

describe("console: SCRAM on WebCrypto", () => {
  for (const [hash, rfc] of [["SHA-1", RFC5802], ["SHA-256", RFC7677]] as const) {
    it(`reproduces the RFC's SCRAM-${hash} exchange and accepts its server signature`, async () => {
      const mechanism = new ScramMechanism(hash, undefined, rfc.clientNonce);
      assert.equal(mechanism.name, `SCRAM-${hash}`);
      assert.equal(await mechanism.response(USER), rfc.clientFirst);
      await mechanism.challenge(rfc.serverFirst);
      assert.equal(await mechanism.response(USER), rfc.clientFinal);
      assert.equal(mechanism.serverVerified, false);
      mechanism.verifyServerFinal(rfc.serverFinal);
      assert.equal(mechanism.serverVerified, true);
    });
  }

  it("checks a server-final message sent as a last challenge, and answers it empty", async () => {
    const mechanism = new ScramMechanism("SHA-1", undefined, RFC5802.clientNonce);
    await mechanism.response(USER);
    await mechanism.challenge(RFC5802.serverFirst);
    await mechanism.response(USER);
    await mechanism.challenge(RFC5802.serverFinal);
    assert.equal(mechanism.serverVerified, true);
    assert.equal(await mechanism.response(USER), "");
  });

  it("refuses a server that does not know the password, a nonce it did not extend, and an error", async () => {
    const answered = async () => {
      const mechanism = new ScramMechanism("SHA-1", undefined, RFC5802.clientNonce);
      await mechanism.response(USER);
      await mechanism.challenge(RFC5802.serverFirst);
      return mechanism;
    };
    await assert.rejects(answered().then((mechanism) => mechanism.verifyServerFinal("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")), /does not know the password/);
    await assert.rejects(answered().then((mechanism) => mechanism.verifyServerFinal("e=invalid-proof")), /refused the proof \(invalid-proof\)/);
    const stranger = new ScramMechanism("SHA-1", undefined, RFC5802.clientNonce);
    await stranger.response(USER);
    await assert.rejects(stranger.challenge("r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096"), /does not extend ours/);
  });

  it("logs in again from remembered keys without the password, and only while they fit the server's salt", async () => {
    const first = new ScramMechanism("SHA-1", undefined, RFC5802.clientNonce);
    await first.response(USER);
    await first.challenge(RFC5802.serverFirst);
    const keys = first.keys;
    assert.ok(keys);
    assert.deepEqual({ ...keys, clientKey: "…", serverKey: "…" }, { hash: "SHA-1", salt: "QSXCR+Q6sek8bf92", iterations: 4096, clientKey: "…", serverKey: "…" });
    assert.ok(!JSON.stringify(keys).includes("pencil"), "the keys are not the password");
    const again = new ScramMechanism("SHA-1", keys, RFC5802.clientNonce);
    await again.response({ username: "user", password: "" });
    await again.challenge(RFC5802.serverFirst);
    assert.equal(await again.response({ username: "user", password: "" }), RFC5802.clientFinal, "the same proof as with the password");
    again.verifyServerFinal(RFC5802.serverFinal);
    const resalted = new ScramMechanism("SHA-1", keys, RFC5802.clientNonce);
    await resalted.response({ username: "user", password: "" });
    await assert.rejects(resalted.challenge(RFC5802.serverFirst.replace("i=4096", "i=8192")), /does not fit the server .*type the password/);
  });

  it("writes a username's ',' and '=' escaped, and non-ASCII as UTF-8 bytes", async () => {
    const first = await new ScramMechanism("SHA-1", undefined, "n0nce").response({ username: "a,b=ü", password: "x" });
    assert.equal(first, "n,,n=a=2Cb=3D\u00c3\u00bc,r=n0nce");
  });
});

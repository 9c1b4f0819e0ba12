// SCRAM against the RFCs' own example exchanges (RFC 5802 §5 for SHA-1, RFC 7677 §3 for SHA-256), the checks a
// client owes the server's messages, and the salted-password cache.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SaltedPasswordCache, SaslError, Scram } from "./scram.ts";

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

const sha1 = (cache?: SaltedPasswordCache) => new Scram({ hash: "sha1", username: "user", password: "pencil", clientNonce: RFC5802.clientNonce, cache });

describe("SCRAM exchanges from the RFCs", () => {
  it("reproduces RFC 5802 §5 (SCRAM-SHA-1: user, pencil) and accepts its server signature", async () => {
    const scram = sha1();
    assert.equal(scram.mechanism, "SCRAM-SHA-1");
    assert.equal(scram.clientFirst(), RFC5802.clientFirst);
    assert.equal(await scram.clientFinal(RFC5802.serverFirst), RFC5802.clientFinal);
    assert.doesNotThrow(() => scram.verifyServerFinal(RFC5802.serverFinal));
  });

  it("reproduces RFC 7677 §3 (SCRAM-SHA-256: user, pencil) and accepts its server signature", async () => {
    const scram = new Scram({ hash: "sha256", username: "user", password: "pencil", clientNonce: RFC7677.clientNonce });
    assert.equal(scram.mechanism, "SCRAM-SHA-256");
    assert.equal(scram.clientFirst(), RFC7677.clientFirst);
    assert.equal(await scram.clientFinal(RFC7677.serverFirst), RFC7677.clientFinal);
    assert.doesNotThrow(() => scram.verifyServerFinal(RFC7677.serverFinal));
  });

  it("escapes , and = in the username (RFC 5802 §5.1)", () => {
    const scram = new Scram({ hash: "sha1", username: "a,b=c", password: "pencil", clientNonce: "n0nce" });
    assert.equal(scram.clientFirst(), "n,,n=a=2Cb=3Dc,r=n0nce");
  });

  it("makes a fresh random nonce for every exchange", () => {
    const first = new Scram({ hash: "sha1", username: "user", password: "pencil" }).clientFirst();
    const second = new Scram({ hash: "sha1", username: "user", password: "pencil" }).clientFirst();
    assert.notEqual(first, second);
    assert.match(first, /^n,,n=user,r=[A-Za-z0-9+/]{32}$/);
  });
});

describe("SCRAM refuses a server that fails its checks", () => {
  it("refuses a wrong server signature: the server does not know the password", async () => {
    const scram = sha1();
    await scram.clientFinal(RFC5802.serverFirst);
    assert.throws(() => scram.verifyServerFinal("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="), (error: Error) => error instanceof SaslError && /signature is wrong/.test(error.message));
    assert.throws(() => scram.verifyServerFinal("v="), /signature is wrong/);
  });

  it("refuses a success that carries no signature", async () => {
    const scram = sha1();
    await scram.clientFinal(RFC5802.serverFirst);
    assert.throws(() => scram.verifyServerFinal(""), SaslError);
  });

  it("reports the server's e= error as a refused login", async () => {
    const scram = sha1();
    await scram.clientFinal(RFC5802.serverFirst);
    assert.throws(
      () => scram.verifyServerFinal("e=invalid-proof"),
      (error: Error) => error instanceof SaslError && error.condition === "not-authorized" && /invalid-proof/.test(error.message),
    );
  });

  it("refuses a server nonce that does not extend the client's, or only repeats it", async () => {
    await assert.rejects(sha1().clientFinal("r=someoneElsesNonce,s=QSXCR+Q6sek8bf92,i=4096"), /nonce does not extend ours/);
    await assert.rejects(sha1().clientFinal(`r=${RFC5802.clientNonce},s=QSXCR+Q6sek8bf92,i=4096`), /nonce does not extend ours/);
  });

  it("refuses a missing salt, a bad iteration count, a mandatory extension and garbage", async () => {
    const nonce = `r=${RFC5802.clientNonce}xyz`;
    await assert.rejects(sha1().clientFinal(`${nonce},i=4096`), /no salt/);
    await assert.rejects(sha1().clientFinal(`${nonce},s=QSXCR+Q6sek8bf92,i=0`), /bad iteration count "0"/);
    await assert.rejects(sha1().clientFinal(`${nonce},s=QSXCR+Q6sek8bf92,i=many`), /bad iteration count "many"/);
    await assert.rejects(sha1().clientFinal(`m=ext,${nonce},s=QSXCR+Q6sek8bf92,i=4096`), /extension/);
    await assert.rejects(sha1().clientFinal("not scram at all"), /malformed server message/);
  });

  it("refuses a server-final message before the client's proof", () => {
    assert.throws(() => sha1().verifyServerFinal(RFC5802.serverFinal), /before the client's proof/);
  });
});

describe("SaltedPasswordCache", () => {
  const salt = Buffer.from("QSXCR+Q6sek8bf92", "base64");

  it("returns the salted password it derived for the same salt and iteration count instead of deriving it again", async () => {
    const cache = new SaltedPasswordCache();
    const first = await cache.saltedPassword("sha1", "pencil", salt, 4096);
    assert.equal(await cache.saltedPassword("sha1", "pencil", Buffer.from(salt), 4096), first, "the very same buffer: no second PBKDF2");
  });

  it("derives again when the salt, the iteration count, the hash or the password differ", async () => {
    const cache = new SaltedPasswordCache();
    const first = await cache.saltedPassword("sha1", "pencil", salt, 4096);
    for (const [hash, password, otherSalt, iterations] of [
      ["sha1", "pencil", Buffer.from("another salt"), 4096],
      ["sha1", "pencil", salt, 4097],
      ["sha256", "pencil", salt, 4096],
      ["sha1", "crayon", salt, 4096],
    ] as const) {
      const derived = await cache.saltedPassword(hash, password, otherSalt, iterations);
      assert.notDeepEqual(derived, first, `${hash} ${password} ${iterations}`);
      // Back to the first parameters: the cache holds one entry, the last one, so this derives again too.
      assert.deepEqual(await cache.saltedPassword("sha1", "pencil", salt, 4096), first);
    }
  });

  it("gives a reconnect the same proof as the first login (RFC 5802 §5 through a warm cache)", async () => {
    const cache = new SaltedPasswordCache();
    await sha1(cache).clientFinal(RFC5802.serverFirst);
    const again = sha1(cache);
    assert.equal(await again.clientFinal(RFC5802.serverFirst), RFC5802.clientFinal);
    assert.doesNotThrow(() => again.verifyServerFinal(RFC5802.serverFinal));
  });
});

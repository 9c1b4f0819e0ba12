// SCRAM against the RFCs' own example exchanges (RFC 5802 §5 for SHA-1, RFC 7677 §3 for SHA-256), the checks a
// client owes the server's messages, and the salted-password cache.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Client } from "@xmpp/client-core";
import { xml, type Element } from "./client.ts";
import { authenticate, NS_SASL, SaltedPasswordCache, SaslError, Scram } from "./scram.ts";

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

/** The server's side of a stream, as far as authenticate() sees it: what the client sent, and nonzas to answer with. */
class FakeStream extends EventEmitter {
  readonly sent: Element[] = [];
  async send(element: Element): Promise<void> {
    this.sent.push(element);
  }
  /** Sends a SASL element whose text is `text` base64-encoded. */
  answer(name: string, text?: string, ...children: Element[]): void {
    this.emit("nonza", xml(name, { xmlns: NS_SASL }, ...children, ...(text === undefined ? [] : [Buffer.from(text).toString("base64")])));
  }
  /** Resolves once the client has sent `count` elements (PBKDF2 runs on the thread pool, so this takes a moment). */
  async hasSent(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.sent.length < count) {
      if (Date.now() > deadline) throw new Error(`the client sent ${this.sent.length} elements, expected ${count}`);
      await nextTurn();
    }
  }
  lastText(): string {
    return Buffer.from(this.sent.at(-1)?.text() ?? "", "base64").toString("utf8");
  }
}

describe("authenticate over a stream", () => {
  const start = () => {
    const stream = new FakeStream();
    const login = authenticate(stream as unknown as Client, sha1());
    return { stream, login };
  };

  it("sends <auth> with the client-first message, answers the challenge, resolves on <success> with the right signature", async () => {
    const { stream, login } = start();
    assert.equal(stream.sent[0]?.attrs.mechanism, "SCRAM-SHA-1");
    assert.equal(stream.lastText(), RFC5802.clientFirst);
    stream.answer("challenge", RFC5802.serverFirst);
    await stream.hasSent(2);
    assert.equal(stream.sent[1]?.name, "response");
    assert.equal(stream.lastText(), RFC5802.clientFinal);
    stream.answer("success", RFC5802.serverFinal);
    await login;
  });

  it("accepts the server-final message in a last <challenge>, answered by an empty <response>, then <success>", async () => {
    const { stream, login } = start();
    stream.answer("challenge", RFC5802.serverFirst);
    await stream.hasSent(2);
    stream.answer("challenge", RFC5802.serverFinal);
    await stream.hasSent(3);
    assert.equal(stream.sent[2]?.text(), "");
    stream.answer("success");
    await login;
  });

  it("rejects a <success> with a wrong signature, or with none", async () => {
    for (const serverFinal of ["v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", undefined]) {
      const { stream, login } = start();
      stream.answer("challenge", RFC5802.serverFirst);
      await stream.hasSent(2);
      stream.answer("success", serverFinal);
      await assert.rejects(login, SaslError);
    }
  });

  it("rejects a <failure> with its condition and text", async () => {
    const { stream, login } = start();
    stream.answer("challenge", RFC5802.serverFirst);
    await stream.hasSent(2);
    stream.answer("failure", undefined, xml("not-authorized"), xml("text", {}, "Invalid username or password"));
    await assert.rejects(login, (error: Error) => error instanceof SaslError && error.condition === "not-authorized" && /Invalid username or password/.test(error.message));
  });

  it("rejects when the connection closes mid-exchange, and stops listening", async () => {
    const { stream, login } = start();
    stream.answer("challenge", RFC5802.serverFirst);
    await stream.hasSent(2);
    stream.emit("disconnect", { clean: false });
    await assert.rejects(login, /closed during the login/);
    assert.equal(stream.listenerCount("nonza") + stream.listenerCount("disconnect"), 0);
  });
});

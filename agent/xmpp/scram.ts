// The XMPP login: SASL SCRAM-SHA-1 (RFC 5802, in XMPP per RFC 6120 §6), hashed by node:crypto. PBKDF2 runs
// asynchronously on libuv's thread pool, so a login never blocks the event loop (sampling and the outbox carry on),
// and the salted password is kept in memory for the account's salt and iteration count, so a reconnect skips
// PBKDF2 altogether. The server's signature is verified: a server that does not know the password cannot
// pretend the login succeeded.
// The password is used as UTF-8 without SASLprep (RFC 4013); printable ASCII passwords, which SASLprep leaves
// unchanged, are what this is checked with.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { Element } from "@xmpp/xml";
import type { Client } from "@xmpp/client-core";
import { xml } from "@xmpp/client-core";

const pbkdf2Async = promisify(pbkdf2);
export const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
export const SCRAM_SHA_1 = "SCRAM-SHA-1";
/** "n,,": no channel binding, no authorization identity. */
const GS2_HEADER = "n,,";
/** SCRAM's hash (RFC 5802: SHA-1, RFC 7677: SHA-256) and its output length in bytes. */
export type ScramHash = "sha1" | "sha256";
const DIGEST_BYTES: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/** A login the server refused (`condition` as RFC 6120 §6.5 names it) or a server that failed SCRAM's checks. */
export class SaslError extends Error {
  override readonly name = "SaslError";
  constructor(
    message: string,
    readonly condition?: string,
  ) {
    super(message);
  }
}

/**
 * The salted password (RFC 5802's SaltedPassword) of one account, for the salt and iteration count the server last
 * sent. One per account and password, in memory only; it holds one entry, so a server changing salts cannot
 * grow it.
 */
export class SaltedPasswordCache {
  private entry: { hash: ScramHash; password: string; salt: Buffer; iterations: number; saltedPassword: Buffer } | undefined;

  async saltedPassword(hash: ScramHash, password: string, salt: Buffer, iterations: number): Promise<Buffer> {
    const entry = this.entry;
    if (entry && entry.hash === hash && entry.password === password && entry.iterations === iterations && entry.salt.equals(salt)) return entry.saltedPassword;
    const saltedPassword = await pbkdf2Async(password, salt, iterations, DIGEST_BYTES[hash], hash);
    this.entry = { hash, password, salt, iterations, saltedPassword };
    return saltedPassword;
  }
}

/** RFC 5802 §5.1: "," and "=" in a username are written =2C and =3D. */
function saslName(username: string): string {
  return username.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

/** The attributes of a SCRAM message ("r=…,s=…,i=…"), each a single letter. */
function attributes(message: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of message.split(",")) {
    const match = /^([a-zA-Z])=(.*)$/s.exec(part);
    if (!match?.[1] || match[2] === undefined) throw new SaslError(`SCRAM: malformed server message ${JSON.stringify(message)}`);
    found.set(match[1], match[2]);
  }
  return found;
}

export interface ScramOptions {
  /** The login uses SHA-1 (SCRAM-SHA-1, all the servers xedge knows offer it); SHA-256 is RFC 7677's variant. */
  hash: ScramHash;
  username: string;
  password: string;
  cache?: SaltedPasswordCache;
  /** Fixed only by tests reproducing the RFCs' examples; otherwise 24 random bytes. */
  clientNonce?: string;
}

/** One SCRAM exchange from the client's side: client-first, client-final, then the server's signature checked. */
export class Scram {
  private readonly clientFirstBare: string;
  private readonly clientNonce: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(private readonly options: ScramOptions) {
    this.clientNonce = options.clientNonce ?? randomBytes(24).toString("base64");
    this.clientFirstBare = `n=${saslName(options.username)},r=${this.clientNonce}`;
  }

  private hmac(key: Buffer, text: string): Buffer {
    return createHmac(this.options.hash, key).update(text, "utf8").digest();
  }

  /** The SASL mechanism's name. */
  get mechanism(): string {
    return this.options.hash === "sha1" ? SCRAM_SHA_1 : "SCRAM-SHA-256";
  }

  /** True once the client-final message is out: the next server message is the server-final one. */
  get hasAnswered(): boolean {
    return this.expectedServerSignature !== undefined;
  }

  clientFirst(): string {
    return `${GS2_HEADER}${this.clientFirstBare}`;
  }

  /** Answers the server-first message with the client proof. */
  async clientFinal(serverFirst: string): Promise<string> {
    const fields = attributes(serverFirst);
    if (fields.has("m")) throw new SaslError("SCRAM: the server requires an extension this client does not know");
    const nonce = fields.get("r") ?? "";
    const salt = Buffer.from(fields.get("s") ?? "", "base64");
    const iterations = Number(fields.get("i"));
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) throw new SaslError("SCRAM: the server's nonce does not extend ours");
    if (salt.length === 0) throw new SaslError("SCRAM: the server sent no salt");
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new SaslError(`SCRAM: bad iteration count ${JSON.stringify(fields.get("i"))}`);

    const { hash, password, cache = new SaltedPasswordCache() } = this.options;
    const saltedPassword = await cache.saltedPassword(hash, password, salt, iterations);
    const clientKey = this.hmac(saltedPassword, "Client Key");
    const storedKey = createHash(hash).update(clientKey).digest();
    const clientFinalWithoutProof = `c=${Buffer.from(GS2_HEADER).toString("base64")},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = this.hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (clientSignature[i] ?? 0)));
    this.expectedServerSignature = this.hmac(this.hmac(saltedPassword, "Server Key"), authMessage);
    return `${clientFinalWithoutProof},p=${proof.toString("base64")}`;
  }

  /** Throws unless the server-final message carries the signature only a server knowing the password can make. */
  verifyServerFinal(serverFinal: string): void {
    const fields = attributes(serverFinal);
    const error = fields.get("e");
    if (error !== undefined) throw new SaslError(`SCRAM: the server refused the proof (${error})`, "not-authorized");
    const signature = Buffer.from(fields.get("v") ?? "", "base64");
    const expected = this.expectedServerSignature;
    if (!expected) throw new SaslError("SCRAM: the server finished before the client's proof");
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new SaslError("SCRAM: the server's signature is wrong: it does not know the password (an impostor?); refusing the session");
    }
  }
}

/** The text of a SASL element, base64-decoded ("=" is the empty string, RFC 6120 §6.4.2). */
function payload(element: Element): string {
  const text = element.text().trim();
  return text === "=" ? "" : Buffer.from(text, "base64").toString("utf8");
}

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/**
 * Runs the SASL exchange on `entity`'s stream: <auth> with client-first, <response> to the server-first
 * challenge, and the server-final message checked whether it comes in <success> or in a last <challenge>.
 * Resolves once the server's signature is verified and <success> has arrived; rejects with a SaslError, also when
 * the connection closes mid-exchange (so a dead attempt leaves nothing waiting behind).
 */
export function authenticate(entity: Client, scram: Scram): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let verified = false;
    const finish = (error?: Error) => {
      entity.removeListener("nonza", onNonza);
      entity.removeListener("disconnect", onDisconnect);
      if (error === undefined) resolve();
      else reject(error);
    };
    // Everything thrown here is an Error: a SaslError, or the stream's own when sending fails.
    const fail = (error: unknown) => finish(error instanceof Error ? error : new SaslError("SASL: the exchange failed"));
    const step = async (element: Element) => {
      if (element.name === "challenge" && !scram.hasAnswered) {
        await entity.send(xml("response", { xmlns: NS_SASL }, base64(await scram.clientFinal(payload(element)))));
      } else if (element.name === "challenge") {
        scram.verifyServerFinal(payload(element));
        verified = true;
        await entity.send(xml("response", { xmlns: NS_SASL }));
      } else if (element.name === "success") {
        if (!verified) scram.verifyServerFinal(payload(element));
        finish();
      } else if (element.name === "failure") {
        const condition = element.getChildElements().find((child) => child.name !== "text")?.name;
        const text = element.getChildText("text");
        throw new SaslError(`login refused (${condition ?? "no condition"})${text ? `: ${text}` : ""}`, condition);
      }
    };
    const onNonza = (element: Element) => {
      if (element.getNS() === NS_SASL) step(element).catch(fail);
    };
    const onDisconnect = () => finish(new SaslError("the connection closed during the login"));
    entity.on("nonza", onNonza);
    entity.on("disconnect", onDisconnect);
    entity.send(xml("auth", { xmlns: NS_SASL, mechanism: scram.mechanism }, base64(scram.clientFirst()))).catch(fail);
  });
}

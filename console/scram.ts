// SASL SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) for the browser, hashed by WebCrypto: xmpp.js's
// browser build leaves SCRAM out (its implementation needs Node's crypto), which would leave the console with
// PLAIN. The class speaks xmpp.js's SASL mechanism interface (that of the `saslmechanisms` package: `response`,
// then `challenge`, both awaited), and computes the server's signature so that the link can check it in the
// server's <success>: a server that does not know the password cannot pretend the login succeeded.
// Like the agent, the password is used as UTF-8 without SASLprep (RFC 4013), which leaves printable ASCII as is.

export type ScramHash = "SHA-1" | "SHA-256";

/** The mechanisms the console offers, best first: PLAIN (inside TLS) only for a server without SCRAM. */
export const MECHANISMS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] as const;

const GS2_HEADER = "n,,";
const BITS: Record<ScramHash, number> = { "SHA-1": 160, "SHA-256": 256 };
const encoder = new TextEncoder();

/** xmpp.js base64-encodes with btoa, which takes one character per byte: a message's UTF-8 bytes as such. */
function toBinary(text: string): string {
  return String.fromCharCode(...encoder.encode(text));
}

function fromBinary(binary: string): string {
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

function base64(bytes: Uint8Array<ArrayBuffer>): string {
  return btoa(String.fromCharCode(...bytes));
}

function unbase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

/** RFC 5802 §5.1: "," and "=" in a username are written =2C and =3D. */
function saslName(username: string): string {
  return username.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

function attributes(message: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of message.split(",")) {
    const match = /^([a-zA-Z])=(.*)$/s.exec(part);
    if (match?.[1] === undefined || match[2] === undefined) throw new Error(`SCRAM: malformed server message ${JSON.stringify(message)}`);
    found.set(match[1], match[2]);
  }
  return found;
}

function sameBytes(a: Uint8Array<ArrayBuffer>, b: Uint8Array<ArrayBuffer>): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export interface ScramCredentials {
  username: string;
  password: string;
}

/**
 * What an operator may ask the console to remember instead of the password (RFC 5802's ClientKey and ServerKey,
 * base64, for the server's salt and iteration count): enough to log in to this server, and to check its
 * signature, for as long as the password stays the same; not the password, and of no use elsewhere.
 */
export interface ScramKeys {
  hash: ScramHash;
  salt: string;
  iterations: number;
  clientKey: string;
  serverKey: string;
}

export function isScramKeys(value: unknown): value is ScramKeys {
  if (typeof value !== "object" || value === null) return false;
  const keys = value as Record<string, unknown>;
  return (keys["hash"] === "SHA-1" || keys["hash"] === "SHA-256") && typeof keys["salt"] === "string" && typeof keys["iterations"] === "number" && typeof keys["clientKey"] === "string" && typeof keys["serverKey"] === "string";
}

/** One SCRAM exchange from the client's side. */
export class ScramMechanism {
  readonly clientFirst = true;
  readonly name: string;
  private readonly clientNonce: string;
  private password = "";
  private clientFirstBare = "";
  /** The next response to send: client-first, then client-final, then "" (after a server-final challenge). */
  private next: string | undefined;
  private expectedServerSignature: Uint8Array<ArrayBuffer> | undefined;
  private verified = false;
  /** The keys this exchange used, to be remembered when the operator asks. */
  keys: ScramKeys | undefined;

  constructor(
    private readonly hash: ScramHash,
    /** Keys remembered from an earlier login: used when they fit the server's salt and iteration count. */
    private readonly remembered?: ScramKeys,
    /** Fixed only by tests reproducing the RFCs' examples; otherwise 24 random bytes. */
    clientNonce?: string,
  ) {
    this.name = `SCRAM-${hash}`;
    this.clientNonce = clientNonce ?? base64(crypto.getRandomValues(new Uint8Array(24)));
  }

  /** Called first for client-first (whose credentials the exchange keeps), then after each challenge. */
  response(credentials: ScramCredentials): Promise<string> {
    if (this.next === undefined) {
      this.password = credentials.password;
      this.clientFirstBare = `n=${saslName(credentials.username)},r=${this.clientNonce}`;
      this.next = "";
      return Promise.resolve(toBinary(`${GS2_HEADER}${this.clientFirstBare}`));
    }
    return Promise.resolve(toBinary(this.next));
  }

  /** The server-first message (answered with the proof), or a server-final one sent as a challenge. */
  async challenge(binary: string): Promise<void> {
    const message = fromBinary(binary);
    if (this.expectedServerSignature !== undefined) {
      this.verifyServerFinal(message);
      this.next = "";
      return;
    }
    this.next = await this.clientFinal(message);
  }

  private async clientFinal(serverFirst: string): Promise<string> {
    const fields = attributes(serverFirst);
    if (fields.has("m")) throw new Error("SCRAM: the server requires an extension this client does not know");
    const nonce = fields.get("r") ?? "";
    const salt = unbase64(fields.get("s") ?? "");
    const iterations = Number(fields.get("i"));
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) throw new Error("SCRAM: the server's nonce does not extend ours");
    if (salt.length === 0) throw new Error("SCRAM: the server sent no salt");
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new Error(`SCRAM: bad iteration count ${JSON.stringify(fields.get("i"))}`);
    const { clientKey, serverKey } = await this.keysFor(fields.get("s") ?? "", salt, iterations);
    const storedKey = new Uint8Array(await crypto.subtle.digest(this.hash, clientKey));
    const clientFinalWithoutProof = `c=${btoa(GS2_HEADER)},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = await this.hmac(storedKey, authMessage);
    const proof = clientKey.map((byte, i) => byte ^ (clientSignature[i] ?? 0));
    this.expectedServerSignature = await this.hmac(serverKey, authMessage);
    return `${clientFinalWithoutProof},p=${base64(proof)}`;
  }

  /** ClientKey and ServerKey: from the password when one was given, else the remembered ones if they fit. */
  private async keysFor(saltText: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<{ clientKey: Uint8Array<ArrayBuffer>; serverKey: Uint8Array<ArrayBuffer> }> {
    const remembered = this.remembered;
    if (this.password === "") {
      if (remembered?.hash !== this.hash || remembered.salt !== saltText || remembered.iterations !== iterations) {
        throw new Error("SCRAM: no password, and the remembered login does not fit the server (its password changed?): type the password");
      }
      this.keys = remembered;
      return { clientKey: unbase64(remembered.clientKey), serverKey: unbase64(remembered.serverKey) };
    }
    const passwordKey = await crypto.subtle.importKey("raw", encoder.encode(this.password), "PBKDF2", false, ["deriveBits"]);
    const saltedPassword = new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: this.hash, salt, iterations }, passwordKey, BITS[this.hash]));
    const clientKey = await this.hmac(saltedPassword, "Client Key");
    const serverKey = await this.hmac(saltedPassword, "Server Key");
    this.keys = { hash: this.hash, salt: saltText, iterations, clientKey: base64(clientKey), serverKey: base64(serverKey) };
    return { clientKey, serverKey };
  }

  private async hmac(key: Uint8Array<ArrayBuffer>, text: string): Promise<Uint8Array<ArrayBuffer>> {
    const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: this.hash }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(text)));
  }

  /** Throws unless `serverFinal` carries the signature only a server knowing the password can make. */
  verifyServerFinal(serverFinal: string): void {
    if (this.verified) return;
    const fields = attributes(serverFinal);
    const error = fields.get("e");
    if (error !== undefined) throw new Error(`SCRAM: the server refused the proof (${error})`);
    const expected = this.expectedServerSignature;
    if (expected === undefined) throw new Error("SCRAM: the server finished before the client's proof");
    if (!sameBytes(unbase64(fields.get("v") ?? ""), expected)) throw new Error("SCRAM: the server's signature is wrong: it does not know the password; refusing the session");
    this.verified = true;
  }

  /** True once the server's signature was checked (in a challenge or in <success>). */
  get serverVerified(): boolean {
    return this.verified;
  }
}

// Minimal raw-XMPP probes (stream features, STARTTLS, SASL PLAIN) for checking a test server
// without depending on the client library under test.
import net from "node:net";
import tls from "node:tls";

/** A client's stream header, or with `s2sFrom` a server's (jabber:server) from that domain. */
const STREAM_OPEN = (domain: string, s2sFrom?: string): string =>
  s2sFrom === undefined
    ? `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
    : `<?xml version='1.0'?><stream:stream to='${domain}' from='${s2sFrom}' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;

/** Collects text from a socket and waits for a pattern. */
class Reader {
  private buf = "";
  private waiter: (() => void) | undefined;
  private closed: Error | undefined;
  private readonly onData = (d: Buffer): void => {
    this.buf += d.toString("utf8");
    this.waiter?.();
  };
  private readonly onEnd = (): void => {
    this.closed ??= new Error("connection closed");
    this.waiter?.();
  };
  private readonly onError = (err: Error): void => {
    this.closed = err;
    this.waiter?.();
  };

  constructor(private readonly sock: net.Socket) {
    sock.on("data", this.onData);
    sock.on("end", this.onEnd);
    sock.on("error", this.onError);
  }

  /** Resolves with everything received up to and including the match, which is consumed. */
  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.buf);
      if (m) {
        const end = m.index + m[0].length;
        const got = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        return got;
      }
      if (this.closed) throw new Error(`${this.closed.message} while waiting for ${pattern}; got: ${this.buf}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${pattern}; got: ${this.buf}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  detach(): void {
    this.sock.off("data", this.onData);
    this.sock.off("end", this.onEnd);
    this.sock.off("error", this.onError);
  }
}

export interface StartTlsResult {
  /** Stream features offered before TLS (raw XML). */
  featuresBeforeTls: string;
  /** True when the features contain <starttls> with <required/>. */
  starttlsRequired: boolean;
  /** The upgraded connection; `authorized` tells whether the certificate was verified. */
  socket: tls.TLSSocket;
}

export interface ProbeOptions {
  host: string;
  port: number;
  domain: string;
  /** Trust anchors for the TLS handshake (PEM). */
  ca: string | Buffer;
  timeoutMs?: number;
  /** Open a server-to-server stream from this domain (to a server's s2s port) instead of a client's. */
  s2sFrom?: string;
  /** The certificate and key (PEM) this end presents in the handshake, as a server does on an s2s link. */
  clientCertificate?: { cert: string | Buffer; key: string | Buffer };
}

/**
 * Connects, reads the stream features, negotiates STARTTLS and performs the TLS handshake with
 * certificate verification on. Rejects with the TLS error (err.code e.g. SELF_SIGNED_CERT_IN_CHAIN) if verification fails.
 */
export async function openStartTls(opts: ProbeOptions): Promise<StartTlsResult> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const raw = net.connect({ host: opts.host, port: opts.port });
  const reader = new Reader(raw);
  try {
    await new Promise<void>((resolve, reject) => {
      raw.once("connect", resolve);
      raw.once("error", reject);
    });
    raw.write(STREAM_OPEN(opts.domain, opts.s2sFrom));
    const features = await reader.waitFor(/<\/stream:features>/, timeoutMs);
    const starttls = /<starttls\b[^>]*>([\s\S]*?)<\/starttls>/.exec(features);
    const starttlsRequired = starttls !== null && /<required\s*\/>/.test(starttls[1] ?? "");
    if (!/<starttls\b/.test(features)) throw new Error(`server offers no STARTTLS: ${features}`);
    raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await reader.waitFor(/<proceed\b[^>]*\/>|<proceed\b[^>]*>\s*<\/proceed>/, timeoutMs);
    reader.detach();
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, servername: opts.domain, ca: opts.ca, ...opts.clientCertificate });
      s.once("secureConnect", () => resolve(s));
      s.once("error", (err: Error) => {
        s.destroy();
        reject(err);
      });
    });
    return { featuresBeforeTls: features, starttlsRequired, socket };
  } catch (err) {
    reader.detach();
    raw.destroy();
    throw err;
  }
}

/**
 * On a fresh TLS stream: restart the stream (`streamOpen`) and, if the server offers `mechanism`, authenticate with
 * it. Resolves "success", "failure", or "not offered"; rejects when the server closes the stream instead; closes
 * the connection.
 */
async function saslOnce(socket: tls.TLSSocket, streamOpen: string, mechanism: string, payload: string, timeoutMs: number): Promise<"success" | "failure" | "not offered"> {
  const reader = new Reader(socket);
  try {
    socket.write(streamOpen);
    const features = await reader.waitFor(/<\/stream:features>/, timeoutMs);
    if (!features.includes(`<mechanism>${mechanism}</mechanism>`)) return "not offered";
    socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${Buffer.from(payload, "utf8").toString("base64")}</auth>`);
    const answer = await reader.waitFor(/<success\b|<failure\b/, timeoutMs);
    return /<success\b/.test(answer) ? "success" : "failure";
  } finally {
    reader.detach();
    socket.end("</stream:stream>");
    socket.destroy();
  }
}

/**
 * On a fresh TLS stream to a server's s2s port: restart the stream as the server `s2sFrom` and authenticate it
 * with SASL EXTERNAL, i.e. with the certificate presented in the handshake.
 */
export function s2sExternal(socket: tls.TLSSocket, domain: string, s2sFrom: string, timeoutMs = 5_000): Promise<"success" | "failure" | "not offered"> {
  return saslOnce(socket, STREAM_OPEN(domain, s2sFrom), "EXTERNAL", s2sFrom, timeoutMs);
}

/**
 * On a fresh TLS stream: restart the stream and authenticate with SASL PLAIN.
 * Resolves "success" or "failure" (wrong password / no such account); closes the connection.
 */
export async function saslPlain(socket: tls.TLSSocket, domain: string, user: string, password: string, timeoutMs = 5_000): Promise<"success" | "failure"> {
  const result = await saslOnce(socket, STREAM_OPEN(domain), "PLAIN", `\0${user}\0${password}`, timeoutMs);
  if (result === "not offered") throw new Error("PLAIN not offered after TLS");
  return result;
}

// A raw c2s session for the fuzzer: STARTTLS (verified), SASL PLAIN, resource binding, then the stanzas exactly
// as written. No client library in between, so nothing reshapes, validates or answers what the fuzzer sends.
import { readFileSync } from "node:fs";
import type tls from "node:tls";
import { Parser, type Element } from "@xmpp/xml";
import { openStartTls } from "../xmpp-probe.ts";
import type { XmppTestServer } from "../servers.ts";

const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_STREAMS = "http://etherx.jabber.org/streams";

const streamOpen = (domain: string): string =>
  `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='${NS_STREAMS}' version='1.0'>`;

export class SessionClosedError extends Error {}

export class RawSession {
  private parser = new Parser();
  private readonly queue: Element[] = [];
  private wake: (() => void) | undefined;
  private stanzaHandler: ((stanza: Element) => void) | undefined;
  /** Why the stream ended (a stream error, the server closing it, a socket error); undefined while it is open. */
  closedBecause: string | undefined;
  /** The full JID the server bound. */
  jid = "";

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.setNoDelay(true);
    // setEncoding decodes across chunk boundaries: a character split between two TLS records stays whole.
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.parser.write(chunk));
    socket.on("close", () => this.close_("the connection closed"));
    socket.on("error", (error: Error) => this.close_(`socket error: ${error.message}`));
    this.listen();
  }

  /** Connects and logs `user` in; resolves once the resource is bound and initial presence is sent. */
  static async open(server: XmppTestServer, user: string, password: string, resource: string): Promise<RawSession> {
    const { socket } = await openStartTls({ host: server.host, port: server.port, domain: server.domain, ca: readFileSync(server.caFile) });
    const session = new RawSession(socket);
    try {
      await session.login(server.domain, user, password, resource);
    } catch (error) {
      session.destroy();
      throw error;
    }
    return session;
  }

  private listen(): void {
    this.parser.on("element", (element: Element) => {
      if (element.is("error", NS_STREAMS)) {
        this.close_(`stream error: ${element.getChildElements().map((child) => child.name).join(", ")} ${element.getChildText("text") ?? ""}`.trim());
        return;
      }
      if (this.stanzaHandler) this.stanzaHandler(element);
      else {
        this.queue.push(element);
        this.wake?.();
      }
    });
    this.parser.on("end", () => this.close_("the server closed the stream"));
    this.parser.on("error", (error: Error) => this.close_(`unparsable data from the server: ${error.message}`));
  }

  private close_(reason: string): void {
    this.closedBecause ??= reason;
    this.wake?.();
  }

  private async next(timeoutMs = 10_000): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const element = this.queue.shift();
      if (element) return element;
      if (this.closedBecause) throw new SessionClosedError(this.closedBecause);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out during login");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private restartStream(domain: string): void {
    this.parser = new Parser();
    this.listen();
    this.socket.write(streamOpen(domain));
  }

  private async login(domain: string, user: string, password: string, resource: string): Promise<void> {
    this.restartStream(domain);
    const features = await this.next();
    const mechanisms = features.getChild("mechanisms", NS_SASL)?.getChildren("mechanism").map((mechanism) => mechanism.text()) ?? [];
    if (!mechanisms.includes("PLAIN")) throw new Error(`PLAIN not offered after TLS (offered: ${mechanisms.join(", ")})`);
    const credentials = Buffer.from(`\0${user}\0${password}`, "utf8").toString("base64");
    this.socket.write(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${credentials}</auth>`);
    const answer = await this.next();
    if (!answer.is("success", NS_SASL)) throw new Error(`login of ${user} refused: ${answer.toString()}`);
    this.restartStream(domain);
    await this.next(); // the features after login: binding is all we need
    this.socket.write(`<iq type='set' id='bind'><bind xmlns='${NS_BIND}'><resource>${resource}</resource></bind></iq>`);
    const bound = await this.next();
    const jid = bound.getChild("bind", NS_BIND)?.getChildText("jid");
    if (bound.attrs.type !== "result" || !jid) throw new Error(`binding failed: ${bound.toString()}`);
    this.jid = jid;
    this.socket.write("<presence/>");
  }

  /** From now on every incoming stanza goes to `handler` (those queued during login first). */
  onStanza(handler: (stanza: Element) => void): void {
    this.stanzaHandler = handler;
    for (const element of this.queue.splice(0)) handler(element);
  }

  /** Writes to the stream as it is (bytes too, for ill-formed input); resolves once the socket took it (backpressure). */
  write(text: string | Buffer): Promise<void> {
    if (this.closedBecause) return Promise.reject(new SessionClosedError(this.closedBecause));
    return new Promise((resolve, reject) => this.socket.write(text, (error) => (error ? reject(error) : resolve())));
  }

  /** Closes the stream politely and waits (briefly) for the socket to go. */
  async close(): Promise<void> {
    if (!this.closedBecause && !this.socket.destroyed) {
      this.socket.end("</stream:stream>");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        this.socket.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.destroy();
  }

  destroy(): void {
    this.closedBecause ??= "closed by the fuzzer";
    this.socket.destroy();
  }
}

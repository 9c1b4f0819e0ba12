// The XMPP client, composed in one place from xmpp.js's single-purpose modules (the xmpp.js model).
// Left out on purpose: @xmpp/reconnect (a fixed 1 s retry loop; link/reconnect.ts has backoff instead),
// stream management (our acknowledgement is the pubsub iq result, and dead links are found by ping),
// SASL PLAIN and ANONYMOUS (SCRAM-SHA-1 only, our own in scram.ts), websocket, SASL2/FAST.
import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import type { Socket as NetSocket } from "node:net";
import { Client, xml, jid } from "@xmpp/client-core";
import { promise } from "@xmpp/events";
import type { JID } from "@xmpp/jid";
import tcp from "@xmpp/tcp";
import ConnectionTLS from "@xmpp/tls/lib/Connection.js";
import TlsSocket from "@xmpp/tls/lib/Socket.js";
import streamFeaturesFactory from "@xmpp/stream-features";
import iqCallerFactory from "@xmpp/iq/caller.js";
import resourceBinding from "@xmpp/resource-binding";
import { iqRequester, iqResponder } from "./iq.ts";
import { stanzaMiddleware } from "./middleware.ts";
import { authenticate, NS_SASL, SaltedPasswordCache, Scram, SCRAM_SHA_1 } from "./scram.ts";

export { xml, jid };
export type { Element } from "@xmpp/xml";

const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";

export interface ClientOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource: string;
  /** Extra trust anchor, added to the system's CAs; verification is never turned off. */
  caFile?: string;
}

/** TLS contexts by the extra CA's PEM text ("" for none): each holds the ~140 system roots, parsed once. */
const trustContexts = new Map<string, SecureContext>();

/**
 * The TLS context that verifies the server against Node's bundled CAs plus caFile. Built once per CA and shared
 * by every connection: a context per connect costs about 1 MB and tens of ms of CPU (measured with 1,000
 * gateways). caFile is read at every call, so a replaced CA file is trusted from the next connection on.
 */
export function trustContext(caFile: string | undefined): SecureContext {
  const extra = caFile === undefined ? "" : readFileSync(caFile, "utf8");
  let context = trustContexts.get(extra);
  if (!context) {
    context = createSecureContext({ ca: extra === "" ? [...rootCertificates] : [...rootCertificates, extra] });
    trustContexts.set(extra, context);
  }
  return context;
}

/** `saltedPasswords` outlives the client: pass the same one to every attempt of one account to skip PBKDF2 on reconnects. */
export function createClient(options: ClientOptions, saltedPasswords = new SaltedPasswordCache()) {
  const secureContext = trustContext(options.caFile);
  const entity = new Client({ service: options.service, domain: options.domain });
  entity.jid = jid(options.username, options.domain);

  tcp({ entity });
  // Direct TLS (xmpps://) with the same trust anchors and the JID's domain as the name to verify.
  class DirectTls extends ConnectionTLS {
    override socketParameters(service: string) {
      const parameters = super.socketParameters(service);
      return parameters && { ...parameters, secureContext, servername: options.domain };
    }
  }
  entity.transports.push(DirectTls);

  // Small stanzas written back to back (an iq result, then the data message) must not wait for the peer's
  // delayed ACK: without TCP_NODELAY, Nagle's algorithm adds ~40 ms to every readout. STARTTLS keeps this socket.
  entity.on("connect", () => {
    const socket = entity.socket as unknown as { setNoDelay?: (noDelay: boolean) => void; socket?: { setNoDelay?: (noDelay: boolean) => void } } | null;
    (socket?.setNoDelay ? socket : socket?.socket)?.setNoDelay?.(true);
  });

  // xmpp.js's start() makes its "online" promise, then awaits opening the stream: a connection reset in between
  // (a server or middlebox closing right after accepting) rejects both, and the "online" one, not yet awaited, is
  // an unhandled rejection that ends the process. The same steps, with that promise handled from the start.
  entity.start = async () => {
    await entity.connect(options.service);
    const online = promise(entity, "online");
    online.catch(() => undefined);
    await entity.open({ domain: options.domain });
    return (await online) as JID; // "online" carries the bound JID
  };

  const middleware = stanzaMiddleware({ entity });
  const streamFeatures = streamFeaturesFactory({ middleware });
  const iqCaller = iqCallerFactory({ middleware, entity });
  const iqCallee = iqResponder(entity, middleware);

  streamFeatures.use("starttls", NS_TLS, async ({ entity: connection }) => {
    const proceed = await connection.sendReceive(xml("starttls", { xmlns: NS_TLS }));
    if (!proceed.is("proceed", NS_TLS)) throw new Error("server refused STARTTLS");
    const socket = new TlsSocket();
    // Before STARTTLS the connection's socket is the plain net.Socket itself.
    const plain = connection.socket as unknown as NetSocket;
    socket.connect({ socket: plain, host: options.domain, servername: options.domain, secureContext });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    (connection as unknown as { _attachSocket(s: TlsSocket): void })._attachSocket(socket);
    await connection.restart();
  });

  streamFeatures.use("mechanisms", NS_SASL, async ({ entity: connection }, _next, element) => {
    if (!connection.isSecure()) throw new Error("the server did not offer STARTTLS: refusing to log in over an unencrypted stream");
    const offered = element.getChildren("mechanism", NS_SASL).map((mechanism) => mechanism.text());
    if (!offered.includes(SCRAM_SHA_1)) throw new Error(`the server offers no SCRAM-SHA-1 (offered: ${offered.join(", ") || "none"})`);
    await authenticate(entity, new Scram({ hash: "sha1", username: options.username, password: options.password, cache: saltedPasswords }));
    await connection.restart();
  });
  resourceBinding({ iqCaller, streamFeatures }, options.resource);

  // The library's iqCaller stays for resource binding, which needs it; everything else uses `request`.
  return { entity, iqCallee, middleware, request: iqRequester(entity, middleware) };
}

export type XmppClient = ReturnType<typeof createClient>;

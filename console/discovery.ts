// Where the console finds the server's WebSocket endpoint: XEP-0156 (host-meta, JSON form). The page's own
// origin is asked first (a console served by the XMPP server's own HTTP module), then the JID's domain; when
// neither answers, the operator types the URL.
const WEBSOCKET_REL = "urn:xmpp:alt-connections:websocket";
const LOOKUP_TIMEOUT_MS = 3_000;

interface HostMeta {
  links?: { rel?: unknown; href?: unknown }[];
}

async function websocketIn(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS), credentials: "omit" });
    if (!response.ok) return undefined;
    const meta = (await response.json()) as HostMeta;
    const link = meta.links?.find((candidate) => candidate.rel === WEBSOCKET_REL && typeof candidate.href === "string");
    const href = link?.href;
    // TLS only: a ws:// endpoint would carry the password in the clear.
    return typeof href === "string" && href.startsWith("wss://") ? href : undefined;
  } catch {
    return undefined;
  }
}

/** The wss:// URL the host-meta of the page's origin or of `domain` names, or undefined. */
export async function discoverWebsocket(domain: string): Promise<string | undefined> {
  const places = [];
  if (location.protocol === "https:") places.push(`${location.origin}/.well-known/host-meta.json`);
  places.push(`https://${domain}/.well-known/host-meta.json`);
  for (const place of places) {
    const found = await websocketIn(place);
    if (found !== undefined) return found;
  }
  return undefined;
}

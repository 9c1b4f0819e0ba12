// XEP-0363 HTTP File Upload, for the charts operators ask for: find the server's upload service through
// service discovery (Prosody's mod_http_file_share, ejabberd's mod_http_upload), ask it for a slot, PUT the file
// over HTTPS and hand back the GET URL. The file goes out with XEP-0066 out-of-band data, which Conversations
// and Gajim show inline (oobMessage).
//
// Decisions:
// - The service is looked up once per session (disco#items of our domain, then disco#info of the domain and each
//   item) and forgotten when the link drops: a server whose admin adds the module is seen after a reconnect.
// - The PUT is verified against the same trust anchors as the XMPP connection (the system's CAs plus caFile,
//   client.ts's trustContext), never without verification, and only over https: a plain http slot is refused.
// - Only the headers XEP-0363 allows (Authorization, Cookie, Expires) are taken from the slot, newlines removed.
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { ConnectionOptions } from "node:tls";
import { trustContext, xml, type Element } from "./client.ts";
import type { FaceConnection } from "./face.ts";
import type { ImageUpload, UploadOutcome } from "../operator/chart-post.ts";
import { errorText } from "../log.ts";

export const NS_UPLOAD = "urn:xmpp:http:upload:0";
export const NS_OOB = "jabber:x:oob";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_DATA = "jabber:x:data";
const ALLOWED_HEADERS = new Set(["authorization", "cookie", "expires"]);

export interface UploadService {
  jid: string;
  /** The largest file the service takes, when it says. */
  maxFileSize?: number;
}

export interface Slot {
  putUrl: string;
  getUrl: string;
  headers: Record<string, string>;
}

/** The upload service an entity's disco#info result announces, if it announces one. */
export function uploadServiceOf(jid: string, info: Element): UploadService | undefined {
  const query = info.getChild("query", NS_DISCO_INFO);
  if (!query?.getChildren("feature").some((feature) => feature.attrs.var === NS_UPLOAD)) return undefined;
  const form = query
    .getChildren("x", NS_DATA)
    .find((candidate) => candidate.getChildren("field").some((item) => item.attrs.var === "FORM_TYPE" && item.getChildText("value") === NS_UPLOAD));
  const size = Number(form?.getChildren("field").find((item) => item.attrs.var === "max-file-size")?.getChildText("value"));
  return Number.isSafeInteger(size) && size > 0 ? { jid, maxFileSize: size } : { jid };
}

/** The slot request for one file (XEP-0363 §4). */
export function slotRequest(service: string, file: { filename: string; size: number; contentType: string }): Element {
  return xml("iq", { type: "get", to: service }, xml("request", { xmlns: NS_UPLOAD, filename: file.filename, size: String(file.size), "content-type": file.contentType }));
}

/** The PUT and GET URLs of a slot result and the headers to send with the PUT; throws on a malformed slot. */
export function parseSlot(result: Element): Slot {
  const slot = result.getChild("slot", NS_UPLOAD);
  const put = slot?.getChild("put");
  const putUrl = put?.attrs.url as string | undefined;
  const getUrl = slot?.getChild("get")?.attrs.url as string | undefined;
  if (!putUrl || !getUrl) throw new Error("the upload service answered without a put and a get URL");
  const headers: Record<string, string> = {};
  for (const header of put?.getChildren("header") ?? []) {
    const name = String(header.attrs.name ?? "");
    if (ALLOWED_HEADERS.has(name.toLowerCase())) headers[name] = header.text().replace(/[\r\n]/g, "");
  }
  return { putUrl, getUrl, headers };
}

/** A chat message showing `url` inline: the body is the URL alone, with XEP-0066 out-of-band data naming it. */
export function oobMessage(to: string, url: string, type: "chat" | "normal" = "chat", thread?: Element): Element {
  return xml("message", { to, type }, xml("body", {}, url), xml("x", { xmlns: NS_OOB }, xml("url", {}, url)), ...(thread ? [thread] : []));
}

/** What an upload needs of the link: iq requests, sending the message, and hearing that the link dropped. */
export type UploadConnection = Pick<FaceConnection, "request" | "send" | "bareJid"> & { on(event: "offline", listener: () => void): unknown };

export interface HttpUploadOptions {
  /** The extra trust anchor of the XMPP connection, read at each upload (a reloaded config applies). */
  caFile: () => string | undefined;
  requestTimeoutMs?: number;
}

/** Uploads files through the server's XEP-0363 service; an ImageUpload for the operator's charts. */
export class HttpUpload implements ImageUpload {
  /** The service found in this session: a promise, so concurrent uploads share one lookup; reset when offline. */
  private service: Promise<UploadService | undefined> | undefined;

  constructor(
    private readonly connection: UploadConnection,
    private readonly options: HttpUploadOptions,
  ) {
    connection.on("offline", () => (this.service = undefined));
  }

  async upload(file: { bytes: Uint8Array; filename: string; contentType: string }): Promise<UploadOutcome> {
    const timeoutMs = this.options.requestTimeoutMs ?? 15_000;
    let service: UploadService | undefined;
    try {
      service = await (this.service ??= this.discover(timeoutMs));
    } catch (error) {
      this.service = undefined;
      return { ok: false, reason: `the server's upload service could not be looked up: ${errorText(error)}` };
    }
    if (!service) return { ok: false, reason: "the server offers no HTTP file upload (XEP-0363)" };
    if (service.maxFileSize !== undefined && file.bytes.length > service.maxFileSize) {
      return { ok: false, reason: `the picture (${file.bytes.length} bytes) is larger than the upload service takes (${service.maxFileSize})` };
    }
    try {
      const slot = parseSlot(await this.connection.request(slotRequest(service.jid, { ...file, size: file.bytes.length }), timeoutMs));
      if (!slot.putUrl.startsWith("https:") || !slot.getUrl.startsWith("https:")) return { ok: false, reason: "the upload service offers plain http only, not https" };
      await put(slot, file, this.options.caFile(), timeoutMs);
      return { ok: true, url: slot.getUrl };
    } catch (error) {
      return { ok: false, reason: `the upload failed: ${errorText(error)}` };
    }
  }

  /** Shows an uploaded file to `to` in a chat message of its own. */
  show(to: string, url: string): void {
    void this.connection.send(oobMessage(to, url));
  }

  /** Our domain first (a server may serve uploads itself), then each of its items. */
  private async discover(timeoutMs: number): Promise<UploadService | undefined> {
    const domain = this.connection.bareJid.split("@")[1] ?? "";
    const info = (jid: string) =>
      this.connection
        .request(xml("iq", { type: "get", to: jid }, xml("query", { xmlns: NS_DISCO_INFO })), timeoutMs)
        .then((result) => uploadServiceOf(jid, result))
        .catch(() => undefined); // an item that does not answer disco is no upload service
    const own = await info(domain);
    if (own) return own;
    const items = await this.connection.request(xml("iq", { type: "get", to: domain }, xml("query", { xmlns: NS_DISCO_ITEMS })), timeoutMs);
    const jids = (items.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? []).map((item) => String(item.attrs.jid ?? "")).filter((jid) => jid !== "");
    const services = await Promise.all(jids.map(info));
    return services.find((service) => service !== undefined);
  }
}

/** The HTTPS PUT of a slot, verified against the system's CAs plus caFile. */
function put(slot: Slot, file: { bytes: Uint8Array; contentType: string }, caFile: string | undefined, timeoutMs: number): Promise<void> {
  // https.request passes tls.connect's secureContext on (Node documents it), though its type leaves it out.
  const options: RequestOptions & Pick<ConnectionOptions, "secureContext"> = {
    method: "PUT",
    headers: { ...slot.headers, "Content-Type": file.contentType, "Content-Length": String(file.bytes.length) },
    secureContext: trustContext(caFile),
    // A pooled agent keys its sockets by options that do not include the secure context: no pooling.
    agent: false,
    timeout: timeoutMs,
  };
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      slot.putUrl,
      options,
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`the upload service answered HTTP ${status} ${response.statusMessage ?? ""}`.trim()));
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer to the PUT within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(file.bytes);
  });
}

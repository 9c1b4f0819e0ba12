import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { xml, type Element } from "./client.ts";
import { HttpUpload, NS_OOB, NS_UPLOAD, oobMessage, parseSlot, slotRequest, uploadServiceOf } from "./upload.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

/** A disco#info result with the features given and, with a size, the XEP-0363 form naming it. */
function info(features: string[], maxFileSize?: number): Element {
  const form =
    maxFileSize === undefined
      ? []
      : [
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "result" },
            xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_UPLOAD)),
            xml("field", { var: "max-file-size" }, xml("value", {}, String(maxFileSize))),
          ),
        ];
  return xml("iq", { type: "result" }, xml("query", { xmlns: NS_DISCO_INFO }, ...features.map((feature) => xml("feature", { var: feature })), ...form));
}

function slot(put: string, get: string, headers: Record<string, string> = {}): Element {
  return xml(
    "iq",
    { type: "result" },
    xml("slot", { xmlns: NS_UPLOAD }, xml("put", { url: put }, ...Object.entries(headers).map(([name, value]) => xml("header", { name }, value))), xml("get", { url: get })),
  );
}

describe("XEP-0363 stanzas", () => {
  it("finds the service and its size limit in disco#info", () => {
    assert.deepEqual(uploadServiceOf("upload.example.net", info([NS_DISCO_INFO, NS_UPLOAD], 10_485_760)), { jid: "upload.example.net", maxFileSize: 10_485_760 });
    assert.deepEqual(uploadServiceOf("upload.example.net", info([NS_UPLOAD])), { jid: "upload.example.net" });
    assert.equal(uploadServiceOf("pubsub.example.net", info([NS_DISCO_INFO, "http://jabber.org/protocol/pubsub"])), undefined);
  });

  it("asks for a slot with the file's name, size and type", () => {
    const request = slotRequest("upload.example.net", { filename: "boiler-temperature.png", size: 16_238, contentType: "image/png" });
    assert.equal(request.attrs.type, "get");
    assert.equal(request.attrs.to, "upload.example.net");
    assert.deepEqual(request.getChild("request", NS_UPLOAD)?.attrs, { xmlns: NS_UPLOAD, filename: "boiler-temperature.png", size: "16238", "content-type": "image/png" });
  });

  it("reads a slot, keeping only the headers XEP-0363 allows, without newlines", () => {
    const parsed = parseSlot(slot("https://up.example.net/put/a.png", "https://up.example.net/get/a.png", { Authorization: "Bearer x\r\nEvil: 1", Host: "elsewhere", Expires: "123" }));
    assert.deepEqual(parsed, { putUrl: "https://up.example.net/put/a.png", getUrl: "https://up.example.net/get/a.png", headers: { Authorization: "Bearer xEvil: 1", Expires: "123" } });
    assert.throws(() => parseSlot(xml("iq", { type: "result" }, xml("slot", { xmlns: NS_UPLOAD }))), /without a put and a get URL/);
  });

  it("sends the URL as the body and as out-of-band data, in the request's thread", () => {
    const message = oobMessage("ops@example.net/phone", "https://up.example.net/get/a.png", "chat", xml("thread", {}, "t1"));
    assert.equal(message.attrs.to, "ops@example.net/phone");
    assert.equal(message.attrs.type, "chat");
    assert.equal(message.getChildText("body"), "https://up.example.net/get/a.png");
    assert.equal(message.getChild("x", NS_OOB)?.getChildText("url"), "https://up.example.net/get/a.png");
    assert.equal(message.getChildText("thread"), "t1");
  });
});

/** A connection whose server answers disco and slot requests from `answers`, by the iq's `to` and payload. */
function fakeConnection(answer: (iq: Element) => Element) {
  const events = new EventEmitter();
  const asked: Element[] = [];
  return {
    asked,
    bareJid: "gw@example.net",
    on: (event: "offline", listener: () => void) => events.on(event, listener),
    emit: (event: string) => events.emit(event),
    send: () => Promise.resolve(true),
    request: (iq: Element) => {
      asked.push(iq);
      return Promise.resolve(answer(iq));
    },
  };
}

const png = { bytes: new Uint8Array(2048), filename: "boiler-temperature.png", contentType: "image/png" };

describe("HttpUpload", () => {
  it("says why when the server offers no upload service, and looks again after the link drops", async () => {
    const connection = fakeConnection((iq) =>
      iq.getChild("query", NS_DISCO_ITEMS) ? xml("iq", { type: "result" }, xml("query", { xmlns: NS_DISCO_ITEMS }, xml("item", { jid: "pubsub.example.net" }))) : info([NS_DISCO_INFO]),
    );
    const upload = new HttpUpload(connection, { caFile: () => undefined });
    assert.deepEqual(await upload.upload(png), { ok: false, reason: "the server offers no HTTP file upload (XEP-0363)" });
    const lookups = connection.asked.length;
    await upload.upload(png);
    assert.equal(connection.asked.length, lookups, "the lookup is kept for the session");
    connection.emit("offline");
    await upload.upload(png);
    assert.equal(connection.asked.length, 2 * lookups, "looked up again after the link dropped");
  });

  it("refuses a file larger than the service takes, and a slot over plain http", async () => {
    const small = fakeConnection((iq) => (iq.attrs.to === "example.net" && iq.getChild("query", NS_DISCO_INFO) ? info([NS_UPLOAD], 1024) : info([])));
    const refused = await new HttpUpload(small, { caFile: () => undefined }).upload(png);
    assert.deepEqual(refused, { ok: false, reason: "the picture (2048 bytes) is larger than the upload service takes (1024)" });

    const plain = fakeConnection((iq) => {
      if (iq.getChild("request", NS_UPLOAD)) return slot("http://up.example.net/put", "http://up.example.net/get");
      if (iq.getChild("query", NS_DISCO_ITEMS)) return xml("iq", { type: "result" }, xml("query", { xmlns: NS_DISCO_ITEMS }, xml("item", { jid: "upload.example.net" })));
      return iq.attrs.to === "upload.example.net" ? info([NS_UPLOAD]) : info([]);
    });
    assert.deepEqual(await new HttpUpload(plain, { caFile: () => undefined }).upload(png), { ok: false, reason: "the upload service offers plain http only, not https" });
    assert.equal(plain.asked.at(-1)?.attrs.to, "upload.example.net", "the slot is asked of the item that announced the service");
  });
});

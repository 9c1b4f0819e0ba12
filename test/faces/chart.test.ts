// History as a chart through the real servers with their XEP-0363 upload service on (Prosody's
// mod_http_file_share, ejabberd's mod_http_upload): an operator asks `chart` in the chat and runs the ad-hoc
// history command, gets a message whose body is an https URL with jabber:x:oob, and the test downloads it with
// TLS verified against the run's CA and decodes the PNG. Without an upload service: test/faces/chat.test.ts. Last,
// the upload's PUT against a local HTTPS server: trusted through caFile, refused under any other CA.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, get, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { serverKinds, type XmppTestServer } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, waitForFirstReadings, type SimGateway } from "../support/gateway-fixture.ts";
import { Arrivals } from "../support/arrivals.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";
import { CHART_HEIGHT, CHART_WIDTH, COLORS, PLOT } from "../../agent/operator/chart.ts";
import { HttpUpload, NS_UPLOAD } from "../../agent/xmpp/upload.ts";
import { createTestPki, createUntrustedCa, type TestCa, type TestPki } from "../support/tls.ts";

const NS_OOB = "jabber:x:oob";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";

/** An operator's phone: chats with the agent, runs its commands, collects its messages. */
class Phone {
  readonly messages: Element[] = [];
  private readonly arrivals = new Arrivals();

  private constructor(private readonly client: ReturnType<typeof createClient>) {
    client.entity.on("stanza", (stanza: Element) => {
      if (!stanza.is("message") || String(stanza.attrs.from) !== AGENT_JID || stanza.getChildText("body") === null) return;
      this.messages.push(stanza);
      this.arrivals.notify();
    });
  }

  static async connect(server: XmppTestServer, user: string): Promise<Phone> {
    const client = createClient({ service: server.service, domain: server.domain, username: user, password: `${user}-secret`, resource: "phone", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    await client.entity.start();
    return new Phone(client);
  }

  async ask(body: string): Promise<Element> {
    const seen = this.messages.length;
    await this.client.entity.send(xml("message", { to: AGENT_JID, type: "chat" }, xml("body", {}, body)));
    return this.nextAfter(seen);
  }

  nextAfter(seen: number, timeoutMs = 20_000): Promise<Element> {
    return this.arrivals.until(() => this.messages[seen], timeoutMs, () => `no message within ${timeoutMs} ms`);
  }

  async command(node: string, attrs: Record<string, string> = {}, ...children: Element[]): Promise<Element> {
    const reply = await this.client.request(xml("iq", { type: "set", to: AGENT_JID }, xml("command", { xmlns: NS_COMMANDS, node, ...attrs }, ...children)), 20_000);
    const command = reply.getChild("command", NS_COMMANDS);
    assert.ok(command, reply.toString());
    return command;
  }

  async close(): Promise<void> {
    await this.client.entity.stop().catch(() => undefined);
  }
}

/** Downloads `url` over HTTPS, trusting only the system's CAs and `caFile`, with verification on. */
function download(url: string, caFile: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { ca: readFileSync(caFile, "utf8"), agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, type: String(response.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      response.on("error", reject);
    }).on("error", reject);
  });
}

/** The picture message's URL: the body alone, repeated as out-of-band data, on https. */
function pictureUrl(message: Element): string {
  const url = message.getChildText("body") ?? "";
  assert.match(url, /^https:\/\/localhost:\d+\/.+\.png$/, message.toString());
  assert.equal(message.getChild("x", NS_OOB)?.getChildText("url"), url, "the body's URL as jabber:x:oob");
  return url;
}

/** Downloads the chart and checks it is a PNG of the chart's size with the curve drawn in the plot. */
async function checkChart(url: string, caFile: string): Promise<void> {
  const { status, body } = await download(url, caFile);
  assert.equal(status, 200);
  assert.deepEqual([...body.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "the PNG signature");
  const image = PNG.sync.read(body);
  assert.deepEqual([image.width, image.height], [CHART_WIDTH, CHART_HEIGHT]);
  let curve = 0;
  for (let y = PLOT.top; y < PLOT.bottom; y++) {
    for (let x = PLOT.left + 1; x <= PLOT.right; x++) {
      const at = (y * image.width + x) * 4;
      if (image.data[at] === COLORS.line[0] && image.data[at + 1] === COLORS.line[1] && image.data[at + 2] === COLORS.line[2]) curve++;
    }
  }
  assert.ok(curve >= 9, `the curve is drawn in the plot (${curve} px of its colour)`);
}

for (const kind of serverKinds) {
  describe(`charts through ${kind}'s upload service`, () => {
    let gateway: SimGateway;
    let viewer: Phone;

    before(async () => {
      gateway = await startSimGateway(kind, { fileUpload: true });
      viewer = await Phone.connect(gateway.server, "viewer");
      await waitForFirstReadings(gateway);
    });
    after(async () => {
      await viewer?.close();
      await gateway?.stop();
    });

    it("chat: chart boiler temperature comes back as a picture to download and check", async () => {
      const answer = await viewer.ask("chart boiler temperature 10m");
      await checkChart(pictureUrl(answer), gateway.server.caFile);
    });

    it("ad-hoc history: the chart's URL in the result, the picture in the chat", async () => {
      const first = await viewer.command("history");
      const seen = viewer.messages.length;
      const submit = xml(
        "x",
        { xmlns: NS_DATA, type: "submit" },
        xml("field", { var: "node" }, xml("value", {}, "boiler")),
        xml("field", { var: "duration" }, xml("value", {}, "10m")),
        xml("field", { var: "chart" }, xml("value", {}, "humidity")),
      );
      const done = await viewer.command("history", { action: "complete", sessionid: String(first.attrs.sessionid) }, submit);
      assert.equal(done.attrs.status, "completed");
      const field = done.getChild("x", NS_DATA)?.getChildren("field").find((candidate) => candidate.attrs.var === "chart");
      assert.equal(field?.attrs.label, "Chart of humidity");
      const url = pictureUrl(await viewer.nextAfter(seen));
      assert.equal(field?.getChildText("value"), url);
      assert.match(done.getChildText("note") ?? "", /Chart of humidity \(also sent to you in a chat message\): https:/);
      await checkChart(url, gateway.server.caFile);
    });
  });
}

describe("the upload's HTTPS PUT", () => {
  let pki: TestPki;
  let untrusted: TestCa;
  let server: Server;
  let port = 0;
  const received: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "xedge-upload-"));
    [pki, untrusted] = await Promise.all([createTestPki(join(dir, "pki")), createUntrustedCa(join(dir, "other"))]);
    server = createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks) });
        response.writeHead(201).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server?.close());

  /** A server that announces its upload service on the domain and hands out slots on the local HTTPS server. */
  const connection = {
    bareJid: "gw1@localhost",
    on: () => undefined,
    send: () => Promise.resolve(true),
    request: (iq: Element) =>
      Promise.resolve(
        iq.getChild("request", NS_UPLOAD)
          ? xml("iq", { type: "result" }, xml("slot", { xmlns: NS_UPLOAD }, xml("put", { url: `https://localhost:${port}/put/a.png` }, xml("header", { name: "Authorization" }, "Basic dGVzdA==")), xml("get", { url: `https://localhost:${port}/get/a.png` })))
          : xml("iq", { type: "result" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }, xml("feature", { var: NS_UPLOAD }))),
      ),
  };
  const file = { bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), filename: "a.png", contentType: "image/png" };

  it("trusts the configured CA, sends the slot's header, the type and the bytes", async () => {
    const outcome = await new HttpUpload(connection, { caFile: () => pki.caFile }).upload(file);
    assert.deepEqual(outcome, { ok: true, url: `https://localhost:${port}/get/a.png` });
    const [put] = received.splice(0);
    assert.equal(put?.headers.authorization, "Basic dGVzdA==");
    assert.equal(put?.headers["content-type"], "image/png");
    assert.deepEqual([...(put?.body ?? [])], [...file.bytes]);
  });

  it("refuses a certificate that neither the system's CAs nor caFile vouch for, and sends nothing", async () => {
    for (const caFile of [undefined, untrusted.caFile]) {
      const outcome = await new HttpUpload(connection, { caFile: () => caFile }).upload(file);
      assert.equal(outcome.ok, false);
      assert.match(outcome.ok ? "" : outcome.reason, /^the upload failed: .*certificate/);
    }
    assert.equal(received.length, 0);
  });
});

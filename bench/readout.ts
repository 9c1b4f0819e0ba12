// XEP-0323 and successor-dialect (urn:nf:iot:sd:1.0) momentary readout round trips against a XEP-0199 ping round
// trip, all from an operator's client to the agent's full JID through the same server, interleaved so all see the
// same load. A XEP-0323 readout round trip is the request iq out until the `<fields done='true'>` message for its
// seqnr is back; an nf one is the request iq out until its result, which carries the values. The agent runs as the
// systemd unit runs it (its node flags and environment). A bare peer on the same server, answering from pre-built
// stanzas of the agent's size and number, is read and pinged in the same rotation: its ratios are the server's and
// the client's share alone, what no agent can go below.
import { performance } from "node:perf_hooks";
import type { XmppTestServer } from "../test/support/servers.ts";
import { AgentProcess, BUNDLE, writeAgentConfig } from "../test/support/agent.ts";
import { Observer } from "../test/support/observer.ts";
import { createClient, xml, type Element } from "../agent/xmpp/client.ts";
import { figure, type Figure } from "./figures.ts";
import { asInstalled } from "./memory.ts";
import { BARE } from "./publish.ts";

const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const NS_NF_SENSORDATA = "urn:nf:iot:sd:1.0";
const WARMUP = 20;
const SAMPLES = 300;
export const OPERATOR = { user: "ops", password: "ops-secret" };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function readoutFigures(server: XmppTestServer, progress: (line: string) => void): Promise<Figure[]> {
  const { file } = writeAgentConfig(server, {
    user: "gw1",
    password: "gw1-secret",
    operators: [{ jid: `${OPERATOR.user}@localhost`, role: "control" }],
    logLevel: "info",
    sensors: "  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1s }",
  });
  // As installed: the unit's node flags (XEDGE_NODE_FLAGS) and environment.
  const { nodeFlags, environment } = asInstalled();
  const agent = AgentProcess.start(file, environment, [process.execPath, ...nodeFlags, BUNDLE]);
  const ops = await Observer.connect(server, OPERATOR.user, OPERATOR.password);
  const peer = createClient({ service: server.service, domain: server.domain, username: BARE.user, password: BARE.password, resource: "peer", caFile: server.caFile });
  peer.entity.on("error", () => undefined);
  try {
    await peer.entity.start();
    await agent.waitForMessage("online", 30_000);
    const target = "gw1@localhost/edge";
    const waiting = new Map<string, () => void>();
    ops.onMessage((message: Element) => {
      const fields = message.getChild("fields", NS_SENSORDATA);
      if (fields?.attrs.done === "true") waiting.get(String(fields.attrs.seqnr))?.();
    });
    let seqnr = 0;
    let lastData: Element | undefined;
    ops.onMessage((message: Element) => {
      const fields = message.getChild("fields", NS_SENSORDATA);
      if (fields && fields.attrs.done !== "true") lastData = fields;
    });
    const readout = async (to = target): Promise<number> => {
      seqnr += 1;
      const id = String(seqnr);
      const started = performance.now();
      const done = new Promise<void>((resolve) => waiting.set(id, resolve));
      await ops.iq("get", to, xml("req", { xmlns: NS_SENSORDATA, seqnr: id, momentary: "true" }, xml("node", { nodeId: "boiler" })));
      await done;
      waiting.delete(id);
      return performance.now() - started;
    };
    let lastResp: Element | undefined;
    const nfReadout = async (to = target): Promise<number> => {
      seqnr += 1;
      const started = performance.now();
      const result = await ops.iq("get", to, xml("req", { xmlns: NS_NF_SENSORDATA, id: String(seqnr), m: "true" }, xml("nd", { id: "boiler" })));
      const elapsed = performance.now() - started;
      lastResp = result.getChild("resp", NS_NF_SENSORDATA);
      if (!lastResp?.getChild("nd")) throw new Error(`an nf readout's result held no values: ${result.toString()}`);
      return elapsed;
    };
    const ping = async (to = target): Promise<number> => {
      const started = performance.now();
      await ops.iq("get", to, xml("ping", { xmlns: "urn:xmpp:ping" }));
      return performance.now() - started;
    };
    // The sensor must have a first sample before a readout can answer with data.
    await ops.until(() => readout().then(() => true), (ok) => ok, 10_000, "a first readout");
    await nfReadout();
    const peerJid = await answerAsPeer(peer, lastResp, lastData);
    const times = { readout: [] as number[], nf: [] as number[], ping: [] as number[], peerReadout: [] as number[], peerNf: [] as number[], peerPing: [] as number[] };
    const kinds = [
      () => ping().then((ms) => times.ping.push(ms)),
      () => readout().then((ms) => times.readout.push(ms)),
      () => nfReadout().then((ms) => times.nf.push(ms)),
      () => ping(peerJid).then((ms) => times.peerPing.push(ms)),
      () => readout(peerJid).then((ms) => times.peerReadout.push(ms)),
      () => nfReadout(peerJid).then((ms) => times.peerNf.push(ms)),
    ];
    for (let i = 0; i < WARMUP; i++) for (const kind of kinds) await kind();
    for (const list of Object.values(times)) list.length = 0;
    for (let i = 0; i < SAMPLES; i++) {
      // Rotate which goes first, so none always meets a quieter server.
      for (let k = 0; k < kinds.length; k++) await kinds[(i + k) % kinds.length]?.();
    }
    progress(`readout p50 ${percentile(times.readout, 50).toFixed(2)} ms, nf readout p50 ${percentile(times.nf, 50).toFixed(2)} ms, ping p50 ${percentile(times.ping, 50).toFixed(2)} ms`);
    return [
      figure(`nf readout round trip p50 (${server.kind})`, "ms", { xedge: [percentile(times.nf, 50)], baseline: [percentile(times.ping, 50)] }, { atMost: 1.1 }),
      figure(`nf readout round trip p99 (${server.kind})`, "ms", { xedge: [percentile(times.nf, 99)], baseline: [percentile(times.ping, 99)] }, { atMost: 2 }),
      figure(`readout round trip p50 (${server.kind})`, "ms", { xedge: [percentile(times.readout, 50)], baseline: [percentile(times.ping, 50)] }, { atMost: 1.5 }),
      figure(`readout round trip p99 (${server.kind})`, "ms", { xedge: [percentile(times.readout, 99)], baseline: [percentile(times.ping, 99)] }, { atMost: 2 }),
      figure(`bare peer: nf readout vs its ping p50 (${server.kind})`, "ms", { xedge: [percentile(times.peerNf, 50)], baseline: [percentile(times.peerPing, 50)] }, "information"),
      figure(`bare peer: readout vs its ping p50 (${server.kind})`, "ms", { xedge: [percentile(times.peerReadout, 50)], baseline: [percentile(times.peerPing, 50)] }, "information"),
    ];
  } finally {
    await peer.entity.stop().catch(() => undefined);
    await ops.close();
    await agent.stop();
  }
}

/**
 * Makes `peer` answer pings and both readouts from strings built once, written straight to the stream in one write
 * with no middleware: the agent's nf `<resp>` and XEP-0323 data as captured, so the stanzas are the agent's in size
 * and number. Resolves with the peer's full JID.
 */
async function answerAsPeer(peer: ReturnType<typeof createClient>, resp: Element | undefined, data: Element | undefined): Promise<string> {
  if (!resp || !data) throw new Error("no agent answer captured to copy");
  const respAfterId = resp.toString().replace(/^<resp [^>]*>/, "");
  const dataNodes = data.getChildElements().map(String).join("");
  const own = peer.entity.jid?.toString() ?? "";
  peer.entity.on("element", (stanza: Element) => {
    if (stanza.name !== "iq" || stanza.attrs.type !== "get") return;
    const header = `<iq to="${String(stanza.attrs.from)}" from="${own}" id="${String(stanza.attrs.id)}" type="result"`;
    const to = String(stanza.attrs.from);
    const [request] = stanza.getChildElements();
    let answer: string | undefined;
    if (request?.is("ping", "urn:xmpp:ping")) answer = `${header}/>`;
    else if (request?.is("req", NS_NF_SENSORDATA)) answer = `${header}><resp xmlns="${NS_NF_SENSORDATA}" id="${String(request.attrs.id)}">${respAfterId}</iq>`;
    else if (request?.is("req", NS_SENSORDATA)) {
      const seqnr = String(request.attrs.seqnr);
      answer =
        `${header}><accepted xmlns="${NS_SENSORDATA}" seqnr="${seqnr}"/></iq>` +
        `<message to="${to}"><fields xmlns="${NS_SENSORDATA}" seqnr="${seqnr}">${dataNodes}</fields></message>` +
        `<message to="${to}"><fields xmlns="${NS_SENSORDATA}" seqnr="${seqnr}" done="true"/></message>`;
    }
    if (answer) void peer.entity.write(answer);
  });
  await peer.entity.send(xml("presence"));
  return own;
}

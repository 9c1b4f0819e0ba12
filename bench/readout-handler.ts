// The agent's own work for one momentary readout, without a server or a socket: from the `<req>` handed to the
// face's iq handler to every answer stanza serialised, in both dialects, against the same for a ping's empty
// result. One sensor of three BME280 fields, a new sample every SAMPLE_EVERY readouts (1 Hz against a readout every
// few milliseconds in `--only readout`). A figure for comparing builds on one machine, not a target:
// `node --import tsx bench/readout-handler.ts [readouts]`.
import { xml, type Element } from "../agent/xmpp/client.ts";
import type { IqRoute } from "../agent/xmpp/connection.ts";
import { registerNfSensorData } from "../agent/xmpp/nf-sensordata.ts";
import { registerSensorData } from "../agent/xmpp/sensordata.ts";
import { NS_SENSORDATA } from "../agent/xmpp/fields.ts";
import { NS_NF_SENSORDATA } from "../agent/xmpp/nf-fields.ts";
import { Readout } from "../agent/readout.ts";
import { Authz } from "../agent/authz.ts";
import { OperatorDesk } from "../agent/operator/desk.ts";
import type { SensorState } from "../agent/sampler.ts";
import { momentaryNumeric } from "../lib/model.ts";

const READOUTS = Number(process.argv[2] ?? 10_000);
const ROUNDS = 7;
const SAMPLE_EVERY = 250;
const OPERATOR = "ops@localhost/observer";

const sensor: SensorState = { id: "boiler", driver: "bme280" };
let sampleCount = 0;
function newSample(): void {
  sampleCount += 1;
  sensor.lastSample = {
    sensorId: "boiler",
    timestamp: new Date(),
    fields: [momentaryNumeric("temperature", 21 + sampleCount / 100, "°C", 2), momentaryNumeric("humidity", 45.5, "%", 1), momentaryNumeric("pressure", 1013.25, "hPa", 2)],
  };
}
newSample();

const readout = new Readout({ sampler: { states: [sensor] }, actuators: { all: [] }, store: { history: () => Promise.resolve([]) } });
const desk = new OperatorDesk({
  authz: new Authz([{ jid: "ops@localhost", role: "control" }]),
  readout,
  control: { set: () => Promise.reject(new Error("unused")), getForm: () => Promise.reject(new Error("unused")), parametersOf: () => [] },
  health: { sensors: () => [], buffered: () => 0, dropped: () => 0, lastPublished: () => undefined, online: () => true, startedAt: new Date(0) },
});
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const routes = new Map<string, IqRoute>();
let bytesOut = 0;
let ended: (() => void) | undefined;
const connection = {
  route: (route: IqRoute) => void routes.set(`${route.ns} ${route.name}`, route),
  send: (stanza: Element) => {
    bytesOut += stanza.toString().length;
    if (stanza.getChild("fields", NS_SENSORDATA)?.attrs.done === "true") ended?.();
    return Promise.resolve(true);
  },
};
registerNfSensorData(connection, { desk, log: quiet });
registerSensorData(connection, { desk, log: quiet });

/** What the iq responder does with a handler's answer: the reply around it, serialised. */
function reply(request: Element, payload: Element | true): void {
  const attrs = { to: request.attrs.from as string, from: request.attrs.to as string, id: request.attrs.id as string, type: "result" };
  bytesOut += xml("iq", attrs, ...(payload === true ? [] : [payload])).toString().length;
}

function iq(id: number, payload: Element): Element {
  return xml("iq", { type: "get", from: OPERATOR, to: "gw1@localhost/edge", id: String(id) }, payload);
}

async function answer(stanza: Element): Promise<Element | true> {
  const [element] = stanza.getChildElements();
  if (!element) throw new Error("no payload");
  const route = routes.get(`${String(element.attrs.xmlns)} ${element.name}`);
  if (!route) throw new Error(`no route for ${element.name}`);
  return route.handler({ element, stanza, from: OPERATOR });
}

const kinds: Record<string, (n: number) => Promise<void>> = {
  ping: (n) => {
    const stanza = iq(n, xml("ping", { xmlns: "urn:xmpp:ping" }));
    reply(stanza, true);
    return Promise.resolve();
  },
  nf: async (n) => {
    const stanza = iq(n, xml("req", { xmlns: NS_NF_SENSORDATA, id: String(n), m: "true" }, xml("nd", { id: "boiler" })));
    reply(stanza, await answer(stanza));
  },
  xep0323: async (n) => {
    const stanza = iq(n, xml("req", { xmlns: NS_SENSORDATA, seqnr: String(n), momentary: "true" }, xml("node", { nodeId: "boiler" })));
    const done = new Promise<void>((resolve) => (ended = resolve));
    reply(stanza, await answer(stanza));
    await done;
  },
};

/** CPU time (user and system) per readout, in µs: on a shared machine the wall clock also counts the others' work. */
async function run(kind: (n: number) => Promise<void>, count: number): Promise<number> {
  const started = process.cpuUsage();
  for (let n = 1; n <= count; n++) {
    if (n % SAMPLE_EVERY === 0) newSample();
    await kind(n);
  }
  const { user, system } = process.cpuUsage(started);
  return (user + system) / count;
}

for (const kind of Object.values(kinds)) await run(kind, READOUTS / 4);
// Rounds in turn; the lowest of each kind is the least disturbed by the rest of the machine.
const best: Record<string, number> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, kind] of Object.entries(kinds)) best[name] = Math.min(best[name] ?? Infinity, await run(kind, READOUTS));
}
const line = Object.entries(best).map(([name, us]) => `${name} ${us.toFixed(1)} µs`);
process.stdout.write(`CPU per readout, best of ${ROUNDS} × ${READOUTS}: ${line.join(", ")} (${bytesOut} bytes serialised)\n`);

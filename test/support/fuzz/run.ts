// The fuzz run: a private server, the real agent bundle on simulated hardware, three raw sessions (a stranger, a
// read operator, a control operator) sending generated cases through the server, and the oracle that checks
// every answer as it arrives. Used by test/resilience/fuzz.test.ts and `npm run fuzz` (test/support/fuzz/cli.ts).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Element } from "../../../agent/xmpp/client.ts";
import { REFUSAL } from "../../../agent/xmpp/chat.ts";
import { AgentProcess, writeAgentConfig, type LogLine } from "../agent.ts";
import type { Observer } from "../observer.ts";
import { startServer, type ServerKind, type XmppTestServer } from "../servers.ts";
import { generateCase, MAX_DEPTH as MAX_DEPTH_SENT, MAX_STANZA_BYTES, NS, SENDERS, serialize, type FuzzCase, type Outcome, type Probe, type Sender } from "./cases.ts";
import { RawSession } from "./session.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NF_NAMESPACES: readonly string[] = [NS.nfSensordata, NS.ieeeSensordata];
const ERROR_TYPES = new Set(["auth", "cancel", "continue", "modify", "wait"]);
/** RFC 6120 §8.3.3. */
const CONDITIONS = new Set([
  "bad-request", "conflict", "feature-not-implemented", "forbidden", "gone", "internal-server-error", "item-not-found", "jid-malformed",
  "not-acceptable", "not-allowed", "not-authorized", "policy-violation", "recipient-unavailable", "redirect", "registration-required",
  "remote-server-not-found", "remote-server-timeout", "resource-constraint", "service-unavailable", "subscription-required",
  "undefined-condition", "unexpected-request",
]);

/**
 * The error type RFC 6120 §8.3.3 gives each condition the agent uses; forbidden also as cancel, as XEP-0323's and
 * XEP-0325's examples have it.
 */
const TYPES_OF: Record<string, readonly string[]> = {
  "bad-request": ["modify"],
  forbidden: ["auth", "cancel"],
  "item-not-found": ["cancel"],
  "service-unavailable": ["cancel"],
  "feature-not-implemented": ["cancel", "modify"],
  "resource-constraint": ["wait"],
  "not-allowed": ["cancel"],
  "internal-server-error": ["cancel", "wait"],
};

export const AGENT_JID = "gw1@localhost/edge";
const ACCOUNTS: Record<Sender | "gateway" | "intruder", [user: string, password: string]> = {
  gateway: ["gw1", "gw1-secret"],
  stranger: ["stranger", "stranger-secret"],
  reader: ["viewer", "viewer-secret"],
  controller: ["ops", "ops-secret"],
  intruder: ["intruder", "intruder-secret"],
};
const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1s }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }`;
export const PUBLISHED_NODE = "xedge/gw1/boiler";
/** Preloaded into the agent: on SIGUSR2 it collects garbage and logs the heap (the soak's probe, never in the product). */
const HEAP_PROBE = resolve(import.meta.dirname, "../../../bench/heap-probe.mjs");
/** ejabberd closes a client's stream (without a stream error) for nesting between 3,000 and 4,000 levels. */
const MAX_DEPTH: Record<ServerKind, number> = { prosody: MAX_DEPTH_SENT, ejabberd: 2_900 };

/** The server and the agent a run fuzzes. */
export interface FuzzTarget {
  server: XmppTestServer;
  agent: AgentProcess;
  stop(): Promise<void>;
}

/** Starts a private server and the agent bundle; `env` is added to the agent's environment (NODE_OPTIONS, say). */
export async function startTarget(kind: ServerKind, env: NodeJS.ProcessEnv = {}): Promise<FuzzTarget> {
  const server = await startServer(kind, {
    accounts: Object.fromEntries(Object.values(ACCOUNTS)),
    pubsubAdmins: ["gw1@localhost"],
  });
  try {
    const { file } = writeAgentConfig(server, {
      devices: DEVICES,
      operators: [
        { jid: "ops@localhost", role: "control" },
        { jid: "viewer@localhost", role: "read" },
      ],
    });
    const agent = AgentProcess.start(file, { ...env, NODE_OPTIONS: `${env["NODE_OPTIONS"] ?? ""} --import ${HEAP_PROBE}`.trim() });
    await agent.waitForMessage("online", 30_000);
    return {
      server,
      agent,
      async stop() {
        await agent.stop();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export interface Failure {
  index: number;
  sender: Sender;
  face: string;
  mutation: string;
  problem: string;
  stanza: string;
}

export interface RssSample {
  atMs: number;
  stanzas: number;
  kb: number;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  /** Distinct face and mutation pairs sent. */
  classes: Set<string>;
  stanzas: number;
  elapsedMs: number;
  /** Answers by outcome ("result", "error:<condition>", "silence" for iqs nobody must answer, "chat" replies). */
  outcomes: Map<string, number>;
  /** Messages the server bounced back (type error), by condition. */
  bounces: Map<string, number>;
  readouts: { accepted: number; cancelled: number; finished: number };
  refusalsToStranger: number;
  rss: RssSample[];
  /** The agent's heapUsed (bytes) after a forced garbage collection: before, half-way through and after the run. */
  heap: { start: number; middle: number; end: number };
  failures: Failure[];
  /** Agent log lines at level error, and stderr lines that are not log lines (a crash trace). */
  agentErrors: string[];
  /** Times the agent lost its own link during the run (a server that cut it off would show here). */
  agentLinkLosses: number;
}

export interface FuzzOptions {
  seed: number;
  stanzas: number;
  /** Unanswered requests in flight per session. */
  window?: number;
  /** Deepest nesting to send; by default what the server passes on. */
  maxDepth?: number;
  /** The first case's index (default 0): `--first I --stanzas 1` replays case I alone. */
  first?: number;
  /** A request unanswered this long is a failure. */
  replyTimeoutMs?: number;
  /** Progress lines (the CLI prints them). */
  progress?: (line: string) => void;
}

interface Pending {
  fuzzCase: FuzzCase;
  probe: Probe;
  session: Sender;
  sentAt: number;
  /** Chat replies seen for a message. */
  replies: number;
}

const clip = (text: string, max = 700) => (text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text);

/** The outcome of an iq reply, or what is wrong with it (RFC 6120 §8.3). */
function outcomeOf(reply: Element, typesOf: Readonly<Record<string, readonly string[]>> = {}): { outcome: Outcome } | { problem: string } {
  if (reply.attrs.type === "result") return { outcome: "result" };
  const error = reply.getChild("error");
  if (!error) return { problem: "an iq error without <error/>" };
  if (!ERROR_TYPES.has(String(error.attrs.type))) return { problem: `error type ${String(error.attrs.type)} is not one of RFC 6120's` };
  const conditions = error.getChildElements().filter((child) => child.attrs.xmlns === NS_STANZAS && child.name !== "text");
  if (conditions.length !== 1) return { problem: `${conditions.length} defined conditions in one error` };
  const condition = conditions[0]!.name;
  if (!CONDITIONS.has(condition)) return { problem: `unknown defined condition ${condition}` };
  const types = typesOf[condition] ?? TYPES_OF[condition];
  if (types && !types.includes(String(error.attrs.type))) return { problem: `${condition} of type ${String(error.attrs.type)}, not ${types.join(" or ")}` };
  return { outcome: `error:${condition}` };
}

/** Runs `options.stanzas` stanzas against a started target; never throws for what the agent does, reports it. */
export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const { server, agent } = target;
  const window = options.window ?? 16;
  const maxDepth = options.maxDepth ?? MAX_DEPTH[server.kind];
  const replyTimeoutMs = options.replyTimeoutMs ?? 20_000;
  const report: FuzzReport = {
    seed: options.seed,
    cases: 0,
    classes: new Set(),
    stanzas: 0,
    elapsedMs: 0,
    outcomes: new Map(),
    bounces: new Map(),
    readouts: { accepted: 0, cancelled: 0, finished: 0 },
    refusalsToStranger: 0,
    rss: [],
    heap: { start: 0, middle: 0, end: 0 },
    failures: [],
    agentErrors: [],
    agentLinkLosses: 0,
  };
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const fail = (fuzzCase: FuzzCase, problem: string, stanza: Element | string) =>
    report.failures.push({ index: fuzzCase.index, sender: fuzzCase.sender, face: fuzzCase.face, mutation: fuzzCase.mutation, problem, stanza: clip(typeof stanza === "string" ? stanza : serialize(stanza)) });
  const logFrom = agent.logs.length;
  const stderrFrom = agent.stderr.length;

  const sessions = new Map<Sender, RawSession>();
  for (const sender of SENDERS) {
    const [user, password] = ACCOUNTS[sender];
    sessions.set(sender, await RawSession.open(server, user, password, "fuzz"));
  }
  /** Requests and chat messages awaiting their answer, by iq id or chat thread. */
  const pending = new Map<string, Pending>();
  const inFlight = new Map<Sender, number>(SENDERS.map((sender) => [sender, 0]));
  /** Ids answered already, and ids (iq results/errors, unanswerable messages) that must never be answered. */
  const answered = new Map<string, Pending>();
  const silent = new Map<string, Pending>();
  /** Messages whose replies are counted until the end: strangers' chat, chat that may or may not arrive. */
  const watched = new Map<string, Pending>();
  const readouts = new Map<string, { fuzzCase: FuzzCase; ended: boolean; cancelled: boolean }>();
  let strangerChats = 0;
  let wake: (() => void) | undefined;
  const notify = () => wake?.();
  const started = Date.now();

  const send = async (fuzzCase: FuzzCase, probe: Probe) => {
    const sender = probe.from ?? fuzzCase.sender;
    const session = sessions.get(sender)!;
    const { stanza, expect } = probe;
    const key = stanza.is("message") ? (stanza.getChildText("thread") ?? String(stanza.attrs.id)) : String(stanza.attrs.id);
    const entry: Pending = { fuzzCase, probe, session: sender, sentAt: Date.now(), replies: 0 };
    if (expect.kind === "silence") silent.set(key, entry);
    else if (expect.kind === "chat" && expect.min === 0) watched.set(key, entry);
    else {
      pending.set(key, entry);
      inFlight.set(sender, (inFlight.get(sender) ?? 0) + 1);
    }
    if (fuzzCase.sender === "stranger" && stanza.is("message") && expect.kind === "chat" && expect.max > 0) strangerChats += 1;
    report.stanzas += 1;
    const text = serialize(stanza);
    // Past the server's stanza limit the server closes our stream: that is its shield (sendIllFormed), not the agent's.
    if (Buffer.byteLength(text) > MAX_STANZA_BYTES) throw new Error(`case ${fuzzCase.index} generated ${Buffer.byteLength(text)} bytes; the generator must stay under ${MAX_STANZA_BYTES}`);
    await session.write(text);
  };

  const settle = (key: string, entry: Pending) => {
    pending.delete(key);
    inFlight.set(entry.session, (inFlight.get(entry.session) ?? 1) - 1);
    notify();
  };

  const onIqReply = (sender: Sender, reply: Element) => {
    const id = String(reply.attrs.id ?? "");
    const entry = pending.get(id);
    if (!entry || entry.probe.expect.kind !== "reply") {
      const earlier = answered.get(id) ?? silent.get(id);
      if (earlier) fail(earlier.fuzzCase, silent.has(id) ? `answered an iq nobody may answer: ${clip(reply.toString(), 300)}` : `a second reply: ${clip(reply.toString(), 300)}`, earlier.probe.stanza);
      else report.failures.push({ index: -1, sender, face: "?", mutation: "?", problem: "a reply to no request of ours", stanza: clip(reply.toString()) });
      return;
    }
    settle(id, entry);
    answered.set(id, entry);
    const { fuzzCase, probe } = entry;
    const { outcomes: expected, types } = entry.probe.expect;
    const expectedFrom = String(probe.stanza.attrs.to);
    if (reply.attrs.from !== expectedFrom) fail(fuzzCase, `reply from ${String(reply.attrs.from)}, not ${expectedFrom}`, probe.stanza);
    const outcome = outcomeOf(reply, types);
    if ("problem" in outcome) {
      fail(fuzzCase, `${outcome.problem}: ${clip(reply.toString(), 400)}`, probe.stanza);
      return;
    }
    count(report.outcomes, outcome.outcome);
    if (!expected.includes(outcome.outcome)) {
      fail(fuzzCase, `expected ${expected.join(" or ")}, got ${outcome.outcome}: ${clip(reply.toString(), 400)}`, probe.stanza);
    }
    const payload = probe.stanza.getChildElements()[0];
    if (outcome.outcome === "result" && payload?.is("req", NS.sensordata)) {
      const seqnr = String(payload.attrs.seqnr);
      readouts.set(`${sender} ${seqnr}`, { fuzzCase, ended: false, cancelled: false });
      report.readouts.accepted += 1;
    }
    if (outcome.outcome === "result" && payload?.is("cancel", NS.sensordata)) {
      const readout = readouts.get(`${sender} ${String(payload.attrs.seqnr)}`);
      if (readout && !readout.ended) readout.cancelled = true;
      report.readouts.cancelled += 1;
    }
    // The nf dialect: its readouts are keyed by namespace and id; a <resp> without more in the result ends one at once.
    const nfNamespace = NF_NAMESPACES.find((ns) => payload?.attrs.xmlns === ns);
    if (outcome.outcome === "result" && nfNamespace && payload?.name === "req") {
      const answer = reply.getChildElements()[0];
      const ended = answer?.name === "resp" && answer.attrs.more !== "true";
      readouts.set(`${sender} ${nfNamespace} ${String(payload.attrs.id)}`, { fuzzCase, ended, cancelled: false });
      report.readouts.accepted += 1;
      if (ended) report.readouts.finished += 1;
    }
    if (outcome.outcome === "result" && nfNamespace && payload?.name === "cancel") {
      const readout = readouts.get(`${sender} ${nfNamespace} ${String(payload.attrs.id)}`);
      if (readout && !readout.ended) readout.cancelled = true;
      report.readouts.cancelled += 1;
    }
    const next = probe.then?.(reply);
    if (next) send(fuzzCase, next).catch((error: unknown) => fail(fuzzCase, `the follow-up could not be sent: ${String(error)}`, next.stanza));
  };

  const onMessage = (sender: Sender, message: Element) => {
    if (message.attrs.type === "error") {
      const condition = message.getChild("error")?.getChildElements().find((child) => child.attrs.xmlns === NS_STANZAS)?.name ?? "none";
      count(report.bounces, condition);
      return;
    }
    const data = message.getChildElements().find((child) => child.attrs.xmlns === NS.sensordata);
    if (data) {
      const readout = readouts.get(`${sender} ${String(data.attrs.seqnr)}`);
      if (!readout) {
        report.failures.push({ index: -1, sender, face: "xep0323-req", mutation: "?", problem: "readout data for no accepted request", stanza: clip(message.toString()) });
        return;
      }
      if (readout.ended) fail(readout.fuzzCase, `readout data after its end: ${clip(message.toString(), 300)}`, "");
      if (data.name === "done" || (data.name === "fields" && data.attrs.done === "true")) {
        readout.ended = true;
        report.readouts.finished += 1;
        notify();
      }
      return;
    }
    const nfData = message.getChildElements().find((child) => NF_NAMESPACES.includes(String(child.attrs.xmlns)));
    if (nfData) {
      const readout = readouts.get(`${sender} ${String(nfData.attrs.xmlns)} ${String(nfData.attrs.id)}`);
      if (!readout) {
        report.failures.push({ index: -1, sender, face: "nf-req", mutation: "?", problem: "readout data for no accepted request", stanza: clip(message.toString()) });
        return;
      }
      if (readout.ended) fail(readout.fuzzCase, `readout data after its end: ${clip(message.toString(), 300)}`, "");
      if (nfData.name === "done" || (nfData.name === "resp" && nfData.attrs.more !== "true")) {
        readout.ended = true;
        report.readouts.finished += 1;
        notify();
      }
      return;
    }
    const body = message.getChildText("body");
    if (body === null) return; // chat states and the like carry nothing to check
    if (sender === "stranger") {
      if (body === REFUSAL) report.refusalsToStranger += 1;
      else report.failures.push({ index: -1, sender, face: "chat", mutation: "?", problem: "the stranger got an answer other than the refusal", stanza: clip(message.toString()) });
    }
    const thread = message.getChildText("thread") ?? "";
    const entry = pending.get(thread) ?? watched.get(thread) ?? answered.get(thread) ?? silent.get(thread);
    if (!entry) {
      report.failures.push({ index: -1, sender, face: "chat", mutation: "?", problem: "a chat message answering nothing we sent", stanza: clip(message.toString()) });
      return;
    }
    count(report.outcomes, "chat");
    entry.replies += 1;
    const expect = entry.probe.expect;
    const max = expect.kind === "chat" ? expect.max : 0;
    if (entry.replies > max) fail(entry.fuzzCase, `${entry.replies} chat replies, at most ${max} allowed: ${clip(body, 200)}`, entry.probe.stanza);
    if (pending.get(thread) === entry) {
      settle(thread, entry);
      answered.set(thread, entry);
    }
  };

  for (const [sender, session] of sessions) {
    session.onStanza((stanza) => {
      if (stanza.is("iq") && (stanza.attrs.type === "result" || stanza.attrs.type === "error")) onIqReply(sender, stanza);
      else if (stanza.is("message")) onMessage(sender, stanza);
    });
  }

  const rssTimer = setInterval(() => {
    const kb = agentRssKb(agent);
    if (kb !== undefined) report.rss.push({ atMs: Date.now() - started, stanzas: report.stanzas, kb });
  }, 250);
  // A request unanswered for too long is a failure with its stanza, not a silent hang.
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const [key, entry] of pending) {
      if (now - entry.sentAt < replyTimeoutMs) continue;
      settle(key, entry);
      fail(entry.fuzzCase, `no reply within ${replyTimeoutMs} ms`, entry.probe.stanza);
    }
    notify();
  }, 500);
  const until = async (condition: () => boolean) => {
    while (!condition()) {
      const closed = [...sessions.values()].find((session) => session.closedBecause);
      if (closed) throw new Error(`the server ended a fuzzing session: ${closed.closedBecause}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  };

  try {
    report.heap.start = await heapAfterGc(agent);
    for (let index = options.first ?? 0; report.stanzas < options.stanzas; index++) {
      if (report.heap.middle === 0 && report.stanzas >= options.stanzas / 2) report.heap.middle = await heapAfterGc(agent);
      const fuzzCase = generateCase(options.seed, index, AGENT_JID, maxDepth);
      report.cases += 1;
      report.classes.add(`${fuzzCase.face} ${fuzzCase.mutation.replace(/ of \d+$| type=.*$/, "")}`);
      await until(() => (inFlight.get(fuzzCase.sender) ?? 0) < window);
      for (const probe of fuzzCase.probes) await send(fuzzCase, probe);
      if (index % 1000 === 999) options.progress?.(`${report.stanzas} stanzas, ${Math.round((report.stanzas * 1000) / (Date.now() - started))}/s, agent RSS ${report.rss.at(-1)?.kb ?? 0} kB`);
    }
    await until(() => pending.size === 0);
    // Every accepted readout that was not cancelled ends; the watchdog's limit applies here too.
    const deadline = Date.now() + replyTimeoutMs;
    const unfinished = () => [...readouts.values()].filter((readout) => !readout.ended && !readout.cancelled);
    await until(() => unfinished().length === 0 || Date.now() > deadline);
    for (const readout of unfinished()) fail(readout.fuzzCase, "an accepted readout never ended", "");
    report.elapsedMs = Date.now() - started;
    report.heap.end = await heapAfterGc(agent);
  } finally {
    clearInterval(rssTimer);
    clearInterval(watchdog);
    await Promise.all([...sessions.values()].map((session) => session.close()));
  }

  // A stranger hears one polite refusal in all, however much it writes (agent/xmpp/chat.ts).
  const expectedRefusals = strangerChats > 0 ? 1 : 0;
  if (report.refusalsToStranger !== expectedRefusals) {
    report.failures.push({ index: -1, sender: "stranger", face: "chat", mutation: "*", problem: `${report.refusalsToStranger} refusals to the stranger, expected ${expectedRefusals}`, stanza: "" });
  }
  const logs: LogLine[] = agent.logs.slice(logFrom);
  report.agentErrors = [
    ...logs.filter((line) => line.level === "error").map((line) => JSON.stringify(line)),
    ...agent.stderr.slice(stderrFrom).filter((line) => !line.startsWith("{")),
  ];
  report.agentLinkLosses = logs.filter((line) => line.message === "link lost" || line.message === "connection failed").length;
  return report;
}

/** The agent's heapUsed in bytes right after a full garbage collection (through the preloaded probe). */
async function heapAfterGc(agent: AgentProcess): Promise<number> {
  const from = agent.logs.length;
  agent.child.kill("SIGUSR2");
  const line = await agent.waitForMessage("heap probe", 10_000, from);
  return Number(line["heapUsed"]);
}

/** The agent's resident set size in kB, from /proc. */
export function agentRssKb(agent: AgentProcess): number | undefined {
  try {
    const status = readFileSync(`/proc/${agent.child.pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Median RSS (kB) of the samples in [from, to) as fractions of the run. */
export function rssMedian(samples: readonly RssSample[], from: number, to: number): number {
  const slice = samples.slice(Math.floor(samples.length * from), Math.ceil(samples.length * to)).map((sample) => sample.kb).sort((a, b) => a - b);
  return slice[Math.floor(slice.length / 2)] ?? 0;
}

/** The highest item id of the sensor's node: the agent publishes one reading per item, numbered upwards. */
export async function latestPublished(observer: Observer, server: XmppTestServer): Promise<number> {
  const items = await observer.items(server.pubsubService, PUBLISHED_NODE);
  return Math.max(0, ...items.map((item) => Number(item.id)).filter(Number.isFinite));
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);

/** One line per figure, for people. */
export function summarize(report: FuzzReport): string {
  const rss = report.rss.map((sample) => sample.kb);
  const lines = [
    `seed ${report.seed}: ${report.stanzas} stanzas (${report.cases} cases) in ${(report.elapsedMs / 1000).toFixed(1)} s = ${Math.round((report.stanzas * 1000) / Math.max(1, report.elapsedMs))} stanzas/s; ${report.classes.size} mutation classes`,
    `answers: ${[...report.outcomes].sort((a, b) => b[1] - a[1]).map(([outcome, n]) => `${outcome} ${n}`).join(", ")}`,
    `server bounces: ${[...report.bounces].map(([condition, n]) => `${condition} ${n}`).join(", ") || "none"}`,
    `readouts: ${report.readouts.accepted} accepted, ${report.readouts.finished} finished, ${report.readouts.cancelled} cancelled; refusals to the stranger: ${report.refusalsToStranger}`,
    rss.length === 0
      ? "agent RSS: no samples (a run shorter than 250 ms)"
      : `agent RSS: min ${Math.round(Math.min(...rss) / 1024)} MB, max ${Math.round(Math.max(...rss) / 1024)} MB, median of 2nd quarter ${Math.round(rssMedian(report.rss, 0.25, 0.5) / 1024)} MB, of 4th quarter ${Math.round(rssMedian(report.rss, 0.75, 1) / 1024)} MB (${rss.length} samples)`,
    `agent heap after GC: ${mb(report.heap.start)} MB before, ${mb(report.heap.middle)} MB half-way, ${mb(report.heap.end)} MB after`,
    `agent errors: ${report.agentErrors.length}; agent link losses: ${report.agentLinkLosses}; failures: ${report.failures.length}`,
  ];
  for (const failure of report.failures.slice(0, 20)) {
    lines.push(`FAIL #${failure.index} ${failure.sender} ${failure.face} ${failure.mutation}: ${failure.problem}\n    ${failure.stanza}`);
  }
  return lines.join("\n");
}

/**
 * Ill-formed input, each of which a server must answer by closing the sender's stream (RFC 6120 §4.9.3, §11),
 * except where `tolerated` names a server that drops the offending part and goes on.
 */
export const ILL_FORMED: readonly { name: string; bytes: string | Buffer; tolerated?: ServerKind[] }[] = [
  { name: "mismatched end tag", bytes: `<iq type='get' id='raw' to='${AGENT_JID}'><ping xmlns='urn:xmpp:ping'></iq>` },
  { name: "control character", bytes: `<message to='${AGENT_JID}' type='chat'><body>a\u0001b</body></message>` },
  { name: "invalid UTF-8", bytes: Buffer.concat([Buffer.from(`<message to='${AGENT_JID}' type='chat'><body>`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from("</body></message>")]) },
  { name: "bare ampersand", bytes: `<message to='${AGENT_JID}' type='chat'><body>a & b</body></message>` },
  { name: "unbound prefix", bytes: `<iq type='get' id='raw' to='${AGENT_JID}'><foo:ping xmlns='urn:xmpp:ping'/></iq>` },
  { name: "entity declaration", bytes: `<!DOCTYPE lol [<!ENTITY lol "lol">]><message to='${AGENT_JID}' type='chat'><body>&lol;</body></message>` },
  { name: "comment (restricted XML)", bytes: `<!-- hello --><message to='${AGENT_JID}' type='chat'><body>help</body></message>`, tolerated: ["ejabberd"] },
  { name: "duplicate attribute", bytes: `<iq type='get' type='set' id='raw' to='${AGENT_JID}'><ping xmlns='urn:xmpp:ping'/></iq>` },
  { name: "stanza over the size limit", bytes: `<message to='${AGENT_JID}' type='chat'><body>${"x".repeat(600_000)}</body></message>` },
];

/**
 * Sends each ill-formed sample on a throwaway session of its own, then a ping to the server; resolves with how the
 * server ended each session, or undefined where it answered the ping instead (it went on past the sample).
 */
export async function sendIllFormed(server: XmppTestServer, timeoutMs = 10_000): Promise<Map<string, string | undefined>> {
  const [user, password] = ACCOUNTS.intruder;
  const endings = new Map<string, string | undefined>();
  for (const [index, sample] of ILL_FORMED.entries()) {
    const session = await RawSession.open(server, user, password, `raw${index}`);
    let ponged = false;
    session.onStanza((stanza) => {
      if (stanza.is("iq") && stanza.attrs.id === "after-sample") ponged = true;
    });
    await session.write(sample.bytes).catch(() => undefined);
    await session.write(`<iq type='get' id='after-sample' to='${server.domain}'><ping xmlns='${NS.ping}'/></iq>`).catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (!session.closedBecause && !ponged && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (!session.closedBecause && !ponged) throw new Error(`${server.kind} neither closed the stream nor answered after "${sample.name}"`);
    endings.set(sample.name, session.closedBecause);
    session.destroy();
  }
  return endings;
}

// The server's part of `xedge check`: one login as the agent logs in (the same client: TLS verified against the
// system's CAs and caFile, SCRAM, STARTTLS or direct TLS), then for each sensor's node whether this account may
// publish there the way the agent will, asked of the service by PubsubSink.probe, the agent's own first publish.
import { createClient, type ClientOptions } from "./client.ts";
import { explainConnectError } from "./connection.ts";
import { nodeName, PubsubSink, type PubsubOptions } from "./pubsub.ts";
import type { CheckLine } from "../check.ts";
import { errorText } from "../log.ts";

export interface ServerCheckOptions {
  client: ClientOptions;
  pubsub: Omit<PubsubOptions, "notice">;
  sensorIds: readonly string[];
  /** Longest the login, and then each request, may take. */
  timeoutMs?: number;
}

/** The login line, then one line per sensor's node; no node lines when the login fails. */
export async function checkServer({ client: clientOptions, pubsub, sensorIds, timeoutMs = 15_000 }: ServerCheckOptions): Promise<CheckLine[]> {
  // Its own resource, so that a check beside the running agent does not take over (and end) the agent's session.
  const options = { ...clientOptions, resource: `${clientOptions.resource}-check` };
  const jid = `${options.username}@${options.domain}`;
  let client: ReturnType<typeof createClient>;
  try {
    client = createClient(options);
  } catch (error) {
    // The TLS context reads caFile now: a file gone since the config was validated.
    return [{ ok: false, item: `login ${jid}`, detail: errorText(error) }];
  }
  let lastError: unknown;
  client.entity.on("error", (error: unknown) => {
    lastError = error;
  });
  const trust = options.caFile === undefined ? "the system's CAs" : `the system's CAs and ${options.caFile}`;
  try {
    await withTimeout(client.entity.start(), timeoutMs);
  } catch (error) {
    await client.entity.stop().catch(() => undefined);
    return [{ ok: false, item: `login ${jid}`, detail: explainConnectError(lastError ?? error, options) }];
  }
  const lines: CheckLine[] = [{ ok: true, item: `login ${jid}`, detail: `logged in on ${options.service}, TLS verified against ${trust}` }];
  let notices: string[] = [];
  const sink = new PubsubSink(client, { ...pubsub, requestTimeoutMs: timeoutMs, notice: (message) => notices.push(message) });
  const where = pubsub.service ?? `the PEP service of ${pubsub.gatewayJid}`;
  // One node at a time, so each line carries what the service said of that node.
  for (const sensorId of sensorIds) {
    notices = [];
    try {
      const probe = await sink.probe(sensorId);
      const retract = probe.retractError === undefined ? "published and retracted a check item" : `published check item ${probe.itemId}, which it could not retract (${probe.retractError}): remove it as the node's owner`;
      lines.push({ ok: true, item: `pubsub node ${probe.node}`, detail: [`${jid} may publish on ${where} as the agent will: ${retract}`, ...notices].join("; ") });
    } catch (error) {
      lines.push({ ok: false, item: `pubsub node ${nodeName(pubsub.nodePrefix, sensorId)}`, detail: errorText(error) });
    }
  }
  await withTimeout(client.entity.stop(), 3_000).catch(() => undefined);
  return lines;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`timed out after ${ms} ms`), { name: "TimeoutError" })), ms);
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
}

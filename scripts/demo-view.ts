// The demo's live view: one row per sensor (latest values, item count, a sparkline of its first numeric
// field), the outbox from the store, and how to connect. Pure rendering; scripts/demo.ts feeds and draws it.
import type { Element } from "@xmpp/xml";
import type { StoreStatus } from "../agent/store.ts";
import { age, sparkline } from "../lib/text.ts";

/** Points kept per sensor for its sparkline. */
const HISTORY = 24;

/** `name value unit` for each field of a XEP-0323 `<fields>` payload's first timestamp. */
export function fieldTexts(payload: Element | undefined): { texts: string[]; firstNumeric?: number; timestamp?: Date } {
  const timestamp = payload?.getChild("node")?.getChild("timestamp");
  const fields = timestamp?.getChildElements() ?? [];
  const numeric = fields.find((field) => field.name === "numeric" || field.name === "int");
  const value = numeric === undefined ? undefined : Number(numeric.attrs.value);
  return {
    texts: fields.map((f) => `${String(f.attrs.name)} ${String(f.attrs.value)}${f.attrs.unit ? ` ${String(f.attrs.unit)}` : ""}`),
    ...(value !== undefined && Number.isFinite(value) ? { firstNumeric: value } : {}),
    ...(timestamp ? { timestamp: new Date(String(timestamp.attrs.value)) } : {}),
  };
}

interface Row {
  seq?: string;
  texts: string[];
  numbers: number[];
  at?: Date;
}

export interface ViewHeader {
  gateway: string;
  operator: string;
  password: string;
  host: string;
  port: number;
  caFile: string;
  statusCommand: string;
  /** The browser console's address, when the demo serves it. */
  consoleUrl?: string;
}

export class DemoView {
  private readonly rows = new Map<string, Row>();
  private status: StoreStatus | undefined;

  constructor(
    private readonly header: ViewHeader,
    sensors: readonly string[],
  ) {
    for (const sensor of sensors) this.rows.set(sensor, { texts: [], numbers: [] });
  }

  /** One pubsub item of `sensor`'s node. */
  addItem(sensor: string, itemId: string, payload: Element | undefined): void {
    const row = this.rows.get(sensor) ?? { texts: [], numbers: [] };
    const { texts, firstNumeric, timestamp } = fieldTexts(payload);
    row.seq = itemId;
    row.texts = texts;
    if (firstNumeric !== undefined) row.numbers = [...row.numbers, firstNumeric].slice(-HISTORY);
    if (timestamp) row.at = timestamp;
    this.rows.set(sensor, row);
  }

  setStatus(status: StoreStatus): void {
    this.status = status;
  }

  /** The view as lines; each is cut to `width` columns when given (a terminal wraps long lines otherwise). */
  render(now: Date, width?: number): string[] {
    const h = this.header;
    const idWidth = Math.max(6, ...[...this.rows.keys()].map((id) => id.length));
    const lines = [
      `xedge demo · gateway ${h.gateway} · simulated hardware`,
      "",
      `  connect a client as  ${h.operator}   password ${h.password}`,
      `  server               ${h.host} port ${h.port} (STARTTLS); trust the CA in ${h.caFile}`,
      `  chat with            ${h.gateway.split("/")[0]} (add it as a contact: it accepts operators only)`,
      "  and try              help · read · read boiler · set pump state on · status · history boiler 10m",
      `  status from the CLI  ${h.statusCommand}`,
      ...(h.consoleUrl === undefined ? [] : [`  browser console      ${h.consoleUrl} (log in as ${h.operator}; the browser must trust the CA)`]),
      "",
      `  ${"sensor".padEnd(idWidth)}  ${"items".padStart(6)}  ${"trend".padEnd(HISTORY)}  values`,
    ];
    const errors = new Map((this.status?.sensors ?? []).flatMap((s) => (s.error === undefined ? [] : [[s.sensorId, s.error] as const])));
    for (const [id, row] of this.rows) {
      const trend = row.numbers.length > 0 ? sparkline(row.numbers) : "";
      const items = row.seq === undefined ? "-" : `#${row.seq}`;
      const error = errors.get(id);
      const values = error !== undefined ? `FAILING: ${error}` : row.texts.length > 0 ? row.texts.join("  ") : "waiting for the first reading";
      lines.push(`  ${id.padEnd(idWidth)}  ${items.padStart(6)}  ${trend.padEnd(HISTORY)}  ${values}`);
    }
    lines.push("");
    const s = this.status;
    lines.push(
      s === undefined
        ? "  buffer ? (reading the store …)"
        : `  buffer ${s.unsent} · dropped ${s.dropped} · last publish ${s.lastPublished ? age(s.lastPublished, now) : "never"}${s.oldestUnsent ? ` · oldest unsent ${age(s.oldestUnsent, now)}` : ""}`,
    );
    return width === undefined ? lines : lines.map((line) => (line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line));
  }
}

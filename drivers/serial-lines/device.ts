// A microcontroller (Arduino, ESP32, Pico) that prints one line of readings per period on a serial port:
// `key=value` pairs separated by spaces or commas (`temp=21.5 hum=40`), or one JSON object per line
// (`{"temp":21.5,"hum":40}`, as ArduinoJson prints it). read() hands out the latest complete line.
//
// Values: numbers become numeric fields with the decimals the device printed, true/false booleans, anything else
// a string. A value the device could not measure (Arduino prints nan/inf/ovf; ArduinoJson prints null) is left
// out. With `fields` declared, a reading has exactly those fields, typed, with units, and each must be present:
// that is also how a line cut short is noticed in key=value format.
import type { Field } from "../../lib/model.ts";
import type { SensorDevice } from "../driver.ts";
import { HardwareAccessError, type Hal } from "../hal.ts";
import { awaitFirstData, LineSplitter, ReopeningSerialLink, type SerialSettings } from "../serial-util.ts";
import { KEY, type FieldSpec } from "./index.ts";

const MAX_LINE = 1024;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** What Arduino's Print prints for a float it cannot show. */
const NOT_A_VALUE = new Set(["nan", "inf", "-inf", "ovf"]);

export type LineValue = number | boolean | string | null;

/** The key/value pairs of one line; throws an Error saying what is wrong with it. */
export function parseLine(line: string, format: "kv" | "json" | "auto"): Map<string, { value: LineValue; text: string }> {
  const text = line.trim();
  const json = format === "json" || (format === "auto" && text.startsWith("{"));
  return json ? parseJsonLine(text) : parseKeyValueLine(text);
}

function parseKeyValueLine(text: string): Map<string, { value: LineValue; text: string }> {
  const pairs = new Map<string, { value: LineValue; text: string }>();
  for (const token of text.split(/[\s,]+/).filter((t) => t !== "")) {
    const equals = token.indexOf("=");
    const key = token.slice(0, equals);
    if (equals <= 0 || !KEY.test(key)) throw new Error(`"${token}" is not key=value`);
    if (pairs.has(key)) throw new Error(`key "${key}" appears twice`);
    pairs.set(key, { value: scalar(token.slice(equals + 1)), text: token.slice(equals + 1) });
  }
  if (pairs.size === 0) throw new Error("no key=value pairs");
  return pairs;
}

function parseJsonLine(text: string): Map<string, { value: LineValue; text: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("not valid JSON (a line cut short, or a wrong baud rate)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
  const pairs = new Map<string, { value: LineValue; text: string }>();
  for (const [key, value] of Object.entries(parsed)) {
    if (!KEY.test(key)) throw new Error(`key ${JSON.stringify(key)} is not a usable field name`);
    if (value !== null && typeof value === "object") throw new Error(`"${key}" holds a nested ${Array.isArray(value) ? "list" : "object"}; only numbers, true/false, strings and null`);
    // The raw text of a number keeps the decimals the device printed (21.50 stays two decimals).
    const raw = typeof value === "number" ? rawNumberText(text, key) ?? String(value) : String(value);
    pairs.set(key, { value: value as LineValue, text: raw });
  }
  return pairs;
}

/** The number exactly as printed after "key": in a JSON line. */
function rawNumberText(text: string, key: string): string | undefined {
  const match = new RegExp(`${escapeRegExp(JSON.stringify(key))}\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?)`).exec(text);
  return match?.[1];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function scalar(text: string): LineValue {
  if (NUMBER.test(text)) return Number(text);
  if (text === "true") return true;
  if (text === "false") return false;
  if (NOT_A_VALUE.has(text.toLowerCase())) return null;
  return text;
}

/** Decimals as printed: "21.50" → 2, "40" → 0, "1e3" → 0. */
function printedDecimals(text: string): number {
  const match = /\.(\d+)(?![eE])$/.exec(text);
  return match?.[1]?.length ?? 0;
}

/** The fields of one parsed line, per the declarations when there are any. */
export function lineFields(pairs: Map<string, { value: LineValue; text: string }>, declared: FieldSpec[] | undefined): Field[] {
  const flags = { momentary: true };
  if (!declared) {
    const fields: Field[] = [];
    for (const [name, { value, text }] of pairs) {
      if (value === null) continue;
      if (typeof value === "number") fields.push({ name, type: "numeric", value, unit: "", decimals: printedDecimals(text), flags });
      else if (typeof value === "boolean") fields.push({ name, type: "boolean", value, flags });
      else fields.push({ name, type: "string", value, flags });
    }
    return fields;
  }
  return declared.map((spec): Field => {
    const pair = pairs.get(spec.name);
    if (!pair) throw new Error(`the line has no "${spec.name}" (a line cut short, or the sketch prints another key)`);
    const { value, text } = pair;
    if (value === null) throw new Error(`"${spec.name}" is ${text}: the device could not measure it`);
    switch (spec.type) {
      case "numeric":
        if (typeof value !== "number") throw new Error(`"${spec.name}" is ${JSON.stringify(text)}, expected a number`);
        return { name: spec.name, type: "numeric", value, unit: spec.unit, decimals: spec.decimals ?? printedDecimals(text), flags };
      case "int":
        if (typeof value !== "number" || !Number.isInteger(value)) throw new Error(`"${spec.name}" is ${JSON.stringify(text)}, expected an integer`);
        return { name: spec.name, type: "int", value, ...(spec.unit ? { unit: spec.unit } : {}), flags };
      case "boolean":
        if (typeof value !== "boolean") throw new Error(`"${spec.name}" is ${JSON.stringify(text)}, expected true or false`);
        return { name: spec.name, type: "boolean", value, flags };
      case "string":
        return { name: spec.name, type: "string", value: String(value), flags };
    }
  });
}

interface LatestLine {
  line: string;
  at: number;
}

export class LineDevice implements SensorDevice {
  private latest: LatestLine | undefined;
  private readonly openedAt = Date.now();
  private closed = false;

  private constructor(
    private readonly link: ReopeningSerialLink,
    private readonly format: "kv" | "json" | "auto",
    private readonly declared: FieldSpec[] | undefined,
    private readonly staleAfterMs: number,
  ) {
    const splitter = new LineSplitter(MAX_LINE, (line) => {
      if (line.trim() !== "") this.latest = { line, at: Date.now() };
    });
    link.onData((chunk) => splitter.push(chunk));
    link.onLost(() => splitter.reset());
  }

  static async open(hal: Hal, settings: SerialSettings, format: "kv" | "json" | "auto", declared: FieldSpec[] | undefined, staleAfterMs: number): Promise<LineDevice> {
    try {
      return new LineDevice(await ReopeningSerialLink.open(hal, settings), format, declared, staleAfterMs);
    } catch (error) {
      throw describeError(error, settings.path);
    }
  }

  private get where(): string {
    return `serial-lines on ${this.link.path}`;
  }

  async read(): Promise<Field[]> {
    if (this.closed) throw new Error(`${this.where}: device is closed`);
    if (!this.link.isOpen) {
      try {
        await this.link.ensureOpen();
      } catch (error) {
        throw describeError(error, this.link.path);
      }
    }
    await awaitFirstData(() => this.latest !== undefined, this.openedAt, this.staleAfterMs, () => this.closed);
    const now = Date.now();
    const latest = this.latest;
    if (!latest || now - latest.at > this.staleAfterMs) {
      const since = latest ? `for ${seconds(now - latest.at)}` : `since the port was opened ${seconds(now - this.openedAt)} ago`;
      const link = this.link.isOpen ? "" : ` (the serial link is down: ${this.link.lostBecause?.message ?? "closed"})`;
      throw new Error(
        `${this.where}: no line ${since}${link}; check that the sketch runs and prints at ${this.link.settings.baudRate} baud, ` +
          "and that the board's TX goes to the Pi's RX (pin 10) with a common ground",
      );
    }
    try {
      return lineFields(parseLine(latest.line, this.format), this.declared);
    } catch (error) {
      throw new Error(`${this.where}: malformed line "${printable(latest.line)}": ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.close();
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function printable(line: string): string {
  const shown = line.replace(/[^\x20-\x7e]/g, "?");
  return shown.length > 60 ? `${shown.slice(0, 60)}…` : shown;
}

function describeError(error: unknown, path: string): Error {
  if (error instanceof HardwareAccessError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`serial-lines on ${path}: ${message}`, { cause: error });
}

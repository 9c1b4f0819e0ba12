// NMEA-0183 GNSS receiver (u-blox NEO-6M/M8N, Quectel L76, ...) on a serial port: position, altitude, speed,
// course and time from the GGA and RMC sentences it prints on its own (usually once per second at 9600 baud).
//
// The device listens all the time and keeps the latest fix; read() hands out the latest one. Every sentence must
// carry its "*hh" checksum (XOR of the characters between "$" and "*"): receivers always send one, and a sentence
// without it is as untrustworthy as one with a wrong one, so both are rejected and counted.
// A reading is an error when no fresh fix arrived for `staleAfter` (receiver silent, unplugged, wrong baud rate,
// or repeating the same fix time: a stuck receiver) and when the receiver reports that it has no fix: a reading
// without a position would look like a valid sample, so the error text carries what the receiver does know
// (satellites in use).
import { momentaryNumeric, type Field, type IntField } from "../../lib/model.ts";
import type { SensorDevice } from "../driver.ts";
import { HardwareAccessError, type Hal } from "../hal.ts";
import { awaitFirstData, LineSplitter, ReopeningSerialLink, type SerialSettings } from "../serial-util.ts";

/** NMEA 0183 limits a sentence to 82 characters; some receivers exceed it (long GSV, proprietary sentences). */
const MAX_LINE = 256;
const TALKERS = new Set(["GP", "GN", "GL", "GA"]);
const KMH_PER_KNOT = 1.852;

/** A sentence's fields after "$", checksum verified; `type` is the sentence formatter (GGA, RMC). */
export interface Sentence {
  talker: string;
  type: string;
  fields: string[];
}

export type SentenceCheck = { ok: true; sentence: Sentence } | { ok: false; reason: string };

/** Checks the framing and checksum of one line. */
export function parseSentence(line: string): SentenceCheck {
  const text = line.trim();
  if (!text.startsWith("$")) return { ok: false, reason: "does not start with $" };
  const star = text.lastIndexOf("*");
  if (star === -1) return { ok: false, reason: "has no *hh checksum" };
  const body = text.slice(1, star);
  const given = text.slice(star + 1);
  if (!/^[0-9A-Fa-f]{2}$/.test(given)) return { ok: false, reason: `has a malformed checksum "${given}"` };
  const computed = nmeaChecksum(body);
  if (computed !== Number.parseInt(given, 16)) {
    return { ok: false, reason: `checksum ${given.toUpperCase()} does not match the computed ${hex2(computed)}` };
  }
  const fields = body.split(",");
  const address = fields.shift() ?? "";
  if (!/^[A-Z]{5}$/.test(address)) return { ok: false, reason: `has an unknown address field "${address}"` };
  return { ok: true, sentence: { talker: address.slice(0, 2), type: address.slice(2), fields } };
}

/** XOR of the characters between "$" and "*". */
export function nmeaChecksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum;
}

/** "4807.038" + "N" → 48.1173; "01131.000" + "W" → -11.516667. Undefined for empty or malformed fields. */
export function parseCoordinate(value: string, hemisphere: string): number | undefined {
  const match = /^(\d{2,3})(\d{2}\.\d+|\d{2})$/.exec(value);
  if (!match || !["N", "S", "E", "W"].includes(hemisphere)) return undefined;
  const degrees = Number(match[1]) + Number(match[2]) / 60;
  if (Number(match[2]) >= 60) return undefined;
  return hemisphere === "S" || hemisphere === "W" ? -degrees : degrees;
}

/** The fix a GGA sentence reports. */
export interface GgaFix {
  time: string;
  quality: number;
  satellites: number;
  latitude?: number;
  longitude?: number;
  hdop?: number;
  altitude?: number;
}

/** The fix an RMC sentence reports. */
export interface RmcFix {
  time: string;
  valid: boolean;
  latitude?: number;
  longitude?: number;
  speedKmh?: number;
  course?: number;
  /** ISO 8601 UTC, when both time and date are present. */
  timestamp?: string;
}

/** GGA: time, lat, N/S, lon, E/W, quality, satellites, HDOP, altitude, M, geoid separation, M, DGPS age, station. */
export function parseGga(fields: string[]): GgaFix | undefined {
  const [time = "", lat = "", ns = "", lon = "", ew = "", quality = "", satellites = "", hdop = "", altitude = ""] = fields;
  if (!/^\d+$/.test(quality)) return undefined;
  return {
    time,
    quality: Number(quality),
    satellites: /^\d+$/.test(satellites) ? Number(satellites) : 0,
    latitude: parseCoordinate(lat, ns),
    longitude: parseCoordinate(lon, ew),
    hdop: number(hdop),
    altitude: number(altitude),
  };
}

/** RMC: time, status A/V, lat, N/S, lon, E/W, speed (knots), course (° true), date ddmmyy, variation, E/W[, mode]. */
export function parseRmc(fields: string[]): RmcFix | undefined {
  const [time = "", status = "", lat = "", ns = "", lon = "", ew = "", knots = "", course = "", date = "", , , mode] = fields;
  if (status !== "A" && status !== "V") return undefined;
  const speed = number(knots);
  return {
    time,
    // NMEA 2.3+ adds a mode indicator; "N" (data not valid) overrides an "A" status on some receivers.
    valid: status === "A" && mode !== "N",
    latitude: parseCoordinate(lat, ns),
    longitude: parseCoordinate(lon, ew),
    speedKmh: speed === undefined ? undefined : speed * KMH_PER_KNOT,
    course: number(course),
    timestamp: isoTimestamp(date, time),
  };
}

function isoTimestamp(date: string, time: string): string | undefined {
  const d = /^(\d{2})(\d{2})(\d{2})$/.exec(date);
  const t = /^(\d{2})(\d{2})(\d{2})(\.\d+)?$/.exec(time);
  if (!d || !t) return undefined;
  // Two-digit years: receivers report 1980 onwards (the GPS epoch).
  const year = Number(d[3]) + (Number(d[3]) >= 80 ? 1900 : 2000);
  const fraction = t[4] ? `.${t[4].slice(1).padEnd(3, "0").slice(0, 3)}` : "";
  return `${year}-${d[2]}-${d[1]}T${t[1]}:${t[2]}:${t[3]}${fraction}Z`;
}

function number(text: string): number | undefined {
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

interface Received<T> {
  fix: T;
  /** When this fix time was first seen (a repeated time does not refresh it). */
  at: number;
}

export class NmeaDevice implements SensorDevice {
  private gga: Received<GgaFix> | undefined;
  private rmc: Received<RmcFix> | undefined;
  private lastBytesAt: number | undefined;
  private lastAcceptedAt: number | undefined;
  private lastRejection: string | undefined;
  private readonly openedAt = Date.now();
  private closed = false;
  /** Sentences rejected for a bad or missing checksum, or bad framing. */
  rejected = 0;

  private constructor(
    private readonly link: ReopeningSerialLink,
    private readonly staleAfterMs: number,
  ) {
    const splitter = new LineSplitter(MAX_LINE, (line) => this.receive(line));
    link.onData((chunk) => {
      this.lastBytesAt = Date.now();
      splitter.push(chunk);
    });
    link.onLost(() => splitter.reset());
  }

  static async open(hal: Hal, settings: SerialSettings, staleAfterMs: number): Promise<NmeaDevice> {
    try {
      return new NmeaDevice(await ReopeningSerialLink.open(hal, settings), staleAfterMs);
    } catch (error) {
      throw describeError(error, settings.path);
    }
  }

  private get where(): string {
    return `nmea on ${this.link.path}`;
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
    await awaitFirstData(() => this.gga !== undefined || this.rmc !== undefined, this.openedAt, this.staleAfterMs, () => this.closed);
    const now = Date.now();
    const fresh = <T>(received: Received<T> | undefined) => (received && now - received.at <= this.staleAfterMs ? received.fix : undefined);
    const gga = fresh(this.gga);
    const rmc = fresh(this.rmc);
    if (!gga && !rmc) throw new Error(`${this.where}: ${this.silenceReport(now)}`);
    const hasPosition = (fix: GgaFix | RmcFix | undefined) => fix?.latitude !== undefined && fix.longitude !== undefined;
    const ggaFix = gga && gga.quality > 0 && hasPosition(gga) ? gga : undefined;
    const rmcFix = rmc?.valid && hasPosition(rmc) ? rmc : undefined;
    const position = ggaFix ?? rmcFix;
    if (!position || position.latitude === undefined || position.longitude === undefined) {
      const satellites = gga ? `${gga.satellites} satellite(s) in use` : "satellites unknown (no GGA sentence)";
      throw new Error(
        `${this.where}: the receiver has no position fix (${satellites}); it needs a clear view of the sky, and a cold start can take minutes`,
      );
    }
    const fields: Field[] = [
      momentaryNumeric("latitude", position.latitude, "°", 6),
      momentaryNumeric("longitude", position.longitude, "°", 6),
    ];
    if (ggaFix) {
      if (ggaFix.altitude !== undefined) fields.push(momentaryNumeric("altitude", ggaFix.altitude, "m", 1));
      fields.push(integer("satellites", ggaFix.satellites), integer("fixQuality", ggaFix.quality));
      if (ggaFix.hdop !== undefined) fields.push(momentaryNumeric("hdop", ggaFix.hdop, "", 1));
    }
    if (rmcFix) {
      if (rmcFix.speedKmh !== undefined) fields.push(momentaryNumeric("speed", rmcFix.speedKmh, "km/h", 1));
      if (rmcFix.course !== undefined) fields.push(momentaryNumeric("course", rmcFix.course, "°", 1));
      if (rmcFix.timestamp !== undefined) fields.push({ name: "fixTime", type: "string", value: rmcFix.timestamp, flags: { momentary: true } });
    }
    return fields;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.close();
  }

  private receive(line: string): void {
    if (line.trim() === "") return;
    const now = Date.now();
    const check = parseSentence(line);
    if (!check.ok) {
      this.rejected += 1;
      this.lastRejection = `"${printable(line)}" ${check.reason}`;
      return;
    }
    const { talker, type, fields } = check.sentence;
    if (!TALKERS.has(talker)) return;
    if (type === "GGA") {
      const fix = parseGga(fields);
      if (fix) this.gga = advance(this.gga, fix, now);
    } else if (type === "RMC") {
      const fix = parseRmc(fields);
      if (fix) this.rmc = advance(this.rmc, fix, now);
    }
    this.lastAcceptedAt = now;
  }

  /** Why there is no fresh sentence, from what did arrive. */
  private silenceReport(now: number): string {
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    if (!this.link.isOpen) {
      return `the serial link is down (${this.link.lostBecause?.message ?? "closed"})`;
    }
    const latest = this.gga ?? this.rmc;
    const recent = (at: number | undefined) => at !== undefined && now - at <= this.staleAfterMs;
    if (latest && recent(this.lastAcceptedAt)) {
      return `the receiver keeps repeating the fix time ${latest.fix.time} for ${seconds(now - latest.at)}: it is stuck; power-cycle it`;
    }
    const since = latest ? `for ${seconds(now - latest.at)}` : `since the port was opened ${seconds(now - this.openedAt)} ago`;
    if (!recent(this.lastBytesAt)) {
      return (
        `no NMEA data ${since}: check the receiver's power and that its TX goes to the Pi's RX (pin 10), ` +
        `and the baud rate (${this.link.settings.baudRate})`
      );
    }
    const rejected =
      this.lastRejection === undefined ? "data arrives but no complete sentence" : `${this.rejected} sentence(s) rejected, the last: ${this.lastRejection}`;
    return (
      `no valid GGA/RMC sentence ${since}; ${rejected}. ` +
      `Garbled data usually means a wrong baud rate (configured ${this.link.settings.baudRate}) or a noisy line`
    );
  }
}

/** A sentence whose fix time repeats the previous one does not count as fresh; receivers without a time yet send none. */
function advance<T extends { time: string }>(previous: Received<T> | undefined, fix: T, now: number): Received<T> {
  const advanced = previous === undefined || fix.time === "" || fix.time !== previous.fix.time;
  return { fix, at: advanced ? now : previous.at };
}

function integer(name: string, value: number): IntField {
  return { name, type: "int", value, flags: { momentary: true } };
}

function printable(line: string): string {
  const shown = line.replace(/[^\x20-\x7e]/g, "?");
  return shown.length > 40 ? `${shown.slice(0, 40)}…` : shown;
}

function hex2(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, "0");
}

/** A HardwareAccessError already names the device and the fix; anything else gets the driver and path. */
function describeError(error: unknown, path: string): Error {
  if (error instanceof HardwareAccessError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`nmea on ${path}: ${message}`, { cause: error });
}

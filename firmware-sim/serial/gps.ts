// A GNSS receiver's NMEA-0183 output: one GGA and one RMC sentence per period (1 s, like a u-blox module at its
// default rate) for a position that drives around a loop. Faults: garbage, truncated, crc, slow, stuck, unplug.
import { randomBytes } from "node:crypto";
import type { Faultable } from "../faults.ts";
import type { Fault, FaultKind } from "../settings.ts";
import type { SimSerialPort } from "./pty.ts";

export interface GpsPosition {
  latitude: number;
  longitude: number;
  /** Above mean sea level, m. */
  altitude: number;
}

export interface SimGpsOptions {
  periodMs?: number;
  talker?: "GP" | "GN" | "GL" | "GA";
  /** Centre of the loop driven. */
  origin?: GpsPosition;
  /** Radius of the loop, m. */
  radiusM?: number;
  /** Speed along the loop, km/h (0: standing still at the origin). */
  speedKmh?: number;
}

/** What the receiver last sent, for tests to compare the driver's fields with. */
export interface GpsEmission extends GpsPosition {
  time: Date;
  quality: number;
  satellites: number;
  hdop: number;
  speedKmh: number;
  course: number;
  sentences: string[];
}

const EARTH_RADIUS_M = 6_371_000;
const KNOTS_PER_KMH = 1 / 1.852;

export class SimGps implements Faultable {
  readonly supportedFaults: readonly FaultKind[] = ["garbage", "truncated", "crc", "slow", "stuck", "unplug"];
  private timer: NodeJS.Timeout | undefined;
  private fault: Fault | null = null;
  private readonly periodMs: number;
  private readonly talker: string;
  private readonly origin: GpsPosition;
  private readonly radiusM: number;
  private readonly speedKmh: number;
  private readonly startedAt = Date.now();
  private quality = 1;
  private satellites = 9;
  /** What was sent last (undefined before the first period). */
  lastEmission: GpsEmission | undefined;

  constructor(
    private readonly port: SimSerialPort,
    options: SimGpsOptions = {},
  ) {
    this.periodMs = options.periodMs ?? 1000;
    this.talker = options.talker ?? "GN";
    this.origin = options.origin ?? { latitude: 48.1173, longitude: 11.516667, altitude: 545.4 };
    this.radiusM = options.radiusM ?? 150;
    this.speedKmh = options.speedKmh ?? 30;
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Fix quality as GGA reports it (0 = no fix, 1 = GPS, 2 = DGPS, ...) and the satellites used. */
  setReception(quality: number, satellites: number): void {
    this.quality = quality;
    this.satellites = satellites;
  }

  setFault(fault: Fault | null): void {
    const was = this.fault;
    this.fault = fault;
    if (fault?.kind === "unplug") void this.port.unplug();
    else if (was?.kind === "unplug") void this.port.replug();
  }

  /** Where the receiver is at `nowMs`: on a circle around the origin, heading tangentially (clockwise). */
  positionAt(nowMs: number): GpsPosition & { course: number } {
    const metres = ((nowMs - this.startedAt) / 3_600_000) * this.speedKmh * 1000;
    const angle = this.radiusM > 0 ? metres / this.radiusM : 0;
    const north = this.radiusM * Math.cos(angle);
    const east = this.radiusM * Math.sin(angle);
    const latitude = this.origin.latitude + (north / EARTH_RADIUS_M) * (180 / Math.PI);
    const longitude =
      this.origin.longitude + (east / (EARTH_RADIUS_M * Math.cos((this.origin.latitude * Math.PI) / 180))) * (180 / Math.PI);
    const course = (((angle * 180) / Math.PI + 90) % 360 + 360) % 360;
    return { latitude, longitude, altitude: this.origin.altitude + 2 * Math.sin(angle), course };
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.emit();
      const slow = this.fault?.kind === "slow" ? (this.fault.delayMs ?? 5000) : 0;
      this.schedule(Math.max(this.periodMs, slow));
    }, delayMs);
    this.timer.unref();
  }

  private emit(): void {
    if (this.port.unplugged) return;
    const kind = this.fault?.kind;
    if (kind === "garbage") {
      void this.port.write(randomBytes(120));
      return;
    }
    if (kind === "stuck" && this.lastEmission) {
      void this.port.write(this.lastEmission.sentences.join(""));
      return;
    }
    const emission = this.compose(new Date());
    this.lastEmission = emission;
    let sentences = emission.sentences;
    if (kind === "truncated") sentences = sentences.map((s) => `${s.slice(0, Math.floor(s.length / 2))}\r\n`);
    if (kind === "crc") sentences = sentences.map(corruptChecksum);
    void this.port.write(sentences.join(""));
  }

  private compose(time: Date): GpsEmission {
    const { course, ...position } = this.positionAt(time.getTime());
    const fix = this.quality > 0;
    const hdop = fix ? 0.9 : 99.99;
    const hhmmss = `${pad(time.getUTCHours())}${pad(time.getUTCMinutes())}${pad(time.getUTCSeconds())}.${pad(Math.floor(time.getUTCMilliseconds() / 10))}`;
    const ddmmyy = `${pad(time.getUTCDate())}${pad(time.getUTCMonth() + 1)}${pad(time.getUTCFullYear() % 100)}`;
    const lat = fix ? formatCoordinate(position.latitude, 2, "N", "S") : ",";
    const lon = fix ? formatCoordinate(position.longitude, 3, "E", "W") : ",";
    const speedKmh = this.speedKmh;
    const gga = [
      `${this.talker}GGA`,
      hhmmss,
      lat,
      lon,
      String(this.quality),
      pad(this.satellites),
      hdop.toFixed(hdop < 10 ? 1 : 2),
      fix ? position.altitude.toFixed(1) : "",
      "M",
      fix ? "47.0" : "",
      "M",
      "",
      "",
    ].join(",");
    const rmc = [
      `${this.talker}RMC`,
      hhmmss,
      fix ? "A" : "V",
      lat,
      lon,
      fix ? (speedKmh * KNOTS_PER_KMH).toFixed(3) : "",
      fix ? course.toFixed(2) : "",
      ddmmyy,
      "",
      "",
      fix ? "A" : "N",
    ].join(",");
    return {
      ...position,
      time,
      quality: this.quality,
      satellites: this.satellites,
      hdop,
      speedKmh,
      course,
      sentences: [withChecksum(gga), withChecksum(rmc)],
    };
  }
}

/** "$" + body + "*" + two hex digits of the XOR of the body's characters + CRLF (NMEA 0183). */
export function withChecksum(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, "0")}\r\n`;
}

function corruptChecksum(sentence: string): string {
  const star = sentence.lastIndexOf("*");
  const sum = Number.parseInt(sentence.slice(star + 1, star + 3), 16) ^ 0x5a;
  return `${sentence.slice(0, star + 1)}${sum.toString(16).toUpperCase().padStart(2, "0")}\r\n`;
}

/** ddmm.mmmmm / dddmm.mmmmm and the hemisphere letter, as u-blox receivers print them. */
function formatCoordinate(degrees: number, degreeDigits: number, positive: string, negative: string): string {
  const absolute = Math.abs(degrees);
  let whole = Math.floor(absolute);
  let minutes = Number(((absolute - whole) * 60).toFixed(5));
  if (minutes >= 60) {
    whole += 1;
    minutes -= 60;
  }
  return `${String(whole).padStart(degreeDigits, "0")}${minutes.toFixed(5).padStart(8, "0")},${degrees < 0 ? negative : positive}`;
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

// Hostile values: wrong types, odd unicode, long strings and deep nesting, shared by every face's mutations.
import { xml, type Element } from "../../../../agent/xmpp/client.ts";
import type { Random } from "../random.ts";
import { NODES } from "./common.ts";

export const WRONG_INTS = ["", "NaN", "1.5", "1e3", "99999999999", "2147483648", "-2147483649", "0x1F", "١٢٣", "12\u200B", "+", "-", "Infinity", "true", " 7", "9".repeat(40)];
export const WRONG_BOOLEANS = ["yes", "TRUE", "True", "2", "-1", "", "on", "null", "NaN", "t", "truе" /* Cyrillic е */, "1.0"];
export const WRONG_DATES = [
  "yesterday",
  "2025-13-01T00:00:00Z",
  "2025-02-30T00:00:00Z",
  "2025-01-01",
  "2025-01-01T25:00:00Z",
  "NaN",
  "-1",
  "1e12",
  "0000-00-00T00:00:00Z",
  "2025-01-01T00:00:00+15:00",
  "2025-01-01 00:00:00Z",
  "20250101T000000Z",
  "２０２５-01-01T00:00:00Z",
  "+275760-09-13T00:00:00Z",
];
export const WRONG_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-0", "0x10", "1,5", "9".repeat(400), "", "5 5"];
export const ATTRIBUTE_NAMES = ["colour", "seqNr", "SEQNR", "limit", "type", "x-fuzz", "_", "a.b", "nodeid", "node"];

/** Strings with unicode that is legal XML but easy to mishandle. A lone surrogate goes out as U+FFFD (UTF-8 cannot carry it). */
const ODD_STRINGS = [
  "\u202Eevil\u202C",
  "zero\u200Bwidth",
  "\uFEFFbom",
  "\u{1D54F}\u{1D550}",
  "e\u0301",
  "\u0085nel",
  "\uFDD0",
  "tab\there",
  "line\nbreak",
  "\u00A0",
  "\u{1F44D}\u{1F3FD}",
  "\uD800",
  "עברית",
  "&<>'\"",
  "]]>",
  " ",
];

export function oddString(r: Random): string {
  return r.chance(0.6) ? r.pick(ODD_STRINGS) : `${r.pick(ODD_STRINGS)}${r.pick(NODES)}${r.pick(ODD_STRINGS)}`;
}

/** Stanzas stay under this, far below the servers' limits (256 KB): past those the server, not the agent, answers. */
export const MAX_STANZA_BYTES = 120_000;

/** A string of `min`..`max` characters (UTF-16 units) that escapes to at most 40 KB of XML. */
export function longString(r: Random, min: number, max: number): string {
  const unit = r.pick(["x", "é", "\u{1F600}", "ab\u200B", "<&>"]);
  const escapedBytes = Buffer.byteLength(unit.replace(/[<>&]/g, "&amp;"), "utf8");
  const units = Math.min(Math.ceil(r.int(min, max) / unit.length), Math.floor(40_000 / escapedBytes));
  return unit.repeat(Math.max(units, Math.ceil(min / unit.length)));
}

/** A marker element the serializer replaces with `depth` nested elements (ltx's own serializer is recursive). */
export function deep(r: Random, maxDepth: number): Element {
  return xml("fuzz-deep", { depth: String(r.int(50, maxDepth)) });
}

/** The stanza as text, with deep-nesting markers expanded. */
export function serialize(stanza: Element): string {
  return stanza.toString().replace(/<fuzz-deep depth="(\d+)"\/>/g, (_, depth: string) => `${"<n>".repeat(Number(depth))}${"</n>".repeat(Number(depth))}`);
}

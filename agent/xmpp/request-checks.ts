// The checks a readout-like request makes of its element, whichever dialect asks: XEP-0323's `<req>`, the nf
// dialect's `<req>` and `<subscribe>`. Each check throws BadRequestError saying what is wrong, in words a person
// at an XMPP console can act on; the faces answer it with bad-request. What each dialect names its children, its
// attributes and its id stays in its own parser.
import type { Element } from "./client.ts";

export class BadRequestError extends Error {}

/** Throws when any of `names` is longer than `limit` characters; other attributes are not read, so not bounded. */
export function boundAttributes(element: Element, names: readonly string[], limit: number): void {
  for (const name of names) {
    const value = element.attrs[name] as string | undefined;
    if (value !== undefined && value.length > limit) throw new BadRequestError(`attribute ${name} is longer than ${limit} characters`);
  }
}

export function parseXsBoolean(text: string): boolean | undefined {
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  return undefined;
}

/** An xs:boolean attribute; undefined when absent. */
export function booleanAttribute(element: Element, name: string): boolean | undefined {
  const text = element.attrs[name] as string | undefined;
  if (text === undefined) return undefined;
  const value = parseXsBoolean(text);
  if (value === undefined) throw new BadRequestError(`${name} must be true or false, got ${JSON.stringify(text)}`);
  return value;
}

/** xs:dateTime; one without a time zone is read as UTC (slixmpp sends `when` that way). */
export function parseXsDateTime(text: string): Date | undefined {
  const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction = "", zone = "Z"] = match;
  // Date.UTC reads years 0..99 as 1900..1999: set the year on its own (years 0001-0099 are valid xs:dateTime).
  const check = new Date(Date.UTC(2000, Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)));
  check.setUTCFullYear(Number(year));
  const utc = check.getTime();
  // Date.UTC rolls 30 February over into March: compare back to refuse dates that do not exist.
  if (
    check.getUTCFullYear() !== Number(year) ||
    check.getUTCMonth() !== Number(month) - 1 ||
    check.getUTCDate() !== Number(day) ||
    check.getUTCHours() !== Number(hour) ||
    check.getUTCMinutes() !== Number(minute) ||
    check.getUTCSeconds() !== Number(second)
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (zone !== "Z") {
    const [zoneHours = 0, zoneMinutes = 0] = zone.slice(1).split(":").map(Number);
    if (zoneHours > 14 || zoneMinutes > 59) return undefined;
    offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  }
  const milliseconds = fraction ? Math.floor(Number(`0${fraction}`) * 1000) : 0;
  return new Date(utc + milliseconds - offsetMinutes * 60_000);
}

/** An xs:dateTime attribute; undefined when absent. */
export function dateTimeAttribute(element: Element, name: string): Date | undefined {
  const text = element.attrs[name] as string | undefined;
  if (text === undefined) return undefined;
  const date = parseXsDateTime(text);
  if (!date) throw new BadRequestError(`${name} must be an xs:dateTime such as 2025-01-05T10:00:00Z, got ${JSON.stringify(text)}`);
  return date;
}

/** The `from`, `to` and `when` of a readout, `from` not after `to`. */
export function readoutTimes(element: Element): { from?: Date; to?: Date; when?: Date } {
  const from = dateTimeAttribute(element, "from");
  const to = dateTimeAttribute(element, "to");
  const when = dateTimeAttribute(element, "when");
  if (from && to && from.getTime() > to.getTime()) throw new BadRequestError("from is after to");
  return { from, to, when };
}

/**
 * The element's child elements, each checked: in the element's namespace and named in `allowed`, empty, with only
 * the attributes `allowed` lists for its name, each at most `limit` characters. Only XML whitespace (space, tab,
 * CR, LF) may sit between them; a no-break space is text.
 */
export function checkedChildren(element: Element, allowed: Readonly<Record<string, ReadonlySet<string>>>, limit: number): Element[] {
  const ns = element.getNS();
  const children: Element[] = [];
  for (const child of element.children) {
    if (typeof child === "string") {
      if (!/^[ \t\r\n]*$/.test(child)) throw new BadRequestError(`unexpected text in <${element.name}>`);
      continue;
    }
    const attributes = Object.hasOwn(allowed, child.name) ? allowed[child.name] : undefined;
    if (child.getNS() !== ns || !attributes) throw new BadRequestError(`unknown element <${child.name}> in <${element.name}>`);
    if (child.children.length > 0) throw new BadRequestError(`<${child.name}> must be empty`);
    for (const [name, value] of Object.entries(child.attrs)) {
      if (name === "xmlns") continue;
      if (!attributes.has(name)) throw new BadRequestError(`unknown attribute ${name} on <${child.name}>`);
      if (typeof value === "string" && value.length > limit) throw new BadRequestError(`attribute ${name} of <${child.name}> is longer than ${limit} characters`);
    }
    children.push(child);
  }
  return children;
}

/** The child's `key` attribute, which must not be empty. */
export function requiredAttribute(child: Element, key: string): string {
  const value = child.attrs[key] as string | undefined;
  if (!value) throw new BadRequestError(`<${child.name}> needs a non-empty ${key}`);
  return value;
}

/** Adds `value` to `list`, refusing more than `limit` `<name>` elements. */
export function addBounded(list: string[], value: string, limit: number, name: string): void {
  list.push(value);
  if (list.length > limit) throw new BadRequestError(`more than ${limit} <${name}> elements`);
}

// How times, ages and series read for people: shared by the chat and ad-hoc faces, the presence text, the
// CLI and the demo view.
const SPARKS = "▁▂▃▄▅▆▇█";

/** One character per value, scaled between the lowest and highest; a gap (undefined) is a space. */
export function sparkline(values: readonly (number | undefined)[]): string {
  const present = values.filter((value): value is number => value !== undefined);
  if (present.length === 0) return "";
  const low = Math.min(...present);
  const high = Math.max(...present);
  return values
    .map((value) => {
      if (value === undefined) return " ";
      // A flat series sits in the middle, not on the floor, so it does not read as "all at minimum".
      if (high === low) return SPARKS[3];
      return SPARKS[Math.min(SPARKS.length - 1, Math.floor(((value - low) / (high - low)) * SPARKS.length))];
    })
    .join("");
}

export interface TimeFormat {
  now: Date;
  /** IANA zone for clock times; the gateway's own zone when absent. */
  timeZone?: string;
}

/** A clock time people read at a glance: "12:03:41" today, "2025-01-04 12:03:41" on another day. */
export function clockTime(date: Date, { now, timeZone }: TimeFormat): string {
  const parts = (value: Date) => {
    const format = new Intl.DateTimeFormat("en-GB", {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      ...(timeZone ? { timeZone } : {}),
    });
    const map = Object.fromEntries(format.formatToParts(value).map((part) => [part.type, part.value]));
    return { day: `${map.year}-${map.month}-${map.day}`, time: `${map.hour}:${map.minute}:${map.second}` };
  };
  const then = parts(date);
  return then.day === parts(now).day ? then.time : `${then.day} ${then.time}`;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago". */
export function age(date: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  if (seconds < 1) return "just now";
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

/** "12:03:41, 2 s ago" */
export function when(date: Date, format: TimeFormat): string {
  return `${clockTime(date, format)}, ${age(date, format.now)}`;
}

/** "1 d 2 h", "3 h 4 min", "5 min 6 s", "7 s": the two largest units are enough for an uptime. */
export function span(ms: number): string {
  const units: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["min", 60_000], ["s", 1000]];
  let rest = Math.max(0, Math.floor(ms / 1000) * 1000);
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size || (parts.length === 0 && unit === "s")) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** `text` cut to at most `max` characters, the cut marked with "…". */
export function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

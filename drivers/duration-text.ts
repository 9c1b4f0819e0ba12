// Duration options of drivers ("20ms", "5s"), written as in the rest of the config. They stay text in the
// validated options: config validates a driver's options and defineSensorDriver parses them again at open,
// so a schema that turned the text into a number would fail that second parse. Drivers convert with durationMs().
import * as z from "../lib/zod.ts";
import { parseDuration } from "../lib/duration.ts";

export function durationText(example: string, { allowZero = false }: { allowZero?: boolean } = {}) {
  return z.string().check(
    z.refine(
      (text) => {
        const ms = parseDuration(text);
        return ms !== undefined && (allowZero || ms > 0);
      },
      {
        error: (issue) =>
          `expected a duration${allowZero ? "" : " longer than 0"} such as ${example} (units ms, s, m, h), got ${JSON.stringify(issue.input)}`,
      },
    ),
  );
}

/** Milliseconds of a duration that durationText() has validated. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`not a duration: "${text}"`);
  return ms;
}

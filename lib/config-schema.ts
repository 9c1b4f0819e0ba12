// Building blocks of the config's zod schemas, shared by the agent's config and the settings a hardware backend
// adds to it, so that every part of the file reports problems in the same words.
import * as z from "./zod.ts";
import { parseDuration } from "./duration.ts";

/** An object schema that rejects unknown keys and names the keys it would accept. */
export function strict<Shape extends z.core.$ZodShape>(shape: Shape) {
  const known = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) => (issue.code === "unrecognized_keys" ? `unknown key; expected one of: ${known}` : undefined),
  });
}

/** A duration such as "30s", in ms; `example` shows the reader a sensible value. */
export const duration = (example: string) =>
  z.pipe(
    z.string(),
    z.transform((text: string, payload) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        payload.issues.push({ code: "custom", message: `expected a duration such as ${example} (units ms, s, m, h, d), got "${text}"`, input: text });
        return z.NEVER;
      }
      return ms;
    }),
  );

export const positiveDuration = (example: string) =>
  duration(example).check(z.refine((ms) => ms > 0, { message: "must be longer than 0" }));

// A value built the first time it is asked for: the zod schemas of drivers a config does not use are never built.

/** `build()`'s result, built on the first call and kept. */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

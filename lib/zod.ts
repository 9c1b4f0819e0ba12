// zod's functional API, zod/mini, for every schema in the product: the classic API's method chains keep all of
// zod in the bundle, where this lets esbuild keep only the schemas and checks xedge uses. Import it as
// `import * as z from "../lib/zod.ts"` (a namespace, so the bundle still drops what is unused). zod/mini registers
// no message locale, so English is set here, once, before any module that takes `z` from here builds a schema.
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export * from "zod/mini";

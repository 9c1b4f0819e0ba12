// Entry point of the bundle (dist/xedge.mjs) and of `xedge` during development.
import { main } from "./cli.ts";

await main(process.argv);

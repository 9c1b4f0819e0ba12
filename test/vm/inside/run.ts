// Entry point of the tests inside the VM: imports every *.vm.ts in this folder (or those whose name contains
// one of the arguments) into one node process, so tsx starts once per boot. Run it inside the VM:
//   npm run vm -- node --import tsx test/vm/inside/run.ts [gpio ...]
// Files here must not end in .test.ts: scripts/run-tests.sh would run them on the host.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const folder = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(folder)
  .filter((name) => name.endsWith(".vm.ts") && (filters.length === 0 || filters.some((filter) => name.includes(filter))))
  .sort();
if (files.length === 0) throw new Error(`no *.vm.ts in ${folder} matches ${filters.join(" ")}`);
for (const name of files) await import(pathToFileURL(join(folder, name)).href);

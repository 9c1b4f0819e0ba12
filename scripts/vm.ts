// `npm run vm -- CMD`: runs CMD in the test VM (test/support/vm.ts) with the simulated devices set up, after
// printing their layout, so a config with `hardware: real` can be tried against a kernel. Exits with CMD's code.
import { bootVm, describeVmLayout, vmImage } from "../test/support/vm.ts";

const command = process.argv.slice(2).join(" ");
if (command.trim() === "") {
  console.error("usage: npm run vm -- CMD [ARGS...]   (e.g. npm run vm -- node dist/xedge.mjs check -c my.yaml)");
  process.exit(2);
}
const image = await vmImage();
console.log(describeVmLayout(image.release));
console.log(`  Run   ${command}  (in ${process.cwd()})\n`);
const result = await bootVm({ command, onConsole: (text) => process.stdout.write(text) });
if (result.exitCode < 0) console.error(`vm: the command did not finish (${result.seconds.toFixed(1)} s)`);
process.exit(result.exitCode < 0 ? 125 : result.exitCode);

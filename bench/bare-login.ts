// The cold-start baseline: @xmpp/client as it comes, logging in and exiting once online; it prints "started" on
// stdout just before it connects and "online" once it is. The benchmark bundles it with esbuild, as xedge is
// bundled, so both sides start from one file. Run with NODE_EXTRA_CA_CERTS set to the server's CA (the package
// takes no TLS options).
// Usage: node bare-login.mjs SERVICE DOMAIN USERNAME [--stay], with the password in XEDGE_BENCH_PASSWORD. With
// --stay it stays online and idle until killed: the memory figure's second baseline.
import { client } from "@xmpp/client";

const [service = "", domain = "", username = ""] = process.argv.slice(2);
const stay = process.argv.includes("--stay");
// The stream's timeout is raised from 2 s for emulated arm64, where a TLS handshake alone can take longer.
const xmpp = client({ service, domain, username, password: process.env["XEDGE_BENCH_PASSWORD"] ?? "", resource: stay ? "idle" : "cold", timeout: 30_000 });
xmpp.on("error", (error: unknown) => console.error(error));
process.stdout.write("started\n");
await xmpp.start();
process.stdout.write("online\n");
if (!stay) await xmpp.stop();

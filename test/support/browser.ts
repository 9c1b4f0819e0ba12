// Debian's Chromium, headless, driven by playwright-core, trusting exactly the extra CAs given: the test servers'.
// Chromium on Linux takes its trust anchors from the NSS database in $HOME/.pki/nssdb, so the browser gets a
// temporary HOME whose database holds that CA (certutil, from libnss3-tools). Certificate errors are NOT ignored:
// a certificate from any other CA fails as it would for an operator.
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";

const run = promisify(execFile);

/** The browser binary itself: /usr/bin/chromium is a shell wrapper that adds the Debian flags from /etc/chromium.d. */
export const CHROMIUM = "/usr/lib/chromium/chromium";

/** Launches headless Chromium whose HOME is `home` (created), trusting the CAs in `caFiles` besides its own. */
export async function launchTrusting(caFiles: readonly string[], home: string): Promise<Browser> {
  const nssdb = join(home, ".pki", "nssdb");
  await mkdir(nssdb, { recursive: true });
  await run("certutil", ["-N", "-d", `sql:${nssdb}`, "--empty-password"]);
  for (const [index, caFile] of caFiles.entries()) {
    await run("certutil", ["-A", "-d", `sql:${nssdb}`, "-n", `xedge test CA ${index + 1}`, "-t", "C,,", "-i", caFile]);
  }
  return launchWithHome(home);
}

/** Launches headless Chromium whose HOME is `home`: it trusts the CAs of `home`'s NSS database, if any. */
export async function launchWithHome(home: string): Promise<Browser> {
  await mkdir(home, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: home },
    // No GPU in CI; software rendering is enough for a page and a chart.
    args: ["--disable-gpu", "--disable-dev-shm-usage"],
  });
}

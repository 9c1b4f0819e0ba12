// Throwaway PKI for test servers, generated with the openssl CLI.
// EC P-256 keys: generation takes milliseconds, unlike RSA.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestPki {
  /** Trust anchor to give clients. */
  caFile: string;
  /** Server certificate (leaf only). */
  certFile: string;
  /** Server private key (PKCS#8 PEM). */
  keyFile: string;
}

export interface TestCa {
  caFile: string;
  caKeyFile: string;
}

const VALID_DAYS = "2";

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args, { timeout: 30_000 });
  } catch (err: unknown) {
    const stderr = (err as { stderr?: unknown }).stderr;
    throw new Error(`openssl ${args[0] ?? ""} failed: ${typeof stderr === "string" ? stderr : String(err)}`);
  }
}

async function makeCa(dir: string, name: string, commonName: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const caKeyFile = join(dir, `${name}.key`);
  const caFile = join(dir, `${name}.crt`);
  await openssl([
    "req", "-x509", "-new",
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", caKeyFile, "-out", caFile,
    "-days", VALID_DAYS, "-sha256",
    "-subj", `/CN=${commonName}`,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { caFile, caKeyFile };
}

/**
 * A server certificate for localhost / pubsub.localhost / 127.0.0.1, signed by a fresh CA; or, given `domain` and
 * the `ca` of a federation (createFederationCa), for that domain and its subdomains, signed by that CA, so that
 * servers verify each other's certificates on their server-to-server links.
 */
export async function createTestPki(dir: string, federated?: { domain: string; ca: TestCa }): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const ca = federated?.ca ?? (await makeCa(dir, "ca", `xedge test CA ${process.pid}-${Date.now()}`));
  const domain = federated?.domain ?? "localhost";
  const names = federated ? `DNS:${domain},DNS:pubsub.${domain},DNS:*.${domain}` : "DNS:localhost,DNS:pubsub.localhost,DNS:*.localhost,IP:127.0.0.1";
  const keyFile = join(dir, "server.key");
  const csrFile = join(dir, "server.csr");
  const certFile = join(dir, "server.crt");
  const extFile = join(dir, "server.ext");
  await openssl([
    "req", "-new",
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", keyFile, "-out", csrFile,
    "-subj", `/CN=${domain}`,
  ]);
  // Extensions go through a file: `x509 -req` has no -addext in OpenSSL 3.0.
  await writeFile(extFile, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    `subjectAltName=${names}`,
    "",
  ].join("\n"));
  await openssl([
    "x509", "-req", "-in", csrFile,
    // A random serial rather than a serial file beside the CA, which servers of one federation would share.
    "-CA", ca.caFile, "-CAkey", ca.caKeyFile, "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", VALID_DAYS, "-sha256",
    "-extfile", extFile,
    "-out", certFile,
  ]);
  // The instance's own copy: a server that drops root reads nothing outside its folder.
  const caFile = join(dir, "ca.crt");
  if (federated) await copyFile(ca.caFile, caFile);
  return { caFile, certFile, keyFile };
}

/** The one CA of a federation's servers; each server trusts it and gets its certificate from it. */
export async function createFederationCa(dir: string): Promise<TestCa> {
  return makeCa(dir, "federation-ca", `xedge federation CA ${process.pid}-${Date.now()}`);
}

/** A CA unrelated to any server: trusting only it must make the TLS handshake fail. */
export async function createUntrustedCa(dir: string): Promise<TestCa> {
  return makeCa(dir, "untrusted-ca", `xedge untrusted CA ${process.pid}-${Date.now()}`);
}

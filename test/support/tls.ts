// Throwaway PKI for test servers, generated with the openssl CLI.
// EC P-256 keys: generation takes milliseconds, unlike RSA.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
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

/** A fresh CA plus a server certificate for localhost / pubsub.localhost / 127.0.0.1 signed by it. */
export async function createTestPki(dir: string): Promise<TestPki> {
  const ca = await makeCa(dir, "ca", `xedge test CA ${process.pid}-${Date.now()}`);
  const keyFile = join(dir, "server.key");
  const csrFile = join(dir, "server.csr");
  const certFile = join(dir, "server.crt");
  const extFile = join(dir, "server.ext");
  await openssl([
    "req", "-new",
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", keyFile, "-out", csrFile,
    "-subj", "/CN=localhost",
  ]);
  // Extensions go through a file: `x509 -req` has no -addext in OpenSSL 3.0.
  await writeFile(extFile, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    "subjectAltName=DNS:localhost,DNS:pubsub.localhost,DNS:*.localhost,IP:127.0.0.1",
    "",
  ].join("\n"));
  await openssl([
    "x509", "-req", "-in", csrFile,
    "-CA", ca.caFile, "-CAkey", ca.caKeyFile, "-CAcreateserial",
    "-days", VALID_DAYS, "-sha256",
    "-extfile", extFile,
    "-out", certFile,
  ]);
  return { caFile: ca.caFile, certFile, keyFile };
}

/** A CA unrelated to any server: trusting only it must make the TLS handshake fail. */
export async function createUntrustedCa(dir: string): Promise<TestCa> {
  return makeCa(dir, "untrusted-ca", `xedge untrusted CA ${process.pid}-${Date.now()}`);
}

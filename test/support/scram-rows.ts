// SCRAM-SHA-1 credentials (RFC 5802 §3) as ejabberd's SQL auth stores them with `auth_password_format: scram`:
// StoredKey, ServerKey and salt base64-encoded, and the iteration count. Lets the harness create accounts by
// writing rows instead of one `ejabberdctl register` (an Erlang VM boot) per account.
import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

/** ejabberd's default iteration count for new SCRAM passwords. */
export const EJABBERD_ITERATIONS = 4096;

export interface ScramRow {
  username: string;
  storedKey: string;
  serverKey: string;
  salt: string;
  iterationCount: number;
}

/** `password` must be ASCII without control characters, where SASLprep changes nothing. */
export async function scramRow(username: string, password: string, iterationCount = EJABBERD_ITERATIONS): Promise<ScramRow> {
  if (!/^[\x20-\x7e]+$/.test(password)) throw new Error(`test account ${username}: the password must be printable ASCII`);
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password, salt, iterationCount, 20, "sha1");
  const clientKey = createHmac("sha1", salted).update("Client Key").digest();
  return {
    username,
    storedKey: createHash("sha1").update(clientKey).digest("base64"),
    serverKey: createHmac("sha1", salted).update("Server Key").digest("base64"),
    salt: salt.toString("base64"),
    iterationCount,
  };
}

/**
 * Blob transfers for the ssh host: verified, atomic, retried.
 *
 * - Uploads go to a temporary name next to the final CAS path and are renamed into place only
 *   once the whole file arrived with the expected size, so a dropped connection never leaves a
 *   partial blob under a digest name (the remote CAS trusts names).
 * - Downloads land in a temporary file next to their destination, are hashed, and are renamed
 *   into place only when the sha256 equals the digest the remote reported.
 * - `isConnectionError` tells a dropped connection (reconnect and retry, with `backoffDelay`)
 *   from an operation that is wrong (fail now).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import type SftpClient from "ssh2-sftp-client";

/** sha256 hex of a local file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** A downloaded (or to-be-uploaded) file whose content does not match its digest. */
export class DigestMismatchError extends Error {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
    message: string,
  ) {
    super(message);
    this.name = "DigestMismatchError";
  }
}

/** The connection went away (or never came): worth a reconnect and another try. */
export class ConnectionLostError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

const CONNECTION_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
  "ERR_GENERIC_CLIENT", "ERR_NOT_CONNECTED",
]);
const CONNECTION_MESSAGES =
  /No SFTP connection|Not connected|Unexpected (end|close) event|connection (lost|closed|reset)|Timed out while waiting for handshake|No response from server|Channel open failure|socket hang up|write after end|ECONNRESET|ECONNREFUSED|EPIPE/i;

/** Whether an error means "the connection broke" (retry) rather than "the operation is wrong". */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof ConnectionLostError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.test(err.message);
}

/** Backoff delay before retry number `retry` (1-based). */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs = 30_000): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
}

/** setTimeout as a promise that ends early (resolves) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}


/**
 * Uploads `localPath` to `remoteFinal` atomically: fastPut to `<final>.part-<tag>`, check the
 * remote size, then rename over the final name (posix-rename: replaces an existing file, which
 * can only hold the same content since names are digests).
 */
export async function uploadBlob(
  sftp: SftpClient,
  localPath: string,
  remoteFinal: string,
  size: number,
  tag: string,
): Promise<void> {
  const temp = `${remoteFinal}.part-${tag}`;
  await sftp.fastPut(localPath, temp);
  const st = await sftp.stat(temp);
  if (st.size !== size) {
    // The file changed under us or the server truncated it; never publish it.
    await sftp.delete(temp, true).catch(() => undefined);
    throw new Error(`uploaded ${st.size} bytes of ${localPath} to ${temp}, expected ${size}`);
  }
  await sftp.posixRename(temp, remoteFinal);
}

/**
 * Downloads `remotePath` to `localFinal` via a temporary file next to it; the file is renamed
 * into place only when its sha256 equals `digest` (else DigestMismatchError, temp removed).
 */
export async function downloadBlob(
  sftp: SftpClient,
  remotePath: string,
  localFinal: string,
  digest: string,
  what: string,
): Promise<void> {
  const temp = `${localFinal}.part-${randomBytes(6).toString("hex")}`;
  try {
    await sftp.fastGet(remotePath, temp);
    const actual = await sha256File(temp);
    if (actual !== digest) {
      throw new DigestMismatchError(
        what,
        digest,
        actual,
        `${what}: the copy fetched from ${remotePath} has sha256 ${actual}, but the remote reported ${digest}; ` +
          `the remote CAS blob is corrupt: delete it on the host (rm ${remotePath}) and rebuild`,
      );
    }
    await rename(temp, localFinal);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

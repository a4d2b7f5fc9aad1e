/**
 * Hashing of record: sha256 (node:crypto) over file contents and canonical JSON.
 */
import { createHash } from "node:crypto";
import { openSync, readSync, closeSync } from "node:fs";

/** sha256 hex of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const CHUNK = 1 << 20;
let buffer: Buffer | undefined;

/**
 * sha256 hex and size of a file, read synchronously in 1 MiB chunks (sync because the no-op
 * path hashes many small files and promise overhead dominates there).
 */
export function hashFile(path: string): { digest: string; size: number } {
  buffer ??= Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, "r");
  try {
    const h = createHash("sha256");
    let size = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      h.update(buffer.subarray(0, n));
      size += n;
    }
    return { digest: h.digest("hex"), size };
  } finally {
    closeSync(fd);
  }
}

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. The same
 * value always gives the same string, so it can be hashed into an action key.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null";
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** JSON with sorted keys and two-space indent, for human-readable deterministic files. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(sortKeys);
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = sortKeys(obj[k]);
  return out;
}

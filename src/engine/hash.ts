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
  // A hand-rolled writer: this runs once per action on every build (the action key), and
  // the map/filter/join version allocated enough to show up as GC time on 100k actions.
  if (value === null || typeof value !== "object") return scalar(value);
  let out = "";
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      const v = value[i];
      out += v === null || typeof v !== "object" ? scalar(v) : canonicalJson(v);
    }
    return out + "]";
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  out = "{";
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (!first) out += ",";
    first = false;
    out += JSON.stringify(k) + ":" + (v === null || typeof v !== "object" ? scalar(v) : canonicalJson(v));
  }
  return out + "}";
}

function scalar(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) return "null";
  return JSON.stringify(value) ?? "null";
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

/**
 * Reads an input file as UTF-8 text, gunzipping it when it starts with the gzip magic bytes
 * (whatever its name), so every importer reads `.gz` the same way. Every failure names the
 * file: a truncated gzip member says so, instead of zlib's bare "unexpected end of file".
 */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";

/** A file that could not be read or decompressed. */
export class InputFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = "InputFileError";
  }
}

/** True when `buf` starts with the gzip magic bytes. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Decompresses `buf` when it is gzip (every member); `file` names it in errors. */
export function maybeGunzip(buf: Buffer, file: string): Buffer {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf);
  } catch (e) {
    const msg = (e as Error).message;
    const why = /unexpected end of file/i.test(msg) ? "truncated gzip (unexpected end of file)" : `corrupt gzip (${msg})`;
    throw new InputFileError(file, why);
  }
}

/** The text of `path` (gunzipped when gzip; a leading BOM removed). */
export async function readTextFile(path: string, shown = path): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new InputFileError(shown, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const text = maybeGunzip(buf, shown).toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

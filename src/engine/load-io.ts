/**
 * The file-system side effects of the load phase, in a module of their own (node:fs only) so
 * the no-op fast path can probe exactly as the loader does without importing the YAML parser.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";

/**
 * A file that is not valid UTF-8 (decoding would silently put U+FFFD in its place): where the
 * first bad byte is, 1-based line and column (the column counts bytes).
 */
export class InvalidUtf8Error extends Error {
  constructor(
    readonly abs: string,
    readonly line: number,
    readonly col: number,
    readonly byte: number,
  ) {
    super(`invalid UTF-8: byte 0x${byte.toString(16).padStart(2, "0")} at line ${line}, column ${col}`);
    this.name = "InvalidUtf8Error";
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8, throwing InvalidUtf8Error (located) instead of replacing bad bytes. */
export function decodeUtf8(abs: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) (line++, (lineStart = i + 1));
    throw new InvalidUtf8Error(abs, line, at - lineStart + 1, bytes[at] ?? 0);
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    if (i + n >= b.length) return i; // truncated sequence at the end
    for (let k = 1; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlongs, surrogates and code points past U+10FFFF.
    if ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f) || (c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f)) return i;
    i += n + 1;
  }
  return b.length;
}

/** The file-system side effects of the load phase. Paths are absolute. */
export interface LoadIO {
  /** File contents, or undefined when it does not exist / is not a file. Throws InvalidUtf8Error. */
  readFile(abs: string): string | undefined;
  /** What is at `abs`, if anything. */
  stat(abs: string): "file" | "dir" | undefined;
  /** Entry names of a directory (empty when absent). */
  readdir(abs: string): string[];
}

/** The real file system. */
export const nodeLoadIO: LoadIO = {
  readFile(abs) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(abs);
    } catch {
      return undefined;
    }
    return decodeUtf8(abs, bytes);
  },
  stat(abs) {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) return undefined;
    return st.isDirectory() ? "dir" : "file";
  },
  readdir(abs) {
    try {
      return readdirSync(abs);
    } catch {
      return [];
    }
  },
};

/**
 * The bulk of a no-op check: does every file still have the stamp (size, mtimeMs, ino,
 * ctimeMs) the state index recorded? The ctime is there because size, mtime and inode can all
 * survive a content change (`cp -p` over a file of the same size, `git checkout` of files with
 * equal mtimes), while any write, chmod or rename moves the ctime (git and Bazel stamp it too). For 10k outputs this loop is most of a no-op build, and Node's
 * `fs.statSync` spends about as long building a Stats object (with four Dates) as the kernel
 * spends in stat(2). So an optional native helper (native/stat_stamps.c, built by `prepare`)
 * does the whole loop in one call; without it, the same comparison runs in JavaScript. Both
 * compute the times as Node does, and a contract test holds them to the same answers.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

interface NativeStamps {
  firstChanged(root: string, paths: readonly string[], stamps: Float64Array, start?: number): number;
  /** Numbers per path the helper expects (a helper of another layout is not used). */
  readonly stride?: number;
}

/** Numbers per path in a stamp list: size, mtimeMs, ino, ctimeMs. */
export const STAMP_STRIDE = 4;

/** The stamp of a stat: what every stamp comparison compares. */
export function stampOf(st: { size: number; mtimeMs: number; ino: number; ctimeMs: number }): [number, number, number, number] {
  return [st.size, st.mtimeMs, st.ino, st.ctimeMs];
}

/** Compiled helper, relative to dist/src/engine/cache/. */
const NATIVE = "../../../../native/build/Release/stat_stamps.node";
let native: NativeStamps | null | undefined;

/** The native helper, or null when it was not built (or `DAGBUILD_NO_NATIVE=1`). */
export function nativeStatStamps(): NativeStamps | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env.DAGBUILD_NO_NATIVE === "1") return native;
  try {
    const n = createRequire(import.meta.url)(NATIVE) as NativeStamps;
    native = n.stride === STAMP_STRIDE ? n : null; // an older build of the helper: JavaScript
  } catch {
    native = null; // not built: the JavaScript loop below
  }
  return native;
}

/** Where the native helper lives (stamped with the engine's code). */
export const nativeStatStampsFile = (): string => fileURLToPath(new URL(NATIVE, import.meta.url));

/** The JavaScript comparison: index (from `start`) of the first path that is missing or differs, or -1. */
export function firstChangedJs(root: string, paths: readonly string[], stamps: ArrayLike<number>, start = 0): number {
  const base = root + "/"; // workspace-relative, normalized paths: no join() per file
  const opts = { throwIfNoEntry: false } as const;
  for (let k = start, s = STAMP_STRIDE * start; k < paths.length; k++, s += STAMP_STRIDE) {
    const st = statSync(base + paths[k], opts);
    if (st === undefined || st.size !== stamps[s] || st.mtimeMs !== stamps[s + 1] || st.ino !== stamps[s + 2] || st.ctimeMs !== stamps[s + 3]) return k;
  }
  return -1;
}

/**
 * Indexes of the `paths` (relative to `root`) whose stat differs from their stamp in `stamps`
 * (STAMP_STRIDE numbers per path), missing files included, in order; at most `limit` of them (the scan
 * stops at the limit-th). Empty when all match.
 */
export function changedStamps(root: string, paths: readonly string[], stamps: ArrayLike<number>, limit: number): number[] {
  if (stamps.length !== paths.length * STAMP_STRIDE) throw new Error(`changedStamps: ${STAMP_STRIDE} stamp numbers per path`);
  const n = nativeStatStamps();
  const typed = n ? (stamps instanceof Float64Array ? stamps : Float64Array.from(stamps)) : undefined;
  const out: number[] = [];
  for (let from = 0; out.length < limit; ) {
    const k = n ? n.firstChanged(root, paths, typed!, from) : firstChangedJs(root, paths, stamps, from);
    if (k < 0) break;
    out.push(k);
    from = k + 1;
  }
  return out;
}

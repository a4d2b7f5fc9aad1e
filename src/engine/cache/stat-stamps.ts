/**
 * The bulk of a no-op check: does every file still have the stamp (size, mtimeMs, ino) the
 * state index recorded? For 10k outputs this loop is most of a no-op build, and Node's
 * `fs.statSync` spends about as long building a Stats object (with four Dates) as the kernel
 * spends in stat(2). So an optional native helper (native/stat_stamps.c, built by `prepare`)
 * does the whole loop in one call; without it, the same comparison runs in JavaScript. Both
 * compute mtimeMs as Node does, and a contract test holds them to the same answers.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

interface NativeStamps {
  firstChanged(root: string, paths: readonly string[], stamps: Float64Array): number;
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
    native = createRequire(import.meta.url)(NATIVE) as NativeStamps;
  } catch {
    native = null; // not built: the JavaScript loop below
  }
  return native;
}

/** Where the native helper lives (stamped with the engine's code). */
export const nativeStatStampsFile = (): string => fileURLToPath(new URL(NATIVE, import.meta.url));

/** The JavaScript comparison: index of the first path that is missing or differs, or -1. */
export function firstChangedJs(root: string, paths: readonly string[], stamps: ArrayLike<number>): number {
  const base = root + "/"; // workspace-relative, normalized paths: no join() per file
  const opts = { throwIfNoEntry: false } as const;
  for (let k = 0, s = 0; k < paths.length; k++, s += 3) {
    const st = statSync(base + paths[k], opts);
    if (st === undefined || st.size !== stamps[s] || st.mtimeMs !== stamps[s + 1] || st.ino !== stamps[s + 2]) return k;
  }
  return -1;
}

/**
 * Index of the first of `paths` (relative to `root`) whose stat differs from its stamp in
 * `stamps` (3 numbers per path), a missing file included; -1 when all match.
 */
export function firstChanged(root: string, paths: readonly string[], stamps: ArrayLike<number>): number {
  if (stamps.length !== paths.length * 3) throw new Error("firstChanged: 3 stamp numbers per path");
  const n = nativeStatStamps();
  return n ? n.firstChanged(root, paths, stamps instanceof Float64Array ? stamps : Float64Array.from(stamps)) : firstChangedJs(root, paths, stamps);
}

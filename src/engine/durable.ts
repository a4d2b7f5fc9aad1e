/**
 * Durability against power loss (kill -9 needs none of this: the kernel keeps what was
 * written). The rule: anything a later build accepts without re-reading must be on disk
 * before what vouches for it. So, in commit order:
 *   1. every output file (staged, or copied out of the CAS) is fsynced before it is renamed
 *      into place, and the directories the renames changed are fsynced after;
 *   2. the state index line comes last, and the index is fsynced when the build flushes it.
 * What is verified whenever it is read needs no fsync: a CAS blob is hashed as it is copied
 * out (a torn one is quarantined, cas.ts), an action record that does not parse is no record,
 * a no-op manifest that does not parse is a miss. A power loss can then lose the newest
 * results (those actions rebuild or restore), never leave an index line pointing at a torn or
 * zero-length output. Two fsyncs per action, and none on a no-op (it writes nothing).
 * Measured on the shared 2-core box, bench/noop's first build of 1,000 tiny actions: 2.85 s
 * without fsync vs 6.4 s with four per action (blobs and records too, since dropped); with
 * these two, 2.13 s vs 3.47 s without (load average 2.5) and 24.5 s vs 22.6 s (load 8): no
 * cost above the noise of that machine.
 *
 * `DAGBUILD_FSYNC=0` turns it off (scratch workspaces, benchmarks of the engine alone).
 */
import { closeSync, fsyncSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";

const enabled = () => process.env.DAGBUILD_FSYNC !== "0";

/** Test hook: told every path fsynced, in order. */
let observer: ((path: string) => void) | undefined;
export function observeSyncs(fn: ((path: string) => void) | undefined): void {
  observer = fn;
}

/** fsyncs a file or a directory (opened read-only: enough for fsync on Linux and macOS). */
export function fsyncPath(path: string): void {
  if (!enabled()) return;
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  observer?.(path);
}

/** fsyncs every file below `dir` and every directory, `dir` included. */
export function fsyncTree(dir: string): void {
  if (!enabled()) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else if (e.isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
}

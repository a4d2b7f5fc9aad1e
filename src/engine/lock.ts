/**
 * One build per workspace: `cache/lock` holds the PID of the build that owns the workspace.
 *
 * The lock file appears atomically with its content (written to a temp name, then `link`ed:
 * link fails if the lock exists), so no contender ever reads an empty lock. A lock whose PID
 * is dead (kill -9) is taken over by renaming it aside — only one contender can rename a given
 * file — and re-reading what was moved: if a live build's fresh lock was moved by mistake, it
 * is put back and that build keeps the workspace.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export type LockResult = { ok: true; release(): void } | { ok: false; holder: number };

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readPid(file: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

let counter = 0;
const unique = () => `${process.pid}.${Date.now()}.${counter++}`;

function tryUnlink(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    /* already gone */
  }
}

export function acquireLock(file: string): LockResult {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 8; attempt++) {
    const tmp = `${file}.new.${unique()}`;
    try {
      writeFileSync(tmp, `${process.pid}\n`);
    } catch (e) {
      tryUnlink(tmp); // a disk-full write leaves an empty temp file: never litter
      throw new Error(`cannot write the workspace lock ${file}: ${(e as Error).message}`);
    }
    try {
      linkSync(tmp, file);
      tryUnlink(tmp);
      let released = false;
      return {
        ok: true,
        release() {
          if (released) return;
          released = true;
          if (readPid(file) === process.pid) tryUnlink(file);
        },
      };
    } catch (e) {
      tryUnlink(tmp);
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = readPid(file);
    if (holder === undefined) continue; // released meanwhile: try again
    if (holder !== process.pid && alive(holder)) return { ok: false, holder };
    // Stale: move it aside, then check that what moved is the dead owner's lock.
    const aside = `${file}.stale.${unique()}`;
    try {
      renameSync(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // another contender took it over
      throw e;
    }
    const moved = readPid(aside);
    if (moved !== undefined && moved !== holder && alive(moved)) {
      // A live build locked the workspace between our read and our rename: give it back.
      try {
        linkSync(aside, file);
      } catch {
        /* the slot was taken again; that owner holds the workspace */
      }
      tryUnlink(aside);
      return { ok: false, holder: moved };
    }
    tryUnlink(aside);
  }
  return { ok: false, holder: readPid(file) ?? NaN };
}

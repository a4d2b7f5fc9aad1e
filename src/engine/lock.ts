/**
 * One build per workspace: `cache/lock` holds the PID of the build that owns the workspace.
 * Created with O_EXCL; a lock whose PID is dead (kill -9) is taken over.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from "node:fs";
import { dirname } from "node:path";

export type LockResult = { ok: true; release(): void } | { ok: false; holder: number };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function acquireLock(file: string): LockResult {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        ok: true,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
          } catch {
            /* gone already */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
      } catch {
        continue; // released between our open and read
      }
      if (Number.isFinite(pid) && pid !== process.pid && alive(pid)) return { ok: false, holder: pid };
      try {
        unlinkSync(file); // stale: its owner died
      } catch {
        /* someone else took it over first; retry */
      }
    }
  }
  return { ok: false, holder: NaN };
}

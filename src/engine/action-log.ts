/**
 * The log of one running action (`cache/logs/<action>.log`) and its last 4000 characters (the
 * tail shown when it fails).
 *
 * The log file is created on the first output only: most actions print nothing, and a build
 * of 100k small actions should not write 100k empty logs. A log that cannot be written (disk
 * full) is said once and then only kept in memory (the tail): the action's outputs do not
 * depend on it, and this runs inside host callbacks, where a throw is uncaught.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventSink } from "./events.js";
import { formatReason, type Reason } from "./fingerprint.js";
import { safeName } from "./workspace.js";

/** One action's log: written on demand, never throws. */
export class ActionLog {
  /** The log file (it exists only once something was written). */
  readonly file: string;
  /** The last 4000 characters written. */
  tail = "";
  private open = false;
  private broken = false;

  constructor(
    private readonly dir: string,
    private readonly id: string,
    private readonly reason: Reason,
    private readonly sink: EventSink,
  ) {
    this.file = join(dir, `${safeName(id)}.log`);
  }

  /** Appends `chunk` (bound: it is handed to hosts as a callback). */
  readonly write = (chunk: string): void => {
    this.tail = (this.tail + chunk).slice(-4000);
    if (this.broken) return;
    try {
      if (!this.open) {
        this.open = true;
        mkdirSync(this.dir, { recursive: true });
        writeFileSync(this.file, `# dagbuild log of ${this.id}\n# reason: ${formatReason(this.reason)}\n`);
      }
      appendFileSync(this.file, chunk);
    } catch (e) {
      this.broken = true;
      this.sink.emit({ type: "note", message: `dagbuild: cannot write the log of ${this.id} (${this.file}): ${(e as Error).message}; its last lines are kept in memory only` });
    }
  };
}

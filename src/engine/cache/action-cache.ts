/**
 * Action records: `cache/ac/<key[0..2]>/<key>.json`, one per action key ever built (format
 * version 1). A record holds everything needed to explain a rebuild (the key material: rule,
 * params, tools, input digests) and to restore the outputs from the CAS without running.
 * Written last, after the outputs are in place, via temp + rename.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { TreeEntry } from "../hosts/host.js";
import type { KeyMaterial } from "../fingerprint.js";

export const ACTION_RECORD_VERSION = 1;

/** One output as recorded. */
export interface RecordedOutput {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  readonly dir: boolean;
  readonly tree?: readonly TreeEntry[];
  /** Directory outputs: the empty directories inside (relative), restored with the files. */
  readonly dirs?: readonly string[];
  /** File outputs: restored with mode 755. */
  readonly executable?: boolean;
  /** Left on this ssh host when recorded (resident, docs/hosts.md); absent: brought back. */
  readonly resident?: string;
}

/** The on-disk action record. */
export interface ActionRecord {
  readonly version: typeof ACTION_RECORD_VERSION;
  readonly key: string;
  readonly id: string;
  readonly material: KeyMaterial;
  readonly outputs: Readonly<Record<string, RecordedOutput>>;
  readonly host: string;
  readonly duration_ms: number;
  /** When it was built (informational only; never part of a key or an output). */
  readonly built_at: string;
  /** The rule's not-final reason (`ctx.notFinal`): a provisional outcome, never restored. */
  readonly not_final?: string;
  /**
   * `retrain_every` targets only: per dep name, the static key digests (rule, params, tools) of
   * the actions that produced its inputs, so a later hold can tell an upstream that merely
   * reran on more weeks from one whose rule or params changed (src/engine/retrain-hold.ts).
   */
  readonly upstream?: Readonly<Record<string, readonly string[]>>;
}

export class ActionCache {
  constructor(readonly dir: string) {}

  path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  get(key: string): ActionRecord | undefined {
    const p = this.path(key);
    if (!existsSync(p)) return undefined;
    try {
      const rec = JSON.parse(readFileSync(p, "utf8")) as ActionRecord;
      return rec.version === ACTION_RECORD_VERSION ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  put(rec: ActionRecord): void {
    const p = this.path(rec.key);
    mkdirSync(dirname(p), { recursive: true });
    const tmp = `${p}.tmp${process.pid}`;
    writeFileSync(tmp, JSON.stringify(rec) + "\n");
    renameSync(tmp, p);
  }
}

/**
 * The compact state index: the one file a no-op build reads (like ninja's .ninja_log).
 *
 * File `cache/state.v1.jsonl`, append-only JSON lines:
 *   {"format":"dagbuild-state","version":1}                          header (first line)
 *   {"a":"<action id>","k":"<action key>","o":{"<name>":Out},"b":ms} latest result of an action
 *                                                                    ("b": when its run started, kept
 *                                                                    for targets with final_after)
 *   {"x":"<action id>"}                                              action forgotten (clean)
 *   {"s":"<path>","d":"<sha256>","z":size,"m":mtimeMs,"i":ino}       stat cache of a source file
 * with Out = {"p":path,"d":digest,"z":size,"m":mtimeMs,"i":ino,"t":1 if directory,"g":stat signature}.
 * Later lines win. A torn last line (kill -9 during an append) is ignored. The log is rewritten
 * (temp + rename) when superseded lines exceed a quarter of the live entries.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export const STATE_FORMAT_VERSION = 1;
const HEADER = JSON.stringify({ format: "dagbuild-state", version: STATE_FORMAT_VERSION });

/** Recorded state of one output of an action. */
export interface OutputState {
  readonly p: string;
  readonly d: string;
  readonly z: number;
  readonly m: number;
  readonly i: number;
  /** 1 for a directory output. */
  readonly t?: 1;
  /** Directory outputs: signature of the stats of every file inside. */
  readonly g?: string;
}

/** Latest recorded result of an action. */
export interface ActionState {
  readonly k: string;
  readonly o: Readonly<Record<string, OutputState>>;
  /** When the run that made these outputs started (ms since the epoch; final_after targets only). */
  readonly b?: number;
}

/** Stat-cache entry of a source file. */
export interface StatEntry {
  readonly d: string;
  readonly z: number;
  readonly m: number;
  readonly i: number;
}

export class StateIndex {
  readonly actions = new Map<string, ActionState>();
  readonly stats = new Map<string, StatEntry>();
  private lines = 0;
  private pendingStats: string[] = [];

  private constructor(readonly file: string) {}

  /** Loads the index (missing file = empty; unknown version = empty with a note). */
  static load(file: string): StateIndex {
    const idx = new StateIndex(file);
    if (!existsSync(file)) return idx;
    const text = readFileSync(file, "utf8");
    const nl = text.indexOf("\n");
    if (text.slice(0, nl) !== HEADER) return idx; // another version: start afresh (a full rebuild, never a wrong no-op)
    const body = text.slice(nl + 1);
    let records: Record<string, unknown>[];
    try {
      // One JSON.parse of the whole log is several times faster than one per line.
      records = JSON.parse(`[${body.trimEnd().replaceAll("\n", ",")}]`);
    } catch {
      records = [];
      for (const line of body.split("\n")) {
        if (line.length === 0) continue;
        try {
          records.push(JSON.parse(line));
        } catch {
          // a torn write (kill -9 during an append): the record is lost, its action rebuilds
        }
      }
    }
    for (const rec of records) {
      idx.lines++;
      if (typeof rec.a === "string")
        idx.actions.set(rec.a, typeof rec.b === "number" ? { k: rec.k as string, o: rec.o as Record<string, OutputState>, b: rec.b } : { k: rec.k as string, o: rec.o as Record<string, OutputState> });
      else if (typeof rec.x === "string") idx.actions.delete(rec.x);
      else if (typeof rec.s === "string") idx.stats.set(rec.s, { d: rec.d as string, z: rec.z as number, m: rec.m as number, i: rec.i as number });
    }
    return idx;
  }

  private ensureFile(): void {
    if (!existsSync(this.file)) {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(this.file, HEADER + "\n");
    }
  }

  /** Records an action's result durably (called after its outputs are in place). */
  recordAction(id: string, state: ActionState): void {
    this.actions.set(id, state);
    this.ensureFile();
    appendFileSync(this.file, JSON.stringify({ a: id, k: state.k, o: state.o, b: state.b }) + "\n");
    this.lines++;
  }

  forgetAction(id: string): void {
    if (!this.actions.delete(id)) return;
    this.ensureFile();
    appendFileSync(this.file, JSON.stringify({ x: id }) + "\n");
    this.lines++;
  }

  /** Updates the stat cache; written in one batch by `flush`. */
  recordStat(path: string, e: StatEntry): void {
    const old = this.stats.get(path);
    if (old && old.d === e.d && old.z === e.z && old.m === e.m && old.i === e.i) return;
    this.stats.set(path, e);
    this.pendingStats.push(JSON.stringify({ s: path, d: e.d, z: e.z, m: e.m, i: e.i }));
  }

  /** Writes pending stat entries; compacts the log when it has grown. */
  flush(): void {
    if (this.pendingStats.length > 0) {
      this.ensureFile();
      appendFileSync(this.file, this.pendingStats.join("\n") + "\n");
      this.lines += this.pendingStats.length;
      this.pendingStats = [];
    }
    // The no-op path parses this file: keep superseded lines to a quarter of the live ones.
    const live = this.actions.size + this.stats.size;
    if (this.lines > live + Math.max(1000, live / 4)) this.compact();
  }

  /** Rewrites the log with only the live entries (temp + rename: never a torn index). */
  compact(): void {
    const out: string[] = [HEADER];
    for (const [id, s] of this.actions) out.push(JSON.stringify({ a: id, k: s.k, o: s.o, b: s.b }));
    for (const [p, e] of this.stats) out.push(JSON.stringify({ s: p, d: e.d, z: e.z, m: e.m, i: e.i }));
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp${process.pid}`;
    writeFileSync(tmp, out.join("\n") + "\n");
    renameSync(tmp, this.file);
    this.lines = out.length - 1;
  }
}

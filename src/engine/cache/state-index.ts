/**
 * The compact state index: the one file a no-op build reads (like ninja's .ninja_log).
 *
 * File `cache/state.v1.jsonl`, append-only JSON lines:
 *   {"format":"dagbuild-state","version":1}                          header (first line)
 *   {"a":"<action id>","k":"<action key>","o":{"<name>":Out},"b":ms} latest result of an action
 *                                                                    ("b": when its run started, kept
 *                                                                    for targets with final_after;
 *                                                                    "n": the rule's not-final reason,
 *                                                                    a provisional outcome: ctx.notFinal)
 *   {"x":"<action id>"}                                              action forgotten (clean)
 *   {"s":"<path>","d":"<sha256>","z":size,"m":mtimeMs,"i":ino,"c":ctimeMs}   stat cache of a source file
 * with Out = {"p":path,"d":digest,"z":size,"m":mtimeMs,"i":ino,"c":ctimeMs,"x":1 if executable,
 * "t":1 if directory,"g":stat signature,"h":host name if the output was left on that ssh host (resident,
 * docs/hosts.md: not in the workspace; "m","i","c" are then 0; absent: in the workspace)}. An entry without "c" (written before the ctime was
 * recorded) never matches a stat: it is re-hashed once and re-recorded.
 * Later lines win. A torn last line (kill -9 during an append) is ignored, and terminated
 * with a newline before this process appends, so the next entry is never glued onto it; an
 * unreadable line makes the next flush compact the log. The log is rewritten (temp + rename)
 * when superseded lines exceed a quarter of the live entries.
 *
 * A first line that is not this header is never appended to: a newer version is refused
 * (`StateIndexError`: a newer dagbuild's state must not be clobbered by an older one); anything
 * else (garbage, an older version) is reported in `notice`, read as empty, and moved aside to
 * `<file>.bad-<ms>` when this process first writes, so the next build starts afresh (every
 * action restores from its record or reruns; never a wrong no-op).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fsyncPath } from "../durable.js";

export const STATE_FORMAT_VERSION = 1;
const HEADER = JSON.stringify({ format: "dagbuild-state", version: STATE_FORMAT_VERSION });

/** Recorded state of one output of an action. */
export interface OutputState {
  readonly p: string;
  readonly d: string;
  readonly z: number;
  readonly m: number;
  readonly i: number;
  /** ctimeMs (absent in entries of older engines: never matches). */
  readonly c?: number;
  /** 1 for an executable file output (its mode is part of what is restored). */
  readonly x?: 1;
  /** 1 for a directory output. */
  readonly t?: 1;
  /** Directory outputs: signature of the stats of every file inside. */
  readonly g?: string;
  /**
   * Resident outputs: the ssh host whose CAS holds it (it is not in the workspace; docs/hosts.md).
   * Absent (every entry of older engines): the output is in the workspace.
   */
  readonly h?: string;
}

/** Latest recorded result of an action. */
export interface ActionState {
  readonly k: string;
  readonly o: Readonly<Record<string, OutputState>>;
  /** When the run that made these outputs started (ms since the epoch; final_after targets only). */
  readonly b?: number;
  /**
   * Set when the rule said its outcome is provisional (`ctx.notFinal`, a pruned sweep trial):
   * its reason. Such a record is never fresh and never restored (docs/pipeline-format.md, Siblings).
   */
  readonly n?: string;
}

/** Stat-cache entry of a source file. */
export interface StatEntry {
  readonly d: string;
  readonly z: number;
  readonly m: number;
  readonly i: number;
  readonly c?: number;
}

/** Whether a stat still has a recorded stamp (size, mtime, inode and ctime). */
export function sameStamp(st: { size: number; mtimeMs: number; ino: number; ctimeMs: number }, e: { z: number; m: number; i: number; c?: number }): boolean {
  return st.size === e.z && st.mtimeMs === e.m && st.ino === e.i && st.ctimeMs === e.c;
}

/** A state index this engine must not read or write (written by a newer version). */
export class StateIndexError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = "StateIndexError";
  }
}

export class StateIndex {
  readonly actions = new Map<string, ActionState>();
  readonly stats = new Map<string, StatEntry>();
  /** Set when the file on disk was not a readable index of this version (said to the user). */
  notice: string | undefined;
  private lines = 0;
  private pendingStats: string[] = [];
  /** What the first write must do to the file: nothing, terminate a torn line, or replace it. */
  private repair: "none" | "terminate" | "replace" | "header" = "none";
  /** Some line did not parse: compact at the next flush. */
  private damaged = false;

  private constructor(readonly file: string) {}

  /**
   * Loads the index (missing or empty file = empty). Throws StateIndexError for an index of a
   * newer version; another header = empty, with `notice` saying so.
   */
  static load(file: string): StateIndex {
    const idx = new StateIndex(file);
    if (!existsSync(file)) return idx;
    const text = readFileSync(file, "utf8");
    if (text.length === 0) {
      idx.repair = "header"; // created, then killed before the header was written
      return idx;
    }
    const nl = text.indexOf("\n");
    const first = nl < 0 ? text : text.slice(0, nl);
    if (first !== HEADER) {
      const version = headerVersion(first);
      if (version !== undefined && version > STATE_FORMAT_VERSION)
        throw new StateIndexError(file, `${file}: state index version ${version}, written by a newer dagbuild (this one reads version ${STATE_FORMAT_VERSION}); build with that version, or remove the file to start afresh`);
      idx.repair = "replace";
      const what = version !== undefined ? `an older state index (version ${version})` : `not a dagbuild state index (first line ${JSON.stringify(first.slice(0, 60))})`;
      idx.notice = `dagbuild: ${file} is ${what}: starting afresh (actions restore from their records or rerun); the old file is kept as ${file}.bad-<time>`;
      return idx;
    }
    if (!text.endsWith("\n")) idx.repair = "terminate";
    const body = nl < 0 ? "" : text.slice(nl + 1);
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
          idx.damaged = true;
        }
      }
    }
    for (const rec of records) {
      idx.lines++;
      if (typeof rec.a === "string")
        idx.actions.set(rec.a, { k: rec.k as string, o: rec.o as Record<string, OutputState>, ...(typeof rec.b === "number" ? { b: rec.b } : {}), ...(typeof rec.n === "string" ? { n: rec.n } : {}) });
      else if (typeof rec.x === "string") idx.actions.delete(rec.x);
      else if (typeof rec.s === "string") idx.stats.set(rec.s, { d: rec.d as string, z: rec.z as number, m: rec.m as number, i: rec.i as number, c: rec.c as number | undefined });
    }
    return idx;
  }

  /** Makes the file safe to append to (once per process: only the lock holder writes). */
  private ensureFile(): void {
    if (this.ready) return;
    this.moveAsideBad();
    if (this.repair === "terminate") appendFileSync(this.file, "\n");
    else if (this.repair !== "none" || !existsSync(this.file)) {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(this.file, HEADER + "\n");
    }
    this.repair = "none";
    this.ready = true;
  }

  private ready = false;

  /** A file that is not an index of this version is kept for inspection, never overwritten. */
  private moveAsideBad(): void {
    if (this.repair === "replace" && existsSync(this.file)) renameSync(this.file, `${this.file}.bad-${Date.now()}`);
  }

  /** Records an action's result durably (called after its outputs are in place). */
  recordAction(id: string, state: ActionState): void {
    this.actions.set(id, state);
    this.ensureFile();
    appendFileSync(this.file, JSON.stringify({ a: id, k: state.k, o: state.o, b: state.b, n: state.n }) + "\n");
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
    if (old && old.d === e.d && old.z === e.z && old.m === e.m && old.i === e.i && old.c === e.c) return;
    this.stats.set(path, e);
    this.pendingStats.push(JSON.stringify({ s: path, d: e.d, z: e.z, m: e.m, i: e.i, c: e.c }));
  }

  /**
   * New stamps for an action whose outputs were re-hashed and found unchanged (a touch, a
   * `cp -p` of the same bytes): written in the next `flush`, like stat entries, so the next
   * check (and the no-op manifest) matches by stats again instead of re-hashing every time.
   * Only a build (which holds the lock) flushes; a dry run refreshes nothing on disk.
   */
  refreshAction(id: string, state: ActionState): void {
    this.actions.set(id, state);
    this.pendingStats.push(JSON.stringify({ a: id, k: state.k, o: state.o, b: state.b, n: state.n }));
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
    if (this.damaged || this.lines > live + Math.max(1000, live / 4)) this.compact();
    else if (this.ready) fsyncPath(this.file); // this build's lines survive a power loss
  }

  /** Rewrites the log with only the live entries (temp + rename: never a torn index). */
  compact(): void {
    const out: string[] = [HEADER];
    for (const [id, s] of this.actions) out.push(JSON.stringify({ a: id, k: s.k, o: s.o, b: s.b, n: s.n }));
    for (const [p, e] of this.stats) out.push(JSON.stringify({ s: p, d: e.d, z: e.z, m: e.m, i: e.i, c: e.c }));
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp${process.pid}`;
    writeFileSync(tmp, out.join("\n") + "\n");
    fsyncPath(tmp);
    this.moveAsideBad();
    renameSync(tmp, this.file);
    this.lines = out.length - 1;
    this.damaged = false;
    this.repair = "none";
    this.ready = true;
  }
}

/** The version of a header-like first line (`{"format":"dagbuild-state","version":N}`), if it is one. */
function headerVersion(line: string): number | undefined {
  try {
    const h = JSON.parse(line) as { format?: unknown; version?: unknown };
    return h && h.format === "dagbuild-state" && typeof h.version === "number" ? h.version : undefined;
  } catch {
    return undefined;
  }
}

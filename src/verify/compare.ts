/**
 * Classified comparison of two versions of an output file (the recorded one, from the CAS,
 * and the one on disk or rebuilt): not just "the digest differs" but what differs.
 *
 * - JSON (`.json`), JSON lines (`.jsonl`), CSV (`.csv`) and parquet (`.parquet`, read through
 *   DuckDB) are compared structurally: keys or columns added or removed, the same keys or rows
 *   in another order, strings that differ, and for numbers the largest absolute and relative
 *   difference and where it is.
 * - tar archives (`.tar`, `.tgz`, `.tar.gz`) member by member, each by its own name's format.
 * - anything else (or a file that does not parse as its extension says) by its first
 *   differing byte and both sizes.
 *
 * A target's `verify:` block (`{ rtol, atol, ignore }`) decides what is "within tolerance":
 * numbers with |a - b| <= atol + rtol * |a| (numpy's allclose), and differences only in the
 * ignored fields (dotted key paths, array indices skipped: `training.seconds`).
 */
import { Parser, type ReadEntry } from "tar";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { VerifySettings } from "../engine/graph-types.js";

/** A target's `verify:` settings (pipeline format; none of them is part of an action key). */
export type VerifyConfig = VerifySettings;

/** The largest numeric difference found, and where. */
export interface NumericDiff {
  readonly abs: number;
  readonly absAt: string;
  readonly rel: number;
  readonly relAt: string;
  /** How many numbers differ at all. */
  readonly count: number;
}

/** The verdict on one file. */
export interface FileComparison {
  readonly path: string;
  readonly format: "json" | "jsonl" | "csv" | "parquet" | "tar" | "bytes";
  /** identical: same content; within-tolerance: differs only as the target's verify: allows. */
  readonly verdict: "identical" | "within-tolerance" | "mismatch";
  /** One line: what differs. */
  readonly summary: string;
  /** Only the order of keys, columns or rows differs (same content otherwise). */
  readonly orderOnly?: boolean;
  readonly numeric?: NumericDiff;
  /** Structural and non-numeric differences (first ones, located). */
  readonly differences?: readonly string[];
  /** Byte comparison: first differing offset; both sizes. */
  readonly firstDifferingByte?: number;
  readonly sizes: readonly [number, number];
  /** tar: one comparison per member that differs. */
  readonly members?: readonly FileComparison[];
  /** Fields that differed but are ignored by `verify.ignore`. */
  readonly ignored?: readonly string[];
}

const MAX_DIFFS = 8;

/** Collects differences while walking two values. */
class Diffs {
  readonly structural: string[] = [];
  structuralCount = 0;
  order: string[] = [];
  ignored = new Set<string>();
  abs = 0;
  absAt = "";
  rel = 0;
  relAt = "";
  count = 0;
  outOfTolerance = 0;
  constructor(readonly cfg: VerifyConfig) {}

  add(msg: string): void {
    this.structuralCount++;
    if (this.structural.length < MAX_DIFFS) this.structural.push(msg);
  }

  number(a: number, b: number, at: string): void {
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return;
    this.count++;
    const abs = Math.abs(a - b);
    const rel = abs / Math.max(Math.abs(a), Math.abs(b));
    if (abs > this.abs || Number.isNaN(abs)) {
      this.abs = abs;
      this.absAt = at;
    }
    if (rel > this.rel || Number.isNaN(rel)) {
      this.rel = rel;
      this.relAt = at;
    }
    const { rtol, atol } = this.cfg;
    if (rtol === undefined && atol === undefined) this.outOfTolerance++;
    else if (!(abs <= (atol ?? 0) + (rtol ?? 0) * Math.abs(a))) this.outOfTolerance++;
  }
}

/** The dotted key path of `at` without array indices (`[3].training.seconds` → `training.seconds`). */
function keyPath(keys: readonly (string | number)[]): string {
  return keys.filter((k) => typeof k === "string").join(".");
}

function locate(keys: readonly (string | number)[]): string {
  let s = "";
  for (const k of keys) s += typeof k === "number" ? `[${k}]` : s ? `.${k}` : k;
  return s || "(top)";
}

const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/** Walks two JSON-like values, recording every difference in `d`. */
function walk(a: unknown, b: unknown, keys: (string | number)[], d: Diffs): void {
  if (d.cfg.ignore?.length && keys.length && d.cfg.ignore.includes(keyPath(keys))) {
    if (JSON.stringify(a) !== JSON.stringify(b)) d.ignored.add(keyPath(keys));
    return;
  }
  if (typeof a === "number" && typeof b === "number") return d.number(a, b, locate(keys));
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) d.add(`${locate(keys)}: ${a.length} items recorded, ${b.length} now`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], [...keys, i], d);
    return;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const sb = new Set(kb);
    const sa = new Set(ka);
    for (const k of ka) if (!sb.has(k)) d.add(`${locate([...keys, k])}: key only in the recorded file`);
    for (const k of kb) if (!sa.has(k)) d.add(`${locate([...keys, k])}: key only in the new file`);
    const common = ka.filter((k) => sb.has(k));
    if (common.join("\0") !== kb.filter((k) => sa.has(k)).join("\0")) d.order.push(`keys of ${locate(keys)} in another order`);
    for (const k of common) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [...keys, k], d);
    return;
  }
  if (a !== b && JSON.stringify(a) !== JSON.stringify(b)) d.add(`${locate(keys)}: ${show(a)} recorded, ${show(b)} now`);
}

/** Rows: compared in place; when they differ, whether the same rows are merely in another order. */
function walkRows(a: readonly unknown[], b: readonly unknown[], label: string, d: Diffs): void {
  const probe = new Diffs(d.cfg);
  walk(a, b, [], probe);
  const differs = probe.structuralCount > 0 || probe.count > 0;
  if (differs && a.length === b.length) {
    const sa = a.map((r) => JSON.stringify(r)).sort();
    const sb = b.map((r) => JSON.stringify(r)).sort();
    if (sa.every((r, i) => r === sb[i])) {
      d.order.push(`the same ${a.length} ${label} in another order`);
      return;
    }
  }
  walk(a, b, [], d);
}

function verdictOf(path: string, format: FileComparison["format"], d: Diffs, sizes: [number, number]): FileComparison {
  const numeric = d.count ? { abs: d.abs, absAt: d.absAt, rel: d.rel, relAt: d.relAt, count: d.count } : undefined;
  const ignored = d.ignored.size ? [...d.ignored].sort() : undefined;
  const base = { path, format, sizes, ...(numeric ? { numeric } : {}), ...(ignored ? { ignored } : {}) };
  const num = numeric ? `${numeric.count} ${numeric.count === 1 ? "number differs" : "numbers differ"}: max abs ${numeric.abs.toExponential(3)} at ${numeric.absAt}, max rel ${numeric.rel.toExponential(3)} at ${numeric.relAt}` : "";
  if (d.structuralCount) {
    const more = d.structuralCount > d.structural.length ? ` (+${d.structuralCount - d.structural.length} more)` : "";
    return { ...base, verdict: "mismatch", summary: `${d.structural[0]}${more}${num ? `; ${num}` : ""}`, differences: d.structural };
  }
  if (d.outOfTolerance) return { ...base, verdict: "mismatch", summary: num + (d.cfg.rtol !== undefined || d.cfg.atol !== undefined ? ` (beyond rtol ${d.cfg.rtol ?? 0}, atol ${d.cfg.atol ?? 0})` : "") };
  if (d.order.length) return { ...base, verdict: "mismatch", orderOnly: true, summary: `same content, different order: ${d.order[0]}${d.order.length > 1 ? ` (+${d.order.length - 1} more)` : ""}` };
  if (numeric || ignored) {
    const parts = [num, ignored ? `ignored fields differ: ${ignored.join(", ")}` : ""].filter(Boolean);
    return { ...base, verdict: "within-tolerance", summary: `within tolerance: ${parts.join("; ")}` };
  }
  return { ...base, verdict: "mismatch", summary: "same values, different bytes (formatting, encoding or file metadata)" };
}

/** First differing byte and sizes. */
export function compareBytes(path: string, a: Buffer, b: Buffer, note?: string): FileComparison {
  const sizes: [number, number] = [a.length, b.length];
  if (a.equals(b)) return { path, format: "bytes", verdict: "identical", summary: "identical", sizes };
  let i = 0;
  const n = Math.min(a.length, b.length);
  while (i < n && a[i] === b[i]) i++;
  const at = i < n ? `first differing byte at offset ${i} (0x${a[i]!.toString(16).padStart(2, "0")} recorded, 0x${b[i]!.toString(16).padStart(2, "0")} now)` : `one is a prefix of the other: they differ from offset ${i}`;
  return { path, format: "bytes", verdict: "mismatch", summary: `${at}; size ${a.length} recorded, ${b.length} now${note ? `; ${note}` : ""}`, firstDifferingByte: i, sizes };
}

/** Minimal RFC 4180 CSV reader: rows of cells (quotes, doubled quotes, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** CSV rows as objects keyed by header, numeric-looking cells as numbers. */
function csvRows(text: string): { header: string[]; rows: Record<string, string | number>[] } {
  const [header = [], ...body] = parseCsv(text);
  return { header, rows: body.map((r) => Object.fromEntries(header.map((h, i) => [h, NUMBER.test(r[i] ?? "") ? Number(r[i]) : (r[i] ?? "")]))) };
}

function columnsDiff(a: readonly string[], b: readonly string[], d: Diffs, what: string): void {
  const sb = new Set(b);
  const sa = new Set(a);
  for (const c of a) if (!sb.has(c)) d.add(`${what} ${c}: only in the recorded file`);
  for (const c of b) if (!sa.has(c)) d.add(`${what} ${c}: only in the new file`);
  if (a.filter((c) => sb.has(c)).join("\0") !== b.filter((c) => sa.has(c)).join("\0")) d.order.push(`${what}s in another order`);
}

async function parquetTable(file: string): Promise<{ columns: string[]; types: string[]; rows: Record<string, unknown>[] }> {
  const { withDuckDb, sqlString } = await import("../io/duckdb.js");
  return withDuckDb(async (c) => {
    const r = await c.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(file)})`);
    const columns = r.columnNames();
    const types = r.columnTypes().map((t) => t.toString());
    const rows = r.getRowObjectsJson() as Record<string, unknown>[];
    // DECIMAL values come back as strings: compare them as numbers (BIGINTs stay exact strings).
    const decimals = columns.filter((_, i) => types[i]!.startsWith("DECIMAL"));
    for (const row of rows) for (const c of decimals) if (typeof row[c] === "string") row[c] = Number(row[c]);
    return { columns, types, rows };
  });
}

async function compareParquet(path: string, a: Buffer, b: Buffer, cfg: VerifyConfig): Promise<FileComparison> {
  const dir = mkdtempSync(join(tmpdir(), "dagbuild-verify-"));
  try {
    writeFileSync(join(dir, "a.parquet"), a);
    writeFileSync(join(dir, "b.parquet"), b);
    let ta, tb;
    try {
      ta = await parquetTable(join(dir, "a.parquet"));
    } catch (e) {
      return compareBytes(path, a, b, `the recorded file is not readable as parquet (${(e as Error).message.split("\n")[0]})`);
    }
    try {
      tb = await parquetTable(join(dir, "b.parquet"));
    } catch (e) {
      return compareBytes(path, a, b, `the new file is not readable as parquet (${(e as Error).message.split("\n")[0]})`);
    }
    const d = new Diffs(cfg);
    columnsDiff(ta.columns, tb.columns, d, "column");
    ta.columns.forEach((c, i) => {
      const j = tb.columns.indexOf(c);
      if (j >= 0 && ta.types[i] !== tb.types[j]) d.add(`column ${c}: type ${ta.types[i]} recorded, ${tb.types[j]} now`);
    });
    if (ta.rows.length !== tb.rows.length) d.add(`${ta.rows.length} rows recorded, ${tb.rows.length} now`);
    else walkRows(ta.rows, tb.rows, "rows", d);
    return verdictOf(path, "parquet", d, [a.length, b.length]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tar type codes whose entries carry file content (regular, old regular, contiguous). */
const FILE_TYPES = new Set(["0", "", "7"]);

/**
 * The members of a tar (optionally gzipped) archive: name → content, read with the `tar`
 * package's Parser (ustar, pax and GNU long names; gzip detected by its magic). A directory is
 * `name/` with no content; any other kind (links, devices) is `name (type T)` holding its link
 * target, so a changed link is a changed member. A damaged archive throws.
 */
export function tarMembers(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let problem: string | undefined;
  let open = 0;
  const parser = new Parser({
    strict: true, // every warning (bad header, truncation) is an error: nothing is skipped silently
    onReadEntry: (e: ReadEntry) => {
      open++;
      const chunks: Buffer[] = [];
      e.on("data", (c: Buffer) => chunks.push(c));
      e.on("end", () => {
        open--;
        const code = e.header.typeKey ?? "0";
        const name = e.path;
        if (FILE_TYPES.has(code)) out.set(name, Buffer.concat(chunks));
        else if (code === "5") out.set(name.endsWith("/") ? name : `${name}/`, Buffer.alloc(0));
        else out.set(`${name} (type ${code})`, Buffer.from(e.linkpath ?? ""));
      });
    },
  });
  parser.on("error", (e: Error) => (problem ??= e.message));
  // A Buffer written to the Parser is parsed synchronously (no file or stream involved).
  parser.end(buf);
  if (problem !== undefined) throw new Error(problem);
  if (open !== 0) throw new Error(`${open} members not read to their end`);
  return out;
}

async function compareTar(path: string, a: Buffer, b: Buffer, cfg: VerifyConfig): Promise<FileComparison> {
  let ma: Map<string, Buffer>, mb: Map<string, Buffer>;
  try {
    ma = tarMembers(a);
    mb = tarMembers(b);
  } catch (e) {
    return compareBytes(path, a, b, `not readable as tar (${(e as Error).message})`);
  }
  const d = new Diffs(cfg);
  columnsDiff([...ma.keys()], [...mb.keys()], d, "member");
  const members: FileComparison[] = [];
  for (const [name, ca] of ma) {
    const cb = mb.get(name);
    if (!cb || ca.equals(cb)) continue;
    members.push(await compareContent(`${path}:${name}`, ca, cb, cfg));
  }
  const bad = members.filter((m) => m.verdict === "mismatch");
  const sizes: [number, number] = [a.length, b.length];
  if (d.structuralCount || bad.length) {
    const first = d.structural[0] ?? `${bad.length} of ${ma.size} members differ; first ${bad[0]!.path}: ${bad[0]!.summary}`;
    return { path, format: "tar", verdict: "mismatch", summary: first, sizes, members, ...(d.structural.length ? { differences: d.structural } : {}) };
  }
  if (members.length) return { path, format: "tar", verdict: "within-tolerance", summary: `within tolerance: ${members.length} members differ within tolerance`, sizes, members };
  if (d.order.length) return { path, format: "tar", verdict: "mismatch", orderOnly: true, summary: "same members and contents, different member order", sizes };
  return { path, format: "tar", verdict: "mismatch", summary: "same members and contents, different archive bytes (headers: mtime, mode, owner or compression)", sizes };
}

/** The format a path is compared as (by extension). */
export function formatOf(path: string): FileComparison["format"] {
  const p = path.toLowerCase();
  if (p.endsWith(".json")) return "json";
  if (p.endsWith(".jsonl") || p.endsWith(".ndjson")) return "jsonl";
  if (p.endsWith(".csv")) return "csv";
  if (p.endsWith(".parquet")) return "parquet";
  if (p.endsWith(".tar") || p.endsWith(".tgz") || p.endsWith(".tar.gz")) return "tar";
  return "bytes";
}

/** Compares the recorded content `a` with the new content `b` of the output file `path`. */
export async function compareContent(path: string, a: Buffer, b: Buffer, cfg: VerifyConfig = {}): Promise<FileComparison> {
  const sizes: [number, number] = [a.length, b.length];
  if (a.equals(b)) return { path, format: formatOf(path), verdict: "identical", summary: "identical", sizes };
  const format = formatOf(path);
  if (format === "parquet") return compareParquet(path, a, b, cfg);
  if (format === "tar") return compareTar(path, a, b, cfg);
  if (format === "bytes") return compareBytes(path, a, b);
  const ta = a.toString("utf8");
  const tb = b.toString("utf8");
  const d = new Diffs(cfg);
  try {
    if (format === "json") walk(JSON.parse(ta), JSON.parse(tb), [], d);
    else if (format === "jsonl") {
      const rows = (t: string) => t.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
      const ra = rows(ta);
      const rb = rows(tb);
      if (ra.length !== rb.length) d.add(`${ra.length} lines recorded, ${rb.length} now`);
      else walkRows(ra, rb, "lines", d);
    } else {
      const ca = csvRows(ta);
      const cb = csvRows(tb);
      columnsDiff(ca.header, cb.header, d, "column");
      if (ca.rows.length !== cb.rows.length) d.add(`${ca.rows.length} rows recorded, ${cb.rows.length} now`);
      else walkRows(ca.rows, cb.rows, "rows", d);
    }
  } catch (e) {
    return compareBytes(path, a, b, `not parseable as ${format} (${(e as Error).message})`);
  }
  return verdictOf(path, format, d, sizes);
}

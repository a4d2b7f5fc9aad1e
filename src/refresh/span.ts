/**
 * Moving the span: `dagbuild refresh --weeks N` extends every week-span axis of the pipeline
 * file (`axes: { week: { span: [first, last], step: week } }`) by N weeks. The span stays
 * configuration in the pipeline file, under version control: only the last Monday's scalar is
 * replaced in the text (comments, quoting and layout kept), the file is written atomically
 * (temp + rename) and the change is shown as a diff, so `git diff` shows what a refresh did.
 *
 * Every week axis moves together (`week` and `candle_week`, which runs one week longer for the
 * labels), so their offset is kept. Axes declared in include files are not moved (an error
 * names them): the span of record is the pipeline file's.
 *
 * `cache/refresh.json` (format `dagbuild.refresh`, version 1) keeps the history of refreshes
 * of this workspace: `{format, version, refreshes: [{at, weeks, file, axes: {name: [from, to]}}]}`,
 * newest last; `dagbuild status` prints the latest.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isMap, isScalar, isSeq, parseDocument } from "yaml";

const WEEK_MS = 7 * 86_400_000;

/** One moved span end. */
export interface SpanEdit {
  readonly axis: string;
  readonly from: string;
  readonly to: string;
  /** 1-based line of the edited scalar. */
  readonly line: number;
}

/** The refreshed text and what changed, or why it cannot be done (naming the file and field). */
export type SpanShift = { readonly ok: true; readonly text: string; readonly edits: readonly SpanEdit[] } | { readonly ok: false; readonly message: string };

function addWeeks(date: string, weeks: number): string | undefined {
  const t = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(t) || new Date(t).getUTCDay() !== 1) return undefined;
  return new Date(t + weeks * WEEK_MS).toISOString().slice(0, 10);
}

const lineOf = (text: string, offset: number) => text.slice(0, offset).split("\n").length;

/** Moves the last Monday of every `span` axis in `text` (the file `file`) by `weeks`. */
export function shiftSpans(text: string, file: string, weeks: number): SpanShift {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length) return { ok: false, message: `${file}: not valid YAML: ${doc.errors[0]!.message}` };
  const axes = doc.get("axes", true);
  if (!isMap(axes)) return { ok: false, message: `${file}: no \`axes:\` map: refresh moves the week span axes declared there` };
  const spots: { axis: string; start: number; end: number; from: string; to: string }[] = [];
  for (const pair of axes.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : "?";
    const decl = pair.value;
    if (!isMap(decl)) continue;
    const span = decl.get("span", true);
    if (!isSeq(span)) continue;
    const last = span.items[1];
    if (!isScalar(last) || !last.range || typeof last.value !== "string") return { ok: false, message: `${file}:${lineOf(text, span.range?.[0] ?? 0)}: axes.${name}.span[1] is not a date` };
    const to = addWeeks(last.value, weeks);
    if (!to) return { ok: false, message: `${file}:${lineOf(text, last.range[0])}: axes.${name}.span[1] "${last.value}" is not a Monday` };
    const src = text.slice(last.range[0], last.range[1]);
    if (!src.includes(last.value)) return { ok: false, message: `${file}:${lineOf(text, last.range[0])}: axes.${name}.span[1] is written in a form refresh cannot edit` };
    spots.push({ axis: name, start: last.range[0], end: last.range[1], from: last.value, to });
  }
  if (!spots.length) return { ok: false, message: `${file}: no axis under \`axes:\` has a \`span:\`: nothing to refresh` };
  let out = text;
  // Right to left, so earlier offsets stay valid.
  for (const s of [...spots].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + text.slice(s.start, s.end).replace(s.from, s.to) + out.slice(s.end);
  return { ok: true, text: out, edits: spots.map((s) => ({ axis: s.axis, from: s.from, to: s.to, line: lineOf(text, s.start) })) };
}

/** A line diff of the edited lines (`-` old, `+` new), with their line numbers. */
export function spanDiff(file: string, before: string, after: string): string {
  const a = before.split("\n");
  const b = after.split("\n");
  let s = `--- ${file}\n+++ ${file} (refreshed)\n`;
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) s += `@@ line ${i + 1}\n-${a[i] ?? ""}\n+${b[i] ?? ""}\n`;
  return s;
}

/** Writes `text` to `abs` atomically (temp + rename in the same directory), keeping its mode. */
export function writeAtomic(abs: string, text: string): void {
  const mode = statSync(abs).mode & 0o777;
  const tmp = join(dirname(abs), `.${process.pid}.refresh.tmp`);
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, abs);
}

export const REFRESH_FORMAT = "dagbuild.refresh";
export const REFRESH_VERSION = 1;

/** One refresh of the workspace. */
export interface RefreshEntry {
  readonly at: string;
  readonly weeks: number;
  readonly file: string;
  readonly axes: Readonly<Record<string, readonly [string, string]>>;
}

/** The history in `cache/refresh.json` (empty when absent or unreadable). */
export function readRefreshLog(cacheDir: string): RefreshEntry[] {
  try {
    const r = JSON.parse(readFileSync(join(cacheDir, "refresh.json"), "utf8"));
    return r?.format === REFRESH_FORMAT && r.version === REFRESH_VERSION && Array.isArray(r.refreshes) ? r.refreshes : [];
  } catch {
    return [];
  }
}

/** Appends one entry to `cache/refresh.json` (atomically). */
export function appendRefreshLog(cacheDir: string, entry: RefreshEntry): void {
  mkdirSync(cacheDir, { recursive: true });
  const refreshes = [...readRefreshLog(cacheDir), entry];
  const file = join(cacheDir, "refresh.json");
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ format: REFRESH_FORMAT, version: REFRESH_VERSION, refreshes }, null, 1) + "\n");
  renameSync(tmp, file);
}

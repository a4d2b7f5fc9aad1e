/**
 * `dagbuild metrics`: every model's and trial's metrics with their params, from files and
 * records only (nothing runs, nothing is hashed), and their difference from an earlier build.
 *
 * A row is one action whose directory output holds a dagbuild.ml_metrics `metrics.json` (ok)
 * or a dagbuild.trial_status `status.json` (failed / pruned), or an action with no output yet
 * (missing; `failed` when its log exists: it ran and left nothing) of a model rule or of a
 * target other actions of which hold metrics (the other trials of a sweep). Params and host
 * come from the action record of the outputs in place (cache/ac via the state index: what
 * they were built with), or from the pipeline when there is none.
 *
 * Earlier values (`diff REV`) come from:
 *   - `@prev`: each action's latest earlier action record in cache/ac (its outputs' blobs in the CAS);
 *   - `@<ISO time>`: each action's latest record built before that time;
 *   - anything else: a git revision of the workspace (`git cat-file --batch`, one process for all rows).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Graph } from "../../engine/graph-types.js";
import type { ActionRecord } from "../../engine/cache/action-cache.js";
import type { StateIndex } from "../../engine/cache/state-index.js";
import { ActionCache } from "../../engine/cache/action-cache.js";
import { safeName } from "../../engine/workspace.js";
import { at, shortMetrics, type TrialStatus } from "./ledger.js";

/** Format version of `dagbuild metrics --json` (and of `metrics diff --json`). */
export const METRICS_JSON_VERSION = 1;

/** Rules whose actions are models even before they have an output (missing rows). */
const MODEL_RULES = new Set(["rules/ml-model.ts", "rules/ml-gbm.ts", "rules/sweep-promote.ts"]);

/** One model or trial. */
export interface MetricsRow {
  readonly id: string;
  readonly target: string;
  /** Workspace-relative directory of the model. */
  readonly path: string;
  readonly status: TrialStatus | "missing";
  readonly params: Readonly<Record<string, unknown>>;
  /** Short metrics (METRIC_PATHS) plus `seconds` and `backend`. */
  readonly metrics: Readonly<Record<string, number | string>>;
  readonly host?: string;
  readonly built_at?: string;
  /** The parsed metrics.json, for dotted `--columns` (not in the JSON output). */
  readonly raw?: unknown;
}

/** Where the workspace keeps records. */
export interface Stores {
  readonly root: string;
  readonly ac: string;
  readonly cas: string;
  readonly logs: string;
  readonly state: StateIndex;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** The short metric values of a parsed metrics.json, with seconds and backend. */
export function rowMetrics(m: unknown): Record<string, number | string> {
  const out: Record<string, number | string> = shortMetrics(m);
  const s = at(m, "training.seconds");
  if (typeof s === "number") out.seconds = s;
  const b = at(m, "training.backend");
  if (typeof b === "string") out.backend = b;
  return out;
}

/** The model directory of an action: its first directory output. */
function modelDir(node: { outputs: Readonly<Record<string, { path: string; dir: boolean }>> }): string | undefined {
  for (const o of Object.values(node.outputs)) if (o.dir) return o.path;
  return undefined;
}

/** Collects the rows of `ids` (every action when undefined), in graph order. */
export function collectRows(graph: Graph, stores: Stores, ids?: readonly string[]): MetricsRow[] {
  const want = ids ? new Set(ids) : undefined;
  const ac = new ActionCache(stores.ac);
  const rows: MetricsRow[] = [];
  // Targets some action of which holds metrics: their other actions are missing or failed trials.
  const modelTargets = new Set<string>();
  for (const [target, tids] of graph.targets) {
    for (const id of tids) {
      const dir = modelDir(graph.actions.get(id)!);
      if (dir && (existsSync(join(stores.root, dir, "metrics.json")) || existsSync(join(stores.root, dir, "status.json")))) {
        modelTargets.add(target);
        break;
      }
    }
  }
  for (const id of graph.order) {
    if (want && !want.has(id)) continue;
    const node = graph.actions.get(id)!;
    const dir = modelDir(node);
    if (!dir) continue;
    const abs = join(stores.root, dir);
    const isModel = modelTargets.has(node.target) || (node.rule.kind === "module" && MODEL_RULES.has(node.rule.module));
    const mfile = join(abs, "metrics.json");
    const sfile = join(abs, "status.json");
    let status: MetricsRow["status"];
    let raw: unknown;
    let extra: Record<string, unknown> = {};
    if (existsSync(mfile)) {
      raw = readJson(mfile);
      if ((raw as { format?: unknown } | undefined)?.format !== "dagbuild.ml_metrics") continue;
      status = "ok";
    } else if (existsSync(sfile)) {
      const s = readJson(sfile) as { status?: string; error?: string } | undefined;
      status = s?.status === "pruned" ? "pruned" : "failed";
      extra = s?.error ? { error: s.error } : {};
    } else if (isModel) {
      status = existsSync(join(stores.logs, `${safeName(id)}.log`)) ? "failed" : "missing";
    } else continue;
    const st = stores.state.actions.get(id);
    const rec = st && status !== "missing" ? ac.get(st.k) : undefined;
    rows.push({
      id, target: node.target, path: dir, status,
      params: (rec?.material.params ?? node.params) as Record<string, unknown>,
      metrics: { ...(raw ? rowMetrics(raw) : {}), ...(extra as Record<string, string>) },
      ...(rec ? { host: rec.host, built_at: rec.built_at } : {}),
      ...(raw ? { raw } : {}),
    });
  }
  return rows;
}

/** Metric names that sort best-first when descending (higher is better). */
const HIGHER_BETTER = /auc|accuracy|precision|recall/;

/** Sorts rows by `key` (a metric, a param or a dotted metrics.json path); rows without it last. */
export function sortRows(rows: readonly MetricsRow[], key: string, ascending?: boolean): MetricsRow[] {
  const asc = ascending ?? !HIGHER_BETTER.test(key);
  const val = (r: MetricsRow) => cell(r, key);
  return [...rows].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    if (x === undefined || y === undefined) return x === undefined ? (y === undefined ? cmp(a.id, b.id) : 1) : -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : cmp(String(x), String(y));
    return c === 0 ? cmp(a.id, b.id) : asc ? c : -c;
  });
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A row's value of a column: a metric, a param, `status`/`host`, or a dotted metrics.json path. */
export function cell(r: MetricsRow, col: string): unknown {
  if (col === "id" || col === "status" || col === "host" || col === "target" || col === "path") return r[col];
  if (col in r.metrics) return r.metrics[col];
  if (col in r.params) return r.params[col];
  if (col.includes(".")) return at(r.raw, col);
  return undefined;
}

/** Default metric columns, in order. */
export const DEFAULT_METRICS = ["val_auc", "val_log_loss", "test_auc", "best_epoch", "seconds", "backend"];

/**
 * The columns to show: `--columns` as given, or the default metrics plus every param whose
 * value differs between the rows that have it (the swept ones). `onlyChanged` drops columns equal in every row.
 */
export function chooseColumns(rows: readonly MetricsRow[], columns: readonly string[] | undefined, onlyChanged: boolean): string[] {
  let cols: string[];
  // model and status are always the first two columns: asking for them again adds nothing.
  if (columns?.length) cols = [...new Set(columns)].filter((c) => c !== "status" && c !== "id");
  else {
    const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
    // Varying among the rows that have it: a param only one kind of model takes is not swept.
    const varying = params.filter((p) => new Set(rows.filter((r) => p in r.params).map((r) => JSON.stringify(r.params[p]))).size > 1);
    cols = [...varying, ...DEFAULT_METRICS];
  }
  if (onlyChanged && rows.length > 1) cols = cols.filter((c) => new Set(rows.map((r) => JSON.stringify(cell(r, c)))).size > 1);
  return cols;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A plain-text table: left-aligned text, right-aligned numbers. */
export function formatTable(header: readonly string[], body: readonly (readonly unknown[])[]): string {
  const text = body.map((r) => r.map(show));
  const num = header.map((_, j) => body.length > 0 && body.every((r) => typeof r[j] === "number" || r[j] === undefined || r[j] === null));
  const w = header.map((h, j) => Math.max(h.length, ...text.map((r) => r[j]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, j) => (num[j] ? c.padStart(w[j]!) : c.padEnd(w[j]!))).join("  ").trimEnd();
  return [line(header), ...text.map(line)].join("\n") + "\n";
}

/** The `dagbuild metrics` table. */
export function metricsTable(rows: readonly MetricsRow[], cols: readonly string[]): string {
  return formatTable(["model", "status", ...cols], rows.map((r) => [r.id, r.status, ...cols.map((c) => cell(r, c))]));
}

/** `--json` rows: everything but the raw metrics file (dotted columns are added as values). */
export function jsonRows(rows: readonly MetricsRow[], cols: readonly string[]): unknown[] {
  return rows.map((r) => {
    const { raw: _raw, ...rest } = r;
    const dotted = cols.filter((c) => c.includes(".") && !(c in r.metrics));
    return dotted.length ? { ...rest, columns: Object.fromEntries(dotted.map((c) => [c, cell(r, c) ?? null])) } : rest;
  });
}

// ---- diff -------------------------------------------------------------------------------------

/** One row's earlier values. */
export interface Earlier {
  readonly metrics: Readonly<Record<string, number | string>>;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly raw?: unknown;
  /** Where they came from (a record key and time, or `git REV`). */
  readonly from: string;
}

/** A diff line: one row, one column, old and new. */
export interface DiffLine {
  readonly id: string;
  readonly column: string;
  readonly old: unknown;
  readonly new: unknown;
  /** new - old for numbers; null otherwise. */
  readonly change: number | null;
}

/** A REV that cannot be read. */
export class MetricsRevError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetricsRevError";
  }
}

/** Every action record in cache/ac, by action id (newest first). Read once per diff. */
function recordsById(acDir: string): Map<string, ActionRecord[]> {
  const out = new Map<string, ActionRecord[]>();
  if (!existsSync(acDir)) return out;
  for (const sub of readdirSync(acDir)) {
    const d = join(acDir, sub);
    if (!statSync(d).isDirectory()) continue;
    for (const f of readdirSync(d)) {
      if (!f.endsWith(".json")) continue;
      const rec = readJson(join(d, f)) as ActionRecord | undefined;
      if (!rec || typeof rec.id !== "string") continue;
      const list = out.get(rec.id) ?? [];
      list.push(rec);
      out.set(rec.id, list);
    }
  }
  for (const list of out.values()) list.sort((a, b) => cmp(b.built_at, a.built_at));
  return out;
}

/** metrics.json of a recorded directory output, read from its CAS blob. */
function recordedMetrics(rec: ActionRecord, dir: string, casDir: string): unknown {
  const out = Object.values(rec.outputs).find((o) => o.path === dir);
  const e = out?.tree?.find((t) => t.rel === "metrics.json");
  return e ? readJson(join(casDir, e.digest.slice(0, 2), e.digest)) : undefined;
}

/** The earlier values of `rows` under `rev` (rows with none are left out). */
export function earlierValues(rows: readonly MetricsRow[], rev: string, stores: Stores): Map<string, Earlier> {
  const out = new Map<string, Earlier>();
  if (rev.startsWith("@")) {
    const spec = rev.slice(1);
    const before = spec === "prev" || spec === "cache" ? undefined : Date.parse(spec);
    if (before !== undefined && Number.isNaN(before)) throw new MetricsRevError(`REV ${rev}: expected @prev or @<ISO time> (e.g. @2026-12-01T20:00Z), or a git revision`);
    const byId = recordsById(stores.ac);
    for (const r of rows) {
      const current = stores.state.actions.get(r.id)?.k;
      const list = byId.get(r.id) ?? [];
      const rec = list.find((x) => (before === undefined ? x.key !== current && (r.built_at === undefined || x.built_at <= r.built_at) : Date.parse(x.built_at) < before));
      if (!rec) continue;
      const raw = recordedMetrics(rec, r.path, stores.cas);
      out.set(r.id, { metrics: raw ? rowMetrics(raw) : {}, params: rec.material.params as Record<string, unknown>, raw, from: `record ${rec.key.slice(0, 12)} (${rec.built_at})` });
    }
    return out;
  }
  // A git revision: every metrics.json in one `git cat-file --batch`.
  const check = spawnSync("git", ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`], { cwd: stores.root, encoding: "utf8" });
  if (check.status !== 0) throw new MetricsRevError(`REV ${rev}: not a git revision of ${stores.root}${check.stderr ? ` (${check.stderr.trim()})` : ""}`);
  const prefix = spawnSync("git", ["rev-parse", "--show-prefix"], { cwd: stores.root, encoding: "utf8" }).stdout.trim();
  const input = rows.map((r) => `${rev}:${prefix}${r.path}/metrics.json\n`).join("");
  const res = spawnSync("git", ["cat-file", "--batch"], { cwd: stores.root, input, maxBuffer: 1 << 30 });
  const buf = res.stdout;
  let pos = 0;
  for (const r of rows) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) break;
    const head = buf.subarray(pos, nl).toString();
    pos = nl + 1;
    const m = /^[0-9a-f]+ blob (\d+)$/.exec(head);
    if (!m) continue; // "<name> missing": not in that revision
    const size = Number(m[1]);
    const text = buf.subarray(pos, pos + size).toString();
    pos += size + 1;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      continue;
    }
    out.set(r.id, { metrics: rowMetrics(raw), raw, from: `git ${rev}` });
  }
  return out;
}

/** Diff lines of `cols` (plus changed params when the earlier side has them). */
export function diffLines(rows: readonly MetricsRow[], earlier: ReadonlyMap<string, Earlier>, cols: readonly string[], onlyChanged: boolean): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const r of rows) {
    const e = earlier.get(r.id);
    const old: MetricsRow = { ...r, metrics: e?.metrics ?? {}, params: e?.params ?? {}, ...(e?.raw ? { raw: e.raw } : { raw: undefined }) };
    const paramCols = e?.params ? [...new Set([...Object.keys(r.params), ...Object.keys(e.params)])].sort().filter((k) => JSON.stringify(r.params[k]) !== JSON.stringify(e.params![k])) : [];
    for (const c of [...paramCols.map((p) => `params.${p}`), ...cols.filter((c) => !paramCols.includes(c))]) {
      const isParam = c.startsWith("params.") && paramCols.includes(c.slice(7));
      const nv = isParam ? r.params[c.slice(7)] : cell(r, c);
      const ov = e ? (isParam ? e.params![c.slice(7)] : cell(old, c)) : undefined;
      const same = JSON.stringify(nv) === JSON.stringify(ov);
      if (onlyChanged && same) continue;
      lines.push({ id: r.id, column: c, old: ov ?? null, new: nv ?? null, change: typeof nv === "number" && typeof ov === "number" ? Number((nv - ov).toPrecision(6)) : null });
    }
  }
  return lines;
}

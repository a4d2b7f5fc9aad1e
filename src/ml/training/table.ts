/**
 * The feature builder's SQL side (DuckDB): selects the rows, assigns splits and purges,
 * decides the feature columns, fits the normaliser on training rows only, and writes the
 * split parquets. The rows come back to JS only as a dense float32 matrix for the windows.
 *
 * Row order everywhere is run_mode, instrument, ts_ms (a total order: the corpus key within
 * one source), so a window's `row` index and the parquet's row order agree.
 */
import type { DuckDBConnection } from "../../io/duckdb.js";
import { DETERMINISTIC_PARQUET, sqlString } from "../../io/duckdb.js";
import type { Categorical, TrainingParams } from "./params.js";
import { rowMajor, SERIES_ID_SQL } from "../columns.js";
import { perSplit, SPLIT_NAMES, type SplitName, type WeekSplits } from "./splits.js";

/** Format version of the split parquets (key-value metadata `dagbuild_training_version`). */
export const TRAINING_TABLE_VERSION = 1;

/** A corpus that cannot give the requested data. */
export class TrainingDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingDataError";
  }
}

/** One model input column: its SQL source and how it is scaled. */
export interface FeatureColumn {
  readonly name: string;
  readonly kind: "numeric" | "onehot";
  /** SQL expression over the base table (DOUBLE). */
  readonly sql: string;
  /** Normaliser: value' = (value - center) / scale; missing → 0 (the training center). */
  center: number;
  scale: number;
}

/** Features dropped, with why. */
export interface DroppedColumn {
  readonly name: string;
  readonly why: "all_null" | "constant" | "duplicate";
  readonly of?: string;
}

const ORDER = "run_mode, instrument, ts_ms";

/** Numeric candidates, in corpus column order: structure_*, canonical_*, and the named others. */
function numericCandidates(cols: ReadonlyMap<string, string>, bitplanes: boolean): { name: string; sql: string }[] {
  const out: { name: string; sql: string }[] = [];
  const others = new Set(["regime_confidence", "hazard", "repetitions", "session_asia", "session_london", "session_new_york", "roc_prev_pct"]);
  for (const [c, type] of cols) {
    const numeric = /^(DOUBLE|FLOAT|INTEGER|BIGINT|SMALLINT|TINYINT|BOOLEAN|UTINYINT|USMALLINT|UINTEGER)$/.test(type);
    if (numeric && (/^(structure|canonical)_/.test(c) || others.has(c))) out.push({ name: c, sql: `CAST("${c}" AS DOUBLE)` });
  }
  if (bitplanes) {
    const bp = [...cols.keys()].filter((c) => c.startsWith("bitplane_"));
    if (bp.length === 0) throw new TrainingDataError('param "bitplanes": the corpus has no bitplane_* columns (build the corpus with decode_bitplanes: true)');
    for (const c of bp) for (let i = 1; i <= 64; i++) out.push({ name: `${c}_${String(i - 1).padStart(2, "0")}`, sql: `CAST("${c}"[${i}] AS DOUBLE)` });
  }
  return out;
}

/** Loads the selected rows into table `base`; returns the corpus columns and the count of rows dropped for an incomplete label. */
export async function loadBase(conn: DuckDBConnection, corpus: string, p: TrainingParams): Promise<{ cols: Map<string, string>; rows: number; incomplete: number }> {
  await conn.run(`CREATE VIEW corpus AS SELECT * FROM read_parquet(${sqlString(corpus)})`);
  const cols = new Map((await conn.runAndReadAll("SELECT column_name, column_type FROM (DESCRIBE corpus)")).getRows().map((r) => [String(r[0]), String(r[1])]));
  const fwd = `roc_forward_pct_${p.horizon}`;
  for (const need of ["instrument", "ts", "ts_ms", "run_mode", "week", "source", "hazard", fwd, ...p.onehot, ...p.codes]) {
    if (!cols.has(need)) throw new TrainingDataError(`corpus ${corpus} has no column "${need}"`);
  }
  const where = [
    `run_mode IN (${p.run_mode.map(sqlString).join(", ")})`,
    p.source ? `source = ${sqlString(p.source)}` : "source NOT LIKE 'legacy%'",
  ].join(" AND ");
  await conn.run(`CREATE TABLE sel AS SELECT * FROM corpus WHERE ${where}`);
  const [[total, incomplete]] = (await conn.runAndReadAll(`SELECT count(*), count(*) FILTER (WHERE "${fwd}" IS NULL) FROM sel`)).getRows() as [[bigint, bigint]];
  if (Number(total) === 0) throw new TrainingDataError(`corpus ${corpus} has no rows for run_mode ${p.run_mode.join(",")} and ${p.source ? `source ${p.source}` : "non-legacy sources"}`);
  await conn.run(`CREATE TABLE base AS SELECT * FROM sel WHERE "${fwd}" IS NOT NULL`);
  return { cols, rows: Number(total) - Number(incomplete), incomplete: Number(incomplete) };
}

/** Distinct weeks of the base table, sorted. */
export async function baseWeeks(conn: DuckDBConnection): Promise<string[]> {
  return (await conn.runAndReadAll("SELECT DISTINCT week FROM base ORDER BY week")).getRows().map((r) => String(r[0]));
}

/**
 * Adds the split (0/1/2, NULL outside every split), the purge flag and the per-split row
 * index to table `t`. Returns per split the kept and purged row counts.
 */
export async function assignSplits(conn: DuckDBConnection, s: WeekSplits, limits: Record<SplitName, number>, purgeMs: number): Promise<Record<SplitName, { rows: number; purged: number }>> {
  const cases = SPLIT_NAMES.flatMap((k, i) => s[k].map((w) => `WHEN ${sqlString(w)} THEN ${i}`)).join(" ");
  const lim = `CASE split WHEN 0 THEN ${limits.train} WHEN 1 THEN ${limits.validation} ELSE 9e18 END`;
  await conn.run(`CREATE TABLE s1 AS SELECT *, CAST(CASE week ${cases} ELSE NULL END AS TINYINT) AS split FROM base`);
  await conn.run(`CREATE TABLE t AS SELECT *, (split IS NOT NULL AND CAST(ts_ms AS DOUBLE) + ${purgeMs} >= ${lim}) AS purged FROM s1`);
  await conn.run(
    `CREATE TABLE t2 AS SELECT *, CASE WHEN split IS NULL OR purged THEN -1 ELSE row_number() OVER (PARTITION BY split, purged ORDER BY ${ORDER}) - 1 END AS split_row FROM t`,
  );
  const rows = (await conn.runAndReadAll("SELECT split, count(*) FILTER (WHERE NOT purged), count(*) FILTER (WHERE purged) FROM t2 WHERE split IS NOT NULL GROUP BY split")).getRows();
  const out = perSplit(() => ({ rows: 0, purged: 0 }));
  for (const [k, kept, purged] of rows) out[SPLIT_NAMES[Number(k)]!] = { rows: Number(kept), purged: Number(purged) };
  return out;
}

const TRAIN = "split = 0 AND NOT purged";

/** Vocabulary of a categorical over the training rows (sorted text). */
async function vocabulary(conn: DuckDBConnection, c: Categorical): Promise<string[]> {
  return (await conn.runAndReadAll(`SELECT DISTINCT CAST("${c}" AS VARCHAR) v FROM t2 WHERE ${TRAIN} AND "${c}" IS NOT NULL ORDER BY v`)).getRows().map((r) => String(r[0]));
}

/** The feature columns, the dropped ones, and the code vocabularies: all decided on training rows. */
export async function chooseFeatures(
  conn: DuckDBConnection,
  cols: ReadonlyMap<string, string>,
  p: TrainingParams,
): Promise<{ features: FeatureColumn[]; dropped: DroppedColumn[]; codes: Record<string, string[]>; onehot: Record<string, string[]> }> {
  const cands: FeatureColumn[] = numericCandidates(cols, p.bitplanes).map((c) => ({ ...c, kind: "numeric", center: 0, scale: 1 }));
  const onehot: Record<string, string[]> = {};
  for (const c of p.onehot) {
    onehot[c] = await vocabulary(conn, c);
    for (const v of onehot[c]!) cands.push({ name: `${c}=${v}`, kind: "onehot", sql: `CAST(CAST("${c}" AS VARCHAR) = ${sqlString(v)} AS DOUBLE)`, center: 0, scale: 1 });
  }
  const codes: Record<string, string[]> = {};
  for (const c of p.codes) codes[c] = await vocabulary(conn, c);
  await conn.run(`CREATE TABLE tr AS SELECT ${cands.map((c, i) => `${c.sql} AS f${i}`).join(", ")} FROM t2 WHERE ${TRAIN}`);
  const stats = (await conn.runAndReadAll(`SELECT ${cands.map((_, i) => `count(f${i}), min(f${i}), max(f${i})`).join(", ")} FROM tr`)).getRows()[0]!;
  const dropped: DroppedColumn[] = [];
  const kept: number[] = [];
  cands.forEach((c, i) => {
    const [n, lo, hi] = [Number(stats[3 * i]), stats[3 * i + 1], stats[3 * i + 2]];
    if (n === 0) dropped.push({ name: c.name, why: "all_null" });
    else if (lo === hi) dropped.push({ name: c.name, why: "constant" });
    else kept.push(i);
  });
  // Exact duplicates of an earlier kept column (hazard = structure_rupture, say) carry nothing new.
  const unique: number[] = [];
  if (kept.length) {
    const pairs = kept.flatMap((i, a) => kept.slice(0, a).map((j) => [i, j] as const));
    const same = pairs.length
      ? (await conn.runAndReadAll(`SELECT ${pairs.map(([i, j]) => `bool_and(f${i} IS NOT DISTINCT FROM f${j})`).join(", ")} FROM tr`)).getRows()[0]!
      : [];
    const dupOf = new Map<number, number>();
    pairs.forEach(([i, j], k) => {
      if (same[k] === true && !dupOf.has(i) && !dupOf.has(j)) dupOf.set(i, j);
    });
    for (const i of kept) {
      const j = dupOf.get(i);
      if (j !== undefined) dropped.push({ name: cands[i]!.name, why: "duplicate", of: cands[j]!.name });
      else unique.push(i);
    }
  }
  if (unique.length === 0) throw new TrainingDataError("no feature has two distinct values in the training weeks");
  await fitNormaliser(conn, cands, unique, p.normalise);
  return { features: unique.map((i) => cands[i]!), dropped, codes, onehot };
}

/** z-score (mean, population stdev) or robust (median, IQR/1.349) per numeric feature, on training rows. */
async function fitNormaliser(conn: DuckDBConnection, cands: FeatureColumn[], idx: readonly number[], how: "zscore" | "robust"): Promise<void> {
  const num = idx.filter((i) => cands[i]!.kind === "numeric");
  if (!num.length) return;
  const agg = num.map((i) =>
    how === "zscore" ? `avg(f${i}), stddev_pop(f${i})` : `median(f${i}), (quantile_cont(f${i}, 0.75) - quantile_cont(f${i}, 0.25)) / 1.349`,
  );
  const row = (await conn.runAndReadAll(`SELECT ${agg.join(", ")} FROM tr`)).getRows()[0]!;
  num.forEach((i, k) => {
    const c = cands[i]!;
    c.center = Number(row[2 * k]);
    const s = Number(row[2 * k + 1]);
    // A robust scale of 0 (over half the rows equal) falls back to the stdev's role: 1.
    c.scale = s > 0 && Number.isFinite(s) ? s : 1;
  });
}

function normalisedSql(f: FeatureColumn): string {
  return `CAST(COALESCE((${f.sql} - ${f.center}) / ${f.scale}, 0) AS FLOAT)`;
}

function codeSql(c: string, vocab: readonly string[]): string {
  const cases = vocab.map((v, i) => `WHEN ${sqlString(v)} THEN ${i}`).join(" ");
  return `CAST(CASE CAST("${c}" AS VARCHAR) ${cases} ELSE ${vocab.length} END AS INTEGER) AS "code_${c}"`;
}

/** Writes `{split}.parquet`: keys, normalised features, codes, labels and the raw hazard (for the heuristic). */
export async function writeSplitParquets(
  conn: DuckDBConnection,
  features: readonly FeatureColumn[],
  codes: Record<string, string[]>,
  p: TrainingParams,
  path: (s: SplitName) => string,
): Promise<void> {
  const fwd = `roc_forward_pct_${p.horizon}`;
  const select = [
    "instrument", "ts", "ts_ms", "run_mode", "week",
    ...features.map((f) => `${normalisedSql(f)} AS "${f.name}"`),
    ...Object.entries(codes).map(([c, v]) => codeSql(c, v)),
    `CAST("${fwd}" > 0 AS UTINYINT) AS y_sign`,
    `CAST("${fwd}" * 100 AS FLOAT) AS y_mag`,
    "CAST(hazard AS DOUBLE) AS hazard_raw",
  ].join(", ");
  const opts = DETERMINISTIC_PARQUET.replace(/\)$/, `, KV_METADATA {dagbuild_training_version: '${TRAINING_TABLE_VERSION}'})`);
  for (const [i, s] of SPLIT_NAMES.entries()) {
    await conn.run(`COPY (SELECT ${select} FROM t2 WHERE split = ${i} AND NOT purged ORDER BY ${ORDER}) TO ${sqlString(path(s))} ${opts}`);
  }
}

/** Every row of `t2` in series order, as the windowing and the tensors need it. */
export interface DenseRows {
  readonly n: number;
  readonly F: number;
  readonly features: Float32Array;
  readonly series: Int32Array;
  readonly ts_ms: Float64Array;
  readonly split: Int8Array;
  readonly splitRow: Int32Array;
  readonly ySign: Uint8Array;
  readonly yMag: Float32Array;
}

/** Reads the normalised matrix and the row facts of `t2`, in series order. */
export async function readDense(conn: DuckDBConnection, features: readonly FeatureColumn[], p: TrainingParams): Promise<DenseRows> {
  const fwd = `roc_forward_pct_${p.horizon}`;
  const sel = [
    SERIES_ID_SQL,
    "CAST(ts_ms AS DOUBLE)",
    "CAST(COALESCE(split, -1) AS INTEGER)",
    "CAST(split_row AS INTEGER)",
    `CAST("${fwd}" > 0 AS INTEGER)`,
    `CAST("${fwd}" * 100 AS FLOAT)`,
    ...features.map(normalisedSql),
  ].join(", ");
  const cols = (await conn.runAndReadAll(`SELECT ${sel} FROM t2 ORDER BY ${ORDER}`)).getColumns();
  const F = features.length;
  return {
    n: cols[0]!.length,
    F,
    features: rowMajor(cols, 6, F),
    series: Int32Array.from(cols[0]!, Number),
    ts_ms: Float64Array.from(cols[1]!, Number),
    split: Int8Array.from(cols[2]!, Number),
    splitRow: Int32Array.from(cols[3]!, Number),
    ySign: Uint8Array.from(cols[4]!, Number),
    yMag: Float32Array.from(cols[5]!, Number),
  };
}

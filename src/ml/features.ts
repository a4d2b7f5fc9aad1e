/**
 * Per-gate tabular features for the baselines, read from the corpus parquet, and the
 * week-based split (never random rows: neighbouring gates overlap by 48 of 64 candles, so a
 * row split would leak the test set into training).
 */
import { sqlString, withDuckDb } from "../io/duckdb.js";

/** Candidate feature columns, in a fixed order; those absent from the corpus are skipped. */
export const CANDIDATE_FEATURES = [
  "structure_coherence",
  "structure_stability",
  "structure_entropy",
  "structure_coherence_tau_1",
  "structure_coherence_tau_4",
  "structure_coherence_tau_slope",
  "structure_domain_wall_slope",
  "structure_spectral_lowf_share",
  "structure_reynolds_ratio",
  "structure_temporal_half_life",
  "structure_spatial_corr_length",
  "canonical_realized_vol",
  "canonical_atr_mean",
  "canonical_autocorr",
  "canonical_trend_strength",
  "canonical_volume_zscore",
  "regime_confidence",
  "hazard",
  "repetitions",
  "session_asia",
  "session_london",
  "session_new_york",
  "roc_prev_pct",
] as const;

/** A dense feature table (row-major float32, NaN = missing) with per-row week and labels. */
export interface TabularData {
  readonly features: string[];
  readonly rows: number;
  readonly X: Float32Array;
  readonly week: string[];
  /** Gate time (ms since epoch, UTC) per row: purging needs it. */
  readonly ts_ms: Float64Array;
  readonly hazard: Float64Array;
  /** Forward return (percent) per horizon, per row. */
  readonly forward: Record<string, Float64Array>;
}

/** A corpus that lacks what the baseline needs. */
export class FeatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FeatureError";
  }
}

/**
 * Loads rows of one run mode with complete labels, ordered by week, instrument, ts_ms
 * (a total order, so everything downstream is deterministic).
 */
export async function loadTabular(
  paths: readonly string[],
  opts: { run_mode: string; horizons: readonly number[]; source?: string },
): Promise<TabularData> {
  const list = `[${paths.map(sqlString).join(", ")}]`;
  return withDuckDb(async (conn) => {
    await conn.run(`CREATE VIEW c AS SELECT * FROM read_parquet(${list}, union_by_name = true)`);
    const have = new Set((await conn.runAndReadAll("SELECT column_name FROM (DESCRIBE c)")).getRows().map((r) => String(r[0])));
    for (const need of ["week", "run_mode", "label_complete", "hazard", "instrument", "ts_ms", ...opts.horizons.map((h) => `roc_forward_pct_${h}`)]) {
      if (!have.has(need)) throw new FeatureError(`corpus ${paths.join(", ")} has no column "${need}"`);
    }
    const features = CANDIDATE_FEATURES.filter((f) => have.has(f));
    const fwd = opts.horizons.map((h) => `roc_forward_pct_${h}`);
    const sel = [...features.map((f) => `CAST("${f}" AS DOUBLE)`), "week", "hazard", "CAST(ts_ms AS DOUBLE)", ...fwd].join(", ");
    const r = await conn.runAndReadAll(
      // One source only: a merged legacy export repeats the same gates (with the legacy
      // engine's truncated labels); by default every source but legacy ones.
      `SELECT ${sel} FROM c WHERE run_mode = ${sqlString(opts.run_mode)} AND ${opts.source ? `source = ${sqlString(opts.source)}` : "source NOT LIKE 'legacy%'"} AND label_complete AND ${fwd.map((f) => `${f} IS NOT NULL`).join(" AND ")}
       ORDER BY week, instrument, ts_ms`,
    );
    const rows = r.getRows();
    const nf = features.length;
    const X = new Float32Array(rows.length * nf);
    const week: string[] = [];
    const hazard = new Float64Array(rows.length);
    const ts = new Float64Array(rows.length);
    const forward: Record<string, Float64Array> = {};
    for (const h of opts.horizons) forward[String(h)] = new Float64Array(rows.length);
    rows.forEach((row, i) => {
      for (let j = 0; j < nf; j++) {
        const v = row[j];
        X[i * nf + j] = v === null ? Number.NaN : Number(v);
      }
      week.push(String(row[nf]));
      hazard[i] = Number(row[nf + 1]);
      ts[i] = Number(row[nf + 2]);
      opts.horizons.forEach((h, k) => (forward[String(h)]![i] = Number(row[nf + 3 + k])));
    });
    return { features, rows: rows.length, X, week, ts_ms: ts, hazard, forward };
  });
}

/** The weeks of each split. */
export interface WeekSplit {
  readonly train: string[];
  readonly validation: string[];
  readonly test: string[];
}

/** First 60% / next 20% / last 20% of the sorted distinct weeks (at least one week each). */
export function splitWeeks(weeks: readonly string[]): WeekSplit {
  const w = [...new Set(weeks)].sort();
  if (w.length < 3) throw new FeatureError(`need at least 3 weeks with complete labels for a train/validation/test split, have ${w.length}`);
  const nTrain = Math.max(1, Math.min(w.length - 2, Math.round(w.length * 0.6)));
  const nVal = Math.max(1, Math.min(w.length - nTrain - 1, Math.round(w.length * 0.8) - nTrain));
  return { train: w.slice(0, nTrain), validation: w.slice(nTrain, nTrain + nVal), test: w.slice(nTrain + nVal) };
}

/**
 * Row indices per split (in data order). Purged: a training (validation) row whose label
 * horizon `purgeMs` reaches the first week of the next split is dropped, so no label of one
 * split is computed from prices that another split's features or labels see.
 */
export function splitRows(
  data: TabularData,
  split: WeekSplit,
  purgeMs = 0,
): { train: number[]; validation: number[]; test: number[]; purged: { train: number; validation: number } } {
  const of = new Map<string, "train" | "validation" | "test">();
  for (const k of ["train", "validation", "test"] as const) for (const w of split[k]) of.set(w, k);
  const startOf = (week: string | undefined) => (week === undefined ? Infinity : Date.parse(`${week}T00:00:00Z`));
  const limit = { train: startOf(split.validation[0]), validation: startOf(split.test[0]), test: Infinity };
  const out = { train: [] as number[], validation: [] as number[], test: [] as number[], purged: { train: 0, validation: 0 } };
  data.week.forEach((w, i) => {
    const k = of.get(w)!;
    if (k !== "test" && data.ts_ms[i]! + purgeMs >= limit[k]) out.purged[k]++;
    else out[k].push(i);
  });
  return out;
}

/** Gathers rows (and optionally a subset of feature columns) into a new row-major matrix. */
export function takeRows(data: TabularData, rows: readonly number[], cols: readonly number[]): Float32Array {
  const nf = data.features.length;
  const out = new Float32Array(rows.length * cols.length);
  rows.forEach((r, i) => cols.forEach((c, j) => (out[i * cols.length + j] = data.X[r * nf + c]!)));
  return out;
}

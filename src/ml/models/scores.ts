/**
 * Scores of one model on every gate of the validation and test weeks, as
 * `output/ml_scores/<name>.parquet` (format `dagbuild.ml_scores` version 1 in the key-value
 * metadata): instrument, ts, ts_ms, run_mode, week, split, backtest, score (the probability
 * that the forward return is > 0; NULL where the gate has too little history for a window),
 * model, model_digest. `backtest` marks the rows of features.json's backtest weeks; only the
 * rows of the split parquets are scored; the feature builder refuses a backtest week outside
 * the test split (src/ml/training/splits.ts), and the backtest rule one absent from the scores.
 *
 * Sequence models are scored by ONNX Runtime from model.onnx, on windows ending at each gate.
 * A window may reach back into an earlier split's rows: those are past features, not labels,
 * and scoring (unlike training) must cover the first gates of a split too. It never crosses a
 * series or a gap longer than the builder's max_gap. The GBM is scored by XGBoost.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256 } from "../../engine/hash.js";
import { sqlString, withDuckDb, DETERMINISTIC_PARQUET } from "../../io/duckdb.js";
import { rowMajor, SERIES_ID_SQL, sqlIdent } from "../columns.js";
import { createScorer } from "../onnx/score.js";
import { Booster, DMatrix } from "../xgboost.js";
import { readModelConfig, type NormalisedFeature } from "./formats.js";
import { readSummary, TrainingSetError } from "./training-set.js";

/** Format version of the scores parquet. */
export const SCORES_FORMAT_VERSION = 1;

interface Rows {
  readonly n: number;
  readonly X: Float32Array;
  readonly series: Int32Array;
  readonly ts: Float64Array;
  readonly scored: Uint8Array;
}

const SCORED = ["validation", "test"] as const;

async function loadRows(dir: string, features: readonly string[], conn: import("../../io/duckdb.js").DuckDBConnection): Promise<Rows> {
  const q = (s: string) => `SELECT *, ${sqlString(s)} AS split FROM read_parquet(${sqlString(join(dir, `${s}.parquet`))})`;
  await conn.run(`CREATE TABLE r AS SELECT * FROM (${q("train")} UNION ALL ${q("validation")} UNION ALL ${q("test")}) ORDER BY run_mode, instrument, ts_ms`);
  const sel = [SERIES_ID_SQL, "CAST(ts_ms AS DOUBLE)", "CAST(split <> 'train' AS INTEGER)", ...features.map(sqlIdent)];
  const cols = (await conn.runAndReadAll(`SELECT ${sel.join(", ")} FROM r ORDER BY run_mode, instrument, ts_ms`)).getColumns();
  return { n: cols[0]!.length, X: rowMajor(cols, 3, features.length), series: Int32Array.from(cols[0]!, Number), ts: Float64Array.from(cols[1]!, Number), scored: Uint8Array.from(cols[2]!, Number) };
}

/** Probabilities from ONNX Runtime for every scored row with a full window (NaN otherwise). */
async function scoreSequence(onnx: string, rows: Rows, L: number, F: number, maxGapMs: number): Promise<Float64Array> {
  const out = new Float64Array(rows.n).fill(Number.NaN);
  const ends: number[] = [];
  let runStart = 0;
  for (let i = 0; i < rows.n; i++) {
    if (i > 0 && (rows.series[i] !== rows.series[i - 1] || rows.ts[i]! - rows.ts[i - 1]! > maxGapMs)) runStart = i;
    if (rows.scored[i] && i - L + 1 >= runStart) ends.push(i);
  }
  const scorer = await createScorer(onnx);
  try {
    const B = 4096;
    for (let at = 0; at < ends.length; at += B) {
      const e = ends.slice(at, at + B);
      const X = new Float32Array(e.length * L * F);
      e.forEach((end, w) => X.set(rows.X.subarray((end - L + 1) * F, (end + 1) * F), w * L * F));
      const s = await scorer.score(X, e.length, L, F);
      e.forEach((end, w) => (out[end] = s.sign[w]!));
    }
  } finally {
    await scorer.close();
  }
  return out;
}

function scoreGbm(model: string, rows: Rows, F: number): Float64Array {
  const booster = Booster.load(model);
  const dm = new DMatrix(rows.X, rows.n, F);
  try {
    const p = booster.predict(dm);
    return Float64Array.from(p, (v, i) => (rows.scored[i] ? v : Number.NaN));
  } finally {
    dm.free();
    booster.free();
  }
}

/**
 * Maps values normalised by the training data's fit (`from`) to the fit the model was trained
 * under (`to`), in place: raw = x * from.scale + from.center, x' = (raw - to.center) / to.scale.
 * The same fit (every model trained on this training data) changes nothing. A model held by
 * `retrain_every` meets a newer fit (the training weeks moved) and must see its own scaling.
 * A missing value was written as the newer center (0), so it maps to that center, not to the
 * model's: the two centers are both means (or medians) of overlapping training weeks.
 */
export function renormalise(X: Float32Array, from: readonly NormalisedFeature[], to: readonly NormalisedFeature[]): void {
  const F = to.length;
  for (let f = 0; f < F; f++) {
    const a = from[f]!, b = to[f]!;
    if (a.center === b.center && a.scale === b.scale) continue;
    const mul = a.scale / b.scale, add = (a.center - b.center) / b.scale;
    for (let i = f; i < X.length; i += F) X[i] = X[i]! * mul + add;
  }
}

/** Writes the scores parquet of the model in `modelDir`; returns the rows scored and unscored. */
export async function writeScores(opts: { name: string; modelDir: string; trainingDir: string; out: string }): Promise<{ scored: number; unscored: number; digest: string }> {
  const summary = await readSummary(opts.trainingDir);
  const config = await readModelConfig(opts.modelDir);
  if (JSON.stringify(config.features) !== JSON.stringify(summary.features.map((f) => f.name)))
    throw new TrainingSetError(`${opts.modelDir}/config.json: the model's features differ from ${opts.trainingDir}/features.json (retrain the model)`);
  const gbm = config.kind === "xgboost";
  const file = join(opts.modelDir, gbm ? "model.json" : "model.onnx");
  const digest = sha256(await readFile(file));
  const F = config.features.length;
  return withDuckDb(async (conn) => {
    const rows = await loadRows(opts.trainingDir, config.features, conn);
    if (config.normaliser) renormalise(rows.X, summary.features, config.normaliser);
    const score = gbm ? scoreGbm(file, rows, F) : await scoreSequence(file, rows, config.seqLen!, F, summary.params.max_gap_min * 60_000);
    await conn.run("CREATE TABLE sc (i INTEGER, score DOUBLE)");
    const app = await conn.createAppender("sc");
    for (let i = 0; i < rows.n; i++) {
      if (!rows.scored[i]) continue;
      app.appendInteger(i);
      if (Number.isNaN(score[i]!)) app.appendNull();
      else app.appendDouble(score[i]!);
      app.endRow();
    }
    app.closeSync();
    const bt = summary.splits.backtest.map(sqlString).join(", ") || "NULL";
    const opts2 = DETERMINISTIC_PARQUET.replace(/\)$/, `, KV_METADATA {format: 'dagbuild.ml_scores', version: '${SCORES_FORMAT_VERSION}'})`);
    await conn.run(
      `COPY (SELECT instrument, ts, ts_ms, run_mode, week, split, week IN (${bt}) AS backtest, score, ${sqlString(opts.name)} AS model, ${sqlString(digest)} AS model_digest
             FROM (SELECT *, CAST(row_number() OVER (ORDER BY run_mode, instrument, ts_ms) - 1 AS INTEGER) AS i FROM r) JOIN sc USING (i)
             WHERE split IN (${SCORED.map(sqlString).join(", ")}) ORDER BY run_mode, instrument, ts_ms) TO ${sqlString(opts.out)} ${opts2}`,
    );
    const unscored = score.reduce((a, v, i) => a + (rows.scored[i] && Number.isNaN(v) ? 1 : 0), 0);
    const total = rows.scored.reduce((a, v) => a + v, 0);
    return { scored: total - unscored, unscored, digest };
  });
}

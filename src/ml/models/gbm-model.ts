/**
 * The GBM refresh (Stage 2): XGBoost on the feature builder's tabular splits, the same
 * features the sequence models see, evaluated exactly like them (model-metrics.ts) and
 * compared with Stage 1's baseline report from the ingested bundle. Scores come from XGBoost
 * itself (no ONNX export: ONNX has no opset-17 core op for tree ensembles, only the ai.onnx.ml
 * domain, which this project does not target).
 *
 * Directory: model.json (XGBoost JSON), config.json (format dagbuild.ml_model, formats.ts),
 * metrics.json (model-metrics.ts), train_log.jsonl (training and validation log loss and
 * validation AUC every 10 rounds), calibration.svg, learning_curve.svg.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256, stableStringify } from "../../engine/hash.js";
import { sqlString, withDuckDb, type DuckDBConnection } from "../../io/duckdb.js";
import { calibrationSvg, learningCurveSvg } from "../../report/plots.js";
import { rowMajor, sqlIdent } from "../columns.js";
import { logLoss } from "../eval.js";
import { rocAuc } from "../metrics.js";
import { Booster, DMatrix } from "../xgboost.js";
import { perSplit, SPLIT_NAMES, type SplitName } from "../training/splits.js";
import { MODEL_CONFIG_VERSION } from "./formats.js";
import { evaluateModel, METRICS_FORMAT_VERSION } from "./model-metrics.js";
import { ModelParamError } from "./model-params.js";
import { readSummary } from "./training-set.js";

/** One tabular split: row-major features, labels, raw hazard. */
interface Table {
  readonly X: Float32Array;
  readonly y: Uint8Array;
  readonly hazard: Float64Array;
  /** UTC day of each row (the bootstrap's blocks). */
  readonly day: Int32Array;
  readonly n: number;
}

/** Reads `{split}.parquet` of the feature builder in its row order. */
async function readTable(c: DuckDBConnection, dir: string, split: SplitName, features: readonly string[]): Promise<Table> {
  const cols = (await c.runAndReadAll(`SELECT ${features.map(sqlIdent).join(", ")}, y_sign, hazard_raw, CAST(ts_ms // 86400000 AS INTEGER) FROM read_parquet(${sqlString(join(dir, `${split}.parquet`))})`)).getColumns();
  const F = features.length;
  const n = cols[0]?.length ?? 0;
  return { X: rowMajor(cols, 0, F), n, y: Uint8Array.from(cols[F]!, Number), hazard: Float64Array.from(cols[F + 1]!, Number), day: Int32Array.from(cols[F + 2]!, Number) };
}

function xgbParams(p: Readonly<Record<string, unknown>>): { params: Record<string, string | number>; rounds: number; seed: number; bootstrap: number } {
  const known = new Set(["rounds", "max_depth", "eta", "min_child_weight", "subsample", "colsample_bytree", "seed", "bootstrap"]);
  for (const k of Object.keys(p)) if (!known.has(k)) throw new ModelParamError(k, `unknown for the GBM (known: ${[...known].sort().join(", ")})`);
  const num = (k: string, d: number) => {
    const v = p[k] ?? d;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ModelParamError(k, `must be a number >= 0, got ${JSON.stringify(p[k])}`);
    return v;
  };
  const seed = num("seed", 7);
  return {
    rounds: num("rounds", 200),
    seed,
    bootstrap: num("bootstrap", 1000),
    params: {
      objective: "binary:logistic", eval_metric: "auc", tree_method: "hist", base_score: 0.5, nthread: 1, verbosity: 0, seed,
      max_depth: num("max_depth", 3), eta: num("eta", 0.05), min_child_weight: num("min_child_weight", 20),
      subsample: num("subsample", 0.8), colsample_bytree: num("colsample_bytree", 0.8),
    },
  };
}

/** Stage 1's test AUC at the same horizon, from the bundle's baseline report (when present). */
async function stage1Reference(reportPath: string | undefined, horizon: number): Promise<Record<string, unknown> | null> {
  if (!reportPath) return null;
  const r = JSON.parse(await readFile(reportPath, "utf8")) as { horizons?: Record<string, { auc?: Record<string, number>; hazard_heuristic_auc?: Record<string, number> }> };
  const h = r.horizons?.[String(horizon)];
  return h ? { report: "output/ml_corpus/baseline_report.json (from the ingested bundle)", horizon, test_auc: h.auc?.test ?? null, hazard_test_auc: h.hazard_heuristic_auc?.test ?? null } : null;
}

/** Trains and evaluates the GBM refresh into `outDir`. */
export async function buildGbmModel(opts: { trainingDir: string; stage1Report?: string; outDir: string; params: Readonly<Record<string, unknown>>; log: (l: string) => void; signal?: AbortSignal }): Promise<void> {
  const summary = await readSummary(opts.trainingDir);
  const features = summary.features.map((f) => f.name);
  const cfg = xgbParams(opts.params);
  const tables = {} as Record<SplitName, Table>;
  // One DuckDB for the three splits.
  await withDuckDb(async (c) => {
    for (const s of SPLIT_NAMES) tables[s] = await readTable(c, opts.trainingDir, s, features);
  });
  const dm = perSplit((s) => new DMatrix(tables[s].X, tables[s].n, features.length, Float32Array.from(tables[s].y)));
  const booster = Booster.create(dm.train, cfg.params);
  const t0 = performance.now();
  try {
    const curve: { epoch: number; train_loss: number; val_loss: number; val_auc: number }[] = [];
    // The last curve point predicts validation with the final model: evaluation reuses it (none when rounds is 0).
    let finalValidation: Float32Array | null = null;
    for (let i = 0; i < cfg.rounds; i++) {
      opts.signal?.throwIfAborted();
      booster.updateOne(dm.train, i);
      if ((i + 1) % 10 === 0 || i + 1 === cfg.rounds) {
        const pt = booster.predict(dm.train), pv = booster.predict(dm.validation);
        finalValidation = pv;
        curve.push({ epoch: i + 1, train_loss: logLoss(pt, tables.train.y), val_loss: logLoss(pv, tables.validation.y), val_auc: rocAuc(pv, tables.validation.y) });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const prob = (s: SplitName) => Float64Array.from(booster.predict(dm[s]));
    const evaluation = evaluateModel(
      {
        validation: { prob: finalValidation ? Float64Array.from(finalValidation) : prob("validation"), y: tables.validation.y, hazard: tables.validation.hazard, blocks: tables.validation.day },
        test: { prob: prob("test"), y: tables.test.y, hazard: tables.test.hazard, blocks: tables.test.day },
      },
      tables.train.y,
      { seed: cfg.seed, bootstrap: cfg.bootstrap },
    );
    booster.save(join(opts.outDir, "model.json"));
    const modelDigest = sha256(await readFile(join(opts.outDir, "model.json")));
    const stage1 = await stage1Reference(opts.stage1Report, summary.params.horizon);
    const metrics = {
      format: "dagbuild.ml_metrics", version: METRICS_FORMAT_VERSION, model: "baseline_gbm", kind: "xgboost",
      ...evaluation,
      stage1_baseline: stage1 ? { ...stage1, test_auc_delta: stage1.test_auc === null || evaluation.test.model.auc === null ? null : Math.round((evaluation.test.model.auc - (stage1.test_auc as number)) * 1e6) / 1e6 } : null,
      rows: perSplit((s) => tables[s].n),
      training: { seconds: Number(seconds.toFixed(2)), samples_per_s: Math.round((tables.train.n * cfg.rounds) / seconds), backend: "libxgboost", threads: 1, rounds: cfg.rounds },
    };
    const config = {
      format: "dagbuild.ml_model", version: MODEL_CONFIG_VERSION, name: "baseline_gbm", architecture: { kind: "xgboost", params: cfg.params, rounds: cfg.rounds },
      features, normaliser: { ...summary.normaliser, features: summary.features }, inputs: { training: summary.inputs, features_json: sha256(stableStringify(summary)) },
      digests: { model: modelDigest },
    };
    await writeFile(join(opts.outDir, "config.json"), stableStringify(config));
    await writeFile(join(opts.outDir, "metrics.json"), stableStringify(metrics));
    await writeFile(join(opts.outDir, "train_log.jsonl"), curve.map((c) => JSON.stringify(c)).join("\n") + "\n");
    await writeFile(join(opts.outDir, "calibration.svg"), await calibrationSvg(evaluation.test.model.calibration_bins, "baseline_gbm: reliability on test weeks"));
    // The marker is the model that is kept: every round (the GBM does not stop early).
    await writeFile(join(opts.outDir, "learning_curve.svg"), await learningCurveSvg(curve, cfg.rounds, `baseline_gbm: every 10 rounds (x = rounds; the model keeps all ${cfg.rounds})`));
    opts.log(`baseline_gbm: ${evaluation.verdict.summary}${stage1 ? `; Stage 1 baseline test AUC ${stage1.test_auc}` : ""}`);
  } finally {
    booster.free();
    for (const s of SPLIT_NAMES) dm[s].free();
  }
}

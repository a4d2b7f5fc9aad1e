/**
 * baseline-gbm: gradient-boosted trees (real XGBoost 1.7 via libxgboost.so.0) predicting the
 * sign of the forward return from per-gate tabular features, with a week-based split.
 *
 * Inputs:  corpus   the corpus parquet (`output/ml_corpus/gates_{week.span}.parquet`)
 * Params:  horizons  forward horizons in minutes (default [15, 60]); the first is the primary
 *          run_mode  rows to use (default "rolling")
 *          source    corpus source to learn from (default: every source but `legacy*` exports)
 *          rounds, max_depth, eta, min_child_weight, subsample, colsample_bytree, seed
 *                    XGBoost settings (defaults 200, 3, 0.05, 20, 0.8, 0.8, 7); nthread is 1
 * Outputs: report   `output/ml_corpus/baseline_report.json`
 *          model    `output/ml_models/baseline_xgb/` (directory): model.json (primary horizon,
 *                   XGBoost JSON), model_h{h}.json (other horizons), features.json,
 *                   shap_summary.svg
 * Rows: run_mode rows with label_complete and every used horizon present. Split by week:
 * first 60% / next 20% / last 20% of the weeks (train / validation / test). The booster sees
 * training weeks only; the decision threshold (Youden's J) is chosen on validation weeks; every
 * reported test number is out of sample. Label = 1 when the forward return is > 0.
 */
import { join, relative } from "node:path";
import { stat, writeFile } from "node:fs/promises";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { Booster, DMatrix, loadXgboost, XgboostUnavailableError } from "../src/ml/xgboost.js";
import { FeatureError, loadTabular, splitRows, splitWeeks, takeRows, type TabularData } from "../src/ml/features.js";
import { atThreshold, r6, rocAuc, youdenThreshold } from "../src/ml/metrics.js";
import { renderShapSummary, type ShapPanel } from "../src/ml/shap-svg.js";
import { sha256File } from "../src/bundle/manifest.js";
import { stableStringify } from "../src/engine/hash.js";
import { HORIZONS_MIN } from "../src/sep/types.js";
import { optionalNumber, optionalNumberList, optionalString } from "../src/corpus/params.js";
import { writeAtomic } from "../src/io/write-atomic.js";

/** Format version of baseline_report.json and features.json. */
export const BASELINE_REPORT_VERSION = 1;

type Split = "train" | "validation" | "test";
const SPLITS: readonly Split[] = ["train", "validation", "test"];

function balance(y: Float32Array): { negatives: number; positives: number; positive_rate: number | null } {
  let p = 0;
  for (const v of y) p += v;
  return { negatives: y.length - p, positives: p, positive_rate: r6(p / y.length) };
}

function pick<T extends { length: number; [i: number]: number }>(a: T, rows: readonly number[], make: (n: number) => T): T {
  const out = make(rows.length);
  rows.forEach((r, i) => (out[i] = a[r]!));
  return out;
}

export default defineRule({
  describe: "XGBoost baseline: sign of forward return, week split, SHAP summary",
  async run(ctx) {
    const corpusPath = oneInput(ctx, "corpus");
    const reportOut = ctx.outputs.report;
    const modelDir = ctx.outputs.model;
    if (!reportOut || !modelDir) throw new RuleError('baseline-gbm: declare outputs "report" (json) and "model" (directory, trailing /)');
    const horizons = optionalNumberList(ctx.params, "horizons", [15, 60]);
    for (const h of horizons) if (!(HORIZONS_MIN as readonly number[]).includes(h)) throw new RuleError(`param "horizons": ${h} is not a corpus horizon (${HORIZONS_MIN.join(", ")})`);
    const runMode = optionalString(ctx.params, "run_mode", "rolling");
    // Which corpus source to learn from; default: every source except merged legacy exports.
    const source = optionalString(ctx.params, "source", "");
    const rounds = optionalNumber(ctx.params, "rounds", 200);
    const xgbParams = {
      objective: "binary:logistic",
      eval_metric: "auc",
      tree_method: "hist",
      max_depth: optionalNumber(ctx.params, "max_depth", 3),
      eta: optionalNumber(ctx.params, "eta", 0.05),
      min_child_weight: optionalNumber(ctx.params, "min_child_weight", 20),
      subsample: optionalNumber(ctx.params, "subsample", 0.8),
      colsample_bytree: optionalNumber(ctx.params, "colsample_bytree", 0.8),
      base_score: 0.5,
      seed: optionalNumber(ctx.params, "seed", 7),
      nthread: 1,
      verbosity: 0,
    };

    let api;
    try {
      api = loadXgboost();
    } catch (e) {
      if (e instanceof XgboostUnavailableError) throw new RuleError(e.message);
      throw e;
    }

    let data: TabularData;
    let split;
    try {
      data = await loadTabular(ctx.inputs.corpus!, { run_mode: runMode, horizons, ...(source ? { source } : {}) });
      split = splitWeeks(data.week);
    } catch (e) {
      if (e instanceof FeatureError) throw new RuleError(`baseline-gbm: ${e.message}`);
      throw e;
    }
    // Purge by the longest horizon: a label must not reach into the next split's weeks.
    const rows = splitRows(data, split, Math.max(...horizons) * 60_000);
    // Features entirely missing in the training weeks carry nothing the model could learn.
    const nf = data.features.length;
    const used: number[] = [];
    const dropped: string[] = [];
    for (let j = 0; j < nf; j++) {
      if (rows.train.some((r) => !Number.isNaN(data.X[r * nf + j]!))) used.push(j);
      else dropped.push(data.features[j]!);
    }
    if (used.length === 0) throw new RuleError("baseline-gbm: no feature has a value in the training weeks");
    const featureNames = used.map((j) => data.features[j]!);
    const mats = Object.fromEntries(SPLITS.map((s) => [s, takeRows(data, rows[s], used)])) as Record<Split, Float32Array>;
    const hazard = Object.fromEntries(SPLITS.map((s) => [s, pick(data.hazard, rows[s], (n) => new Float64Array(n))])) as Record<Split, Float64Array>;

    const perHorizon: Record<string, unknown> = {};
    const panels: ShapPanel[] = [];
    const modelFiles: Record<string, string> = {};
    for (const [hi, h] of horizons.entries()) {
      ctx.signal.throwIfAborted();
      const fwd = data.forward[String(h)]!;
      const y = Object.fromEntries(
        SPLITS.map((s) => [s, Float32Array.from(rows[s], (r) => (fwd[r]! > 0 ? 1 : 0))]),
      ) as Record<Split, Float32Array>;
      const dm = Object.fromEntries(SPLITS.map((s) => [s, new DMatrix(mats[s], rows[s].length, used.length, y[s])])) as Record<Split, DMatrix>;
      const booster = Booster.create(dm.train, xgbParams);
      try {
        booster.train(dm.train, rounds, ctx.signal);
        const pred = Object.fromEntries(SPLITS.map((s) => [s, booster.predict(dm[s])])) as Record<Split, Float32Array>;
        const threshold = youdenThreshold(pred.validation, y.validation);
        const contrib = booster.contributions(dm.test);
        const meanAbs = featureNames.map((_, j) => {
          let s = 0;
          for (let i = 0; i < rows.test.length; i++) s += Math.abs(contrib[i * (used.length + 1) + j]!);
          return rows.test.length ? s / rows.test.length : 0;
        });
        const file = hi === 0 ? "model.json" : `model_h${h}.json`;
        booster.save(join(modelDir, file));
        modelFiles[String(h)] = file;
        const negHaz = Object.fromEntries(SPLITS.map((s) => [s, hazard[s].map((v) => -v)])) as Record<Split, Float64Array>;
        const auc = Object.fromEntries(SPLITS.map((s) => [s, r6(rocAuc(pred[s], y[s]))]));
        const hazAuc = Object.fromEntries(SPLITS.map((s) => [s, r6(rocAuc(negHaz[s], y[s]))]));
        const at = (s: Split) => {
          const a = atThreshold(pred[s], y[s], threshold);
          return { ...a, precision: r6(a.precision), recall: r6(a.recall), threshold: r6(a.threshold) };
        };
        const order = featureNames.map((f, j) => ({ feature: f, value: meanAbs[j]! })).sort((a, b) => b.value - a.value || (a.feature < b.feature ? -1 : 1));
        panels.push({ title: `horizon ${h} min (${file})`, bars: order });
        perHorizon[String(h)] = {
          label: `roc_forward_pct_${h} > 0`,
          model_file: `baseline_xgb/${file}`,
          class_balance: Object.fromEntries(SPLITS.map((s) => [s, balance(y[s])])),
          auc,
          hazard_heuristic_auc: hazAuc,
          auc_delta_vs_hazard: { test: auc.test === null || hazAuc.test === null ? null : r6(auc.test - hazAuc.test), validation: auc.validation === null || hazAuc.validation === null ? null : r6(auc.validation - hazAuc.validation) },
          threshold: { value: r6(threshold), chosen_on: "validation", method: "max Youden J (TPR - FPR)" },
          at_threshold: { validation: at("validation"), test: at("test") },
          mean_abs_shap_test: Object.fromEntries(order.map((o) => [o.feature, r6(o.value)])),
        };
        ctx.log(`baseline-gbm: h=${h} test AUC ${auc.test} (hazard-only ${hazAuc.test})`);
      } finally {
        booster.free();
        for (const s of SPLITS) dm[s].free();
      }
    }

    const inputs: Record<string, { sha256: string; bytes: number }> = {};
    for (const p of ctx.inputs.corpus!) inputs[relative(ctx.root, p)] = { sha256: await sha256File(p), bytes: (await stat(p)).size };
    const features = {
      format: "dagbuild.baseline_features",
      version: BASELINE_REPORT_VERSION,
      features: featureNames,
      dropped_features: dropped,
      missing_value: "NaN",
      booleans: "0/1",
      models: modelFiles,
      label: "1 when roc_forward_pct_{h} > 0, else 0",
    };
    await writeFile(join(modelDir, "features.json"), stableStringify(features));
    await writeFile(join(modelDir, "shap_summary.svg"), renderShapSummary(`Baseline XGBoost: mean |SHAP| per feature (${runMode}, test weeks)`, panels));
    const report = {
      format: "dagbuild.baseline_report",
      version: BASELINE_REPORT_VERSION,
      model: "baseline_gbm",
      run_mode: runMode,
      lineage: { inputs, rule: "rules/baseline-gbm.ts" },
      xgboost: { library_version: api.version(), params: xgbParams, rounds },
      features: featureNames,
      dropped_features: dropped,
      split: Object.fromEntries(SPLITS.map((s) => [s, { weeks: split[s], rows: rows[s].length }])),
      purged_rows: rows.purged,
      horizons: perHorizon,
    };
    await writeAtomic(reportOut, stableStringify(report));
  },
});

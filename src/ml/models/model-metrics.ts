/**
 * metrics.json of a Stage 2 model (format `dagbuild.ml_metrics`, version 1): the model, the
 * hazard-only heuristic and the base rate, evaluated by the same functions on validation and
 * test, with the model's AUC margin over each baseline (paired bootstrap interval, resampling
 * whole UTC days: neighbouring windows overlap, so rows are not independent). The
 * decision threshold and the heuristic's calibrator are fitted on validation only; the base
 * rate is the training positive rate; nothing here sees a test label before the test numbers.
 */
import { baseRateBaseline, chooseThreshold, compareAuc, evaluateBinary, hazardBaseline, positiveRate, regression, type AucComparison, type BinaryEval, type RegressionEval } from "../eval.js";
import { r6 } from "../metrics.js";

/** Format version of metrics.json. */
export const METRICS_FORMAT_VERSION = 1;

/** What one split contributes to the metrics. */
export interface ScoredSplit {
  readonly prob: Float64Array;
  readonly y: Uint8Array;
  readonly hazard: Float64Array;
  /** Bootstrap block per row: the UTC day of the window's last gate (rows of a day are not independent). */
  readonly blocks: Int32Array;
  /** Magnitude predictions and targets (bp), when the model has the head. */
  readonly magPred?: Float32Array;
  readonly magTrue?: Float32Array;
}

/** The evaluation block of metrics.json. */
export interface ModelEvaluation {
  readonly threshold: { value: number | null; chosen_on: "validation"; method: string };
  readonly validation: SplitMetrics;
  readonly test: SplitMetrics;
  /** Does the model beat each baseline on test: the lower end of the AUC-margin interval is above 0. */
  readonly verdict: { beats_hazard_on_test: boolean; beats_base_rate_on_test: boolean; summary: string };
}

/** The metrics of one split. */
export interface SplitMetrics {
  readonly model: BinaryEval;
  readonly magnitude?: RegressionEval;
  readonly hazard_heuristic: BinaryEval;
  readonly base_rate: BinaryEval;
  readonly vs_hazard: AucComparison;
  readonly vs_base_rate: AucComparison;
}

/** Logistic sigmoid of logits, in float64. */
export function sigmoid(logits: Float32Array): Float64Array {
  return Float64Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
}

/** Evaluates validation and test; `trainY` gives the base rate. */
export function evaluateModel(s: { validation: ScoredSplit; test: ScoredSplit }, trainY: Uint8Array, opts: { seed: number; bootstrap: number }): ModelEvaluation {
  const threshold = chooseThreshold(s.validation.prob, s.validation.y);
  const evalSplits = { validation: s.validation, test: s.test };
  const haz = hazardBaseline(evalSplits, opts);
  const rate = positiveRate(trainY);
  const base = baseRateBaseline(rate, evalSplits, opts);
  const split = (name: "validation" | "test"): SplitMetrics => {
    const x = s[name];
    const negHaz = Float64Array.from(x.hazard, (h) => -h);
    return {
      model: evaluateBinary(x.prob, x.y, { threshold, seed: opts.seed, bootstrap: opts.bootstrap, blocks: x.blocks }),
      ...(x.magPred && x.magTrue ? { magnitude: regression(x.magPred, x.magTrue) } : {}),
      hazard_heuristic: haz.splits[name]!,
      base_rate: base.splits[name]!,
      vs_hazard: compareAuc(x.prob, negHaz, x.y, opts.seed, opts.bootstrap, x.blocks),
      vs_base_rate: compareAuc(x.prob, new Float64Array(x.y.length).fill(rate), x.y, opts.seed, opts.bootstrap, x.blocks),
    };
  };
  const validation = split("validation");
  const test = split("test");
  const beats = (c: AucComparison) => c.delta_ci95[0] !== null && c.delta_ci95[0] > 0;
  const fmt = (c: AucComparison) => `${c.delta} [${c.delta_ci95[0]}, ${c.delta_ci95[1]}]`;
  return {
    threshold: { value: r6(threshold), chosen_on: "validation", method: "max Youden J (TPR - FPR)" },
    validation,
    test,
    verdict: {
      beats_hazard_on_test: beats(test.vs_hazard),
      beats_base_rate_on_test: beats(test.vs_base_rate),
      summary:
        `test AUC ${test.model.auc} [${test.model.auc_ci95[0]}, ${test.model.auc_ci95[1]}]; ` +
        `vs hazard heuristic ${fmt(test.vs_hazard)}; vs base rate ${fmt(test.vs_base_rate)}` +
        (beats(test.vs_hazard) || beats(test.vs_base_rate) ? "" : ": no edge"),
    },
  };
}

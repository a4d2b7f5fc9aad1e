/**
 * Evaluation of the Stage 2 models for metrics.json: ROC AUC with a seeded bootstrap 95%
 * interval, log loss, Brier score, expected calibration error over 15 equal-width bins,
 * accuracy/precision/recall at a threshold chosen on validation, MAE/RMSE for a magnitude head,
 * and the two baselines every model is compared with (the hazard-only heuristic and the base
 * rate), evaluated by the same function. Every number that leaves this module is rounded with
 * r6, so the JSON is byte-stable.
 *
 * Resampling is by block when blocks are given (the UTC day of each row, say): neighbouring
 * gates share most of their window and their label horizons overlap, so rows are not
 * independent and a row bootstrap would give intervals that are too narrow. A block resample
 * draws as many blocks as there are, with replacement, and takes every row of each.
 *
 * The bootstrap is fast because the scores are ranked once: rows are grouped by distinct score
 * (ascending), and a resample only adds its draws' counts into per-group positive/negative
 * tallies, from which the Mann-Whitney AUC follows in one pass over the groups (ties count one
 * half, as in rocAuc). Each resample is O(n + groups), not O(n log n).
 */
import { atThreshold, r6, rocAuc, youdenThreshold } from "./metrics.js";
import { mulberry32 } from "../engine/prng.js";

/** A column of numbers: probabilities, scores or 0/1 labels. */
export type Column = Float64Array | Float32Array | Uint8Array | ArrayLike<number>;

/** Bad input to an evaluation function (length mismatch, a label that is not 0/1, a NaN score). */
export class EvalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvalInputError";
  }
}

/** Number of equal-width calibration bins on [0, 1] (the issue fixes 15). */
export const CALIBRATION_BINS = 15;
/** Default number of bootstrap resamples. */
export const DEFAULT_BOOTSTRAP = 1000;
/** Probabilities are clipped to [EPS, 1 - EPS] for the log loss only. */
export const LOG_LOSS_EPS = 1e-7;

/** One reliability-diagram bin: [lo, hi) (the last bin includes 1); empty bins have null means. */
export interface CalibrationBin {
  readonly lo: number | null;
  readonly hi: number | null;
  readonly count: number;
  /** Mean predicted probability of the bin's rows; null when the bin is empty. */
  readonly mean_pred: number | null;
  /** Observed fraction of positives; null when the bin is empty. */
  readonly frac_pos: number | null;
}

/** The binary metrics of one split, as written into metrics.json. Null stands for NaN. */
export interface BinaryEval {
  readonly n: number;
  readonly positives: number;
  readonly auc: number | null;
  /** Percentile bootstrap 95% interval of the AUC (resampling rows with replacement). */
  readonly auc_ci95: readonly [number | null, number | null];
  /** Resamples used for auc_ci95 (those with both classes present). */
  readonly bootstrap: number;
  readonly log_loss: number | null;
  readonly brier: number | null;
  readonly ece: number | null;
  readonly calibration_bins: readonly CalibrationBin[];
  /** At `prob >= threshold` as the positive prediction. */
  readonly accuracy: number | null;
  readonly precision: number | null;
  readonly recall: number | null;
  readonly threshold: number | null;
}

/** Options of evaluateBinary. */
export interface EvalOptions {
  /** Decision threshold (chosen on validation: see chooseThreshold). */
  readonly threshold: number;
  /** Seed of the bootstrap PRNG. */
  readonly seed: number;
  /** Number of bootstrap resamples; default 1000; 0 skips the interval (nulls). */
  readonly bootstrap?: number;
  /** Block id per row for a block bootstrap (default: every row its own block). */
  readonly blocks?: ArrayLike<number>;
  /**
   * Score to rank by for the AUC and its interval, when it differs from `prob` (a monotone
   * calibration of a raw score can create ties that would change the ranking). Default: prob.
   */
  readonly rankScore?: Column;
}


function checkLabels(fn: string, y: Column, n: number): number {
  if (y.length !== n) throw new EvalInputError(`${fn}: ${n} predictions but ${y.length} labels`);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (v === 1) pos++;
    else if (v !== 0) throw new EvalInputError(`${fn}: label ${i} is ${v}, expected 0 or 1`);
  }
  return pos;
}

function checkFinite(fn: string, what: string, x: Column): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new EvalInputError(`${fn}: ${what} ${i} is ${x[i]}, expected a finite number`);
  }
}

/** Rows grouped by distinct score, ascending: `group[i]` is row i's group, `count` the groups. */
interface Ranking {
  readonly group: Uint32Array;
  readonly count: number;
}

function rank(scores: Column): Ranking {
  const n = scores.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => scores[a]! - scores[b]! || a - b);
  const group = new Uint32Array(n);
  let g = -1;
  for (let k = 0; k < n; k++) {
    if (k === 0 || scores[idx[k]!] !== scores[idx[k - 1]!]) g++;
    group[idx[k]!] = g;
  }
  return { group, count: g + 1 };
}

/** Mann-Whitney AUC from per-group positive/negative weights (groups ascending by score). */
function aucFromTallies(posW: Float64Array, negW: Float64Array): number {
  let P = 0, N = 0, u = 0;
  for (let g = 0; g < posW.length; g++) {
    u += posW[g]! * (N + negW[g]! / 2); // negatives strictly below, plus half of the tied ones
    P += posW[g]!;
    N += negW[g]!;
  }
  return P > 0 && N > 0 ? u / (P * N) : Number.NaN;
}

/**
 * The bootstrap's row draws: `resampleIndices(n, seed)` returns a function that fills `out`
 * (length n) with the next resample's row indices, drawn uniformly with replacement. With
 * `blocks` (a block id per row) it draws whole blocks instead, as many as there are, and
 * returns their rows (a new array when they do not fit `out`).
 */
export function resampleIndices(n: number, seed: number, blocks?: ArrayLike<number>): (out: Uint32Array) => Uint32Array {
  const rand = mulberry32(seed);
  if (!blocks) {
    return (out) => {
      for (let k = 0; k < n; k++) out[k] = Math.floor(rand() * n);
      return out;
    };
  }
  if (blocks.length !== n) throw new EvalInputError(`resampleIndices: ${blocks.length} block ids for ${n} rows`);
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const b = blocks[i]!;
    const m = members.get(b);
    if (m) m.push(i);
    else members.set(b, [i]);
  }
  const list = [...members.keys()].sort((a, b) => a - b).map((k) => members.get(k)!);
  return (out) => {
    let buf = out, len = 0;
    for (let k = 0; k < list.length; k++) {
      const rows = list[Math.floor(rand() * list.length)]!;
      if (len + rows.length > buf.length) {
        const grown = new Uint32Array(Math.max(2 * buf.length, len + rows.length));
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      for (const r of rows) buf[len++] = r;
    }
    return buf.subarray(0, len);
  };
}

/**
 * AUCs of several scorings of the same rows over the same B bootstrap resamples (paired):
 * `out[m][b]` is scoring m's AUC on resample b; resamples lacking a class are NaN.
 */
export function bootstrapAucSamples(scores: readonly Column[], y: Column, B: number, seed: number, blocks?: ArrayLike<number>): Float64Array[] {
  const n = y.length;
  for (const s of scores) if (s.length !== n) throw new EvalInputError(`bootstrapAucSamples: ${s.length} scores for ${n} labels`);
  const rankings = scores.map(rank);
  const next = resampleIndices(n, seed, blocks);
  let idx: Uint32Array = new Uint32Array(n);
  const tallies = rankings.map((r) => ({ pos: new Float64Array(r.count), neg: new Float64Array(r.count) }));
  const out = rankings.map(() => new Float64Array(B));
  for (let b = 0; b < B; b++) {
    const drawn = next(idx);
    if (drawn.buffer !== idx.buffer) idx = new Uint32Array(drawn.buffer);
    for (let m = 0; m < rankings.length; m++) {
      const { pos, neg } = tallies[m]!;
      const group = rankings[m]!.group;
      pos.fill(0);
      neg.fill(0);
      for (let k = 0; k < drawn.length; k++) {
        const i = drawn[k]!;
        if (y[i] === 1) pos[group[i]!]!++;
        else neg[group[i]!]!++;
      }
      out[m]![b] = aucFromTallies(pos, neg);
    }
  }
  return out;
}

/** Linear-interpolated quantile (type 7) of the finite values; NaN when none. */
function quantiles(values: Float64Array, qs: readonly number[]): { q: number[]; used: number } {
  const v = Float64Array.from(values.filter((x) => Number.isFinite(x))).sort();
  if (v.length === 0) return { q: qs.map(() => Number.NaN), used: 0 };
  const q = qs.map((p) => {
    const h = (v.length - 1) * p;
    const lo = Math.floor(h), hi = Math.ceil(h);
    return v[lo]! + (h - lo) * (v[hi]! - v[lo]!);
  });
  return { q, used: v.length };
}

/** Reliability bins and ECE (sum over bins of count/n times |mean_pred - frac_pos|). */
export function calibration(prob: Column, y: Column, bins = CALIBRATION_BINS): { ece: number; bins: CalibrationBin[] } {
  const n = prob.length;
  checkLabels("calibration", y, n);
  checkFinite("calibration", "probability", prob);
  const cnt = new Float64Array(bins), sumP = new Float64Array(bins), sumY = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const p = prob[i]!;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    cnt[b]!++;
    sumP[b]! += p;
    sumY[b]! += y[i]!;
  }
  let ece = 0;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const c = cnt[b]!;
    const mp = c ? sumP[b]! / c : Number.NaN, fp = c ? sumY[b]! / c : Number.NaN;
    if (c) ece += (c / n) * Math.abs(mp - fp);
    out.push({ lo: r6(b / bins), hi: r6((b + 1) / bins), count: c, mean_pred: c ? r6(mp) : null, frac_pos: c ? r6(fp) : null });
  }
  return { ece: n ? ece : Number.NaN, bins: out };
}

/** Mean binary cross-entropy with probabilities clipped to [1e-7, 1 - 1e-7]. */
export function logLoss(prob: Column, y: Column): number {
  let s = 0;
  for (let i = 0; i < prob.length; i++) {
    const p = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, prob[i]!));
    s -= y[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return prob.length ? s / prob.length : Number.NaN;
}

/** Mean squared error of the probabilities against the 0/1 labels. */
export function brier(prob: Column, y: Column): number {
  let s = 0;
  for (let i = 0; i < prob.length; i++) s += (prob[i]! - y[i]!) ** 2;
  return prob.length ? s / prob.length : Number.NaN;
}

/**
 * All binary metrics of one split. `prob` are predicted probabilities of the positive class,
 * `y` the 0/1 labels; the threshold must come from validation (chooseThreshold), never from the
 * split being evaluated.
 */
export function evaluateBinary(prob: Column, y: Column, opts: EvalOptions): BinaryEval {
  const n = prob.length;
  const positives = checkLabels("evaluateBinary", y, n);
  checkFinite("evaluateBinary", "probability", prob);
  for (let i = 0; i < n; i++) {
    if (prob[i]! < 0 || prob[i]! > 1) throw new EvalInputError(`evaluateBinary: probability ${i} is ${prob[i]}, outside [0, 1]`);
  }
  const score = opts.rankScore ?? prob;
  if (score.length !== n) throw new EvalInputError(`evaluateBinary: ${n} predictions but ${score.length} rank scores`);
  checkFinite("evaluateBinary", "rank score", score);
  const B = opts.bootstrap ?? DEFAULT_BOOTSTRAP;
  const auc = rocAuc(score, y);
  let ci: [number, number] = [Number.NaN, Number.NaN];
  let used = 0;
  if (B > 0 && Number.isFinite(auc)) {
    const [aucs] = bootstrapAucSamples([score], y, B, opts.seed, opts.blocks);
    const qs = quantiles(aucs!, [0.025, 0.975]);
    ci = [qs.q[0]!, qs.q[1]!];
    used = qs.used;
  }
  const cal = calibration(prob, y);
  const at = atThreshold(prob, y, opts.threshold);
  return {
    n,
    positives,
    auc: r6(auc),
    auc_ci95: [r6(ci[0]), r6(ci[1])],
    bootstrap: used,
    log_loss: r6(logLoss(prob, y)),
    brier: r6(brier(prob, y)),
    ece: r6(cal.ece),
    calibration_bins: cal.bins,
    accuracy: r6(n ? (at.tp + at.tn) / n : Number.NaN),
    precision: r6(at.precision),
    recall: r6(at.recall),
    threshold: r6(opts.threshold),
  };
}

/**
 * The decision threshold, chosen on VALIDATION rows only: the probability that maximizes
 * Youden's J (see youdenThreshold). Passing test rows here would leak the test labels.
 */
export function chooseThreshold(probValidation: Column, yValidation: Column): number {
  checkLabels("chooseThreshold", yValidation, probValidation.length);
  return youdenThreshold(probValidation, yValidation);
}

/** Magnitude-head metrics. */
export interface RegressionEval {
  readonly mae: number | null;
  readonly rmse: number | null;
  readonly n: number;
}

/** Mean absolute and root mean squared error of `pred` against `y`. */
export function regression(pred: Column, y: Column): RegressionEval {
  const n = pred.length;
  if (y.length !== n) throw new EvalInputError(`regression: ${n} predictions but ${y.length} targets`);
  let a = 0, s = 0;
  for (let i = 0; i < n; i++) {
    const e = pred[i]! - y[i]!;
    a += Math.abs(e);
    s += e * e;
  }
  return { mae: r6(n ? a / n : Number.NaN), rmse: r6(n ? Math.sqrt(s / n) : Number.NaN), n };
}

/** Difference in AUC between two scorings of the same rows, with a paired bootstrap interval. */
export interface AucComparison {
  readonly model_auc: number | null;
  readonly baseline_auc: number | null;
  /** model_auc - baseline_auc (from the unrounded AUCs). */
  readonly delta: number | null;
  /** Percentile 95% interval of the delta over the same resamples for both scorings. */
  readonly delta_ci95: readonly [number | null, number | null];
  readonly bootstrap: number;
}

/**
 * AUC(model) - AUC(baseline) on the same rows, with a paired bootstrap: each resample draws
 * the rows once and both scorings are ranked on it, so their shared noise cancels and the
 * interval is that of the difference. "Beats the baseline" means the interval excludes 0.
 */
export function compareAuc(model: Column, baseline: Column, y: Column, seed: number, bootstrap = DEFAULT_BOOTSTRAP, blocks?: ArrayLike<number>): AucComparison {
  const n = y.length;
  checkLabels("compareAuc", y, n);
  if (model.length !== n || baseline.length !== n) {
    throw new EvalInputError(`compareAuc: ${model.length} model and ${baseline.length} baseline scores for ${n} labels`);
  }
  checkFinite("compareAuc", "model score", model);
  checkFinite("compareAuc", "baseline score", baseline);
  const am = rocAuc(model, y), ab = rocAuc(baseline, y);
  let ci: [number, number] = [Number.NaN, Number.NaN];
  let used = 0;
  if (bootstrap > 0 && Number.isFinite(am) && Number.isFinite(ab)) {
    const [m, b] = bootstrapAucSamples([model, baseline], y, bootstrap, seed, blocks);
    const d = m!.map((v, i) => v - b![i]!);
    const qs = quantiles(d, [0.025, 0.975]);
    ci = [qs.q[0]!, qs.q[1]!];
    used = qs.used;
  }
  return { model_auc: r6(am), baseline_auc: r6(ab), delta: r6(am - ab), delta_ci95: [r6(ci[0]), r6(ci[1])], bootstrap: used };
}

// ---------------------------------------------------------------------------------------------
// Baselines

/** One split's rows for a baseline: the hazard feature and the 0/1 labels. */
export interface HazardSplit {
  readonly hazard: Column;
  readonly y: Column;
  /** Block ids for a block bootstrap (see the header). */
  readonly blocks?: ArrayLike<number>;
}

/**
 * The hazard heuristic's probability map, fitted on validation rows: p = sigmoid(a * z + b)
 * with z = (-hazard - mean) / std (Platt scaling of the score -hazard). The slope is held at
 * a >= 0, so the map is monotone in -hazard (lower hazard, higher probability: the heuristic's
 * own direction); when validation says otherwise, a = 0 and p is validation's positive rate.
 */
export interface HazardCalibrator {
  readonly mean: number;
  readonly std: number;
  readonly a: number;
  readonly b: number;
}

/**
 * Fits the HazardCalibrator on VALIDATION rows by Newton's method on the log loss (a fixed
 * number of iterations, so the result is deterministic). Platt rather than isotonic: two
 * parameters do not overfit validation, and a strictly increasing map keeps the ranking
 * (isotonic pools would add ties and change the AUC).
 */
export function fitHazardCalibrator(hazardValidation: Column, yValidation: Column): HazardCalibrator {
  const n = hazardValidation.length;
  const P = checkLabels("fitHazardCalibrator", yValidation, n);
  checkFinite("fitHazardCalibrator", "hazard", hazardValidation);
  if (n === 0) throw new EvalInputError("fitHazardCalibrator: no validation rows");
  let mean = 0;
  for (let i = 0; i < n; i++) mean -= hazardValidation[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (-hazardValidation[i]! - mean) ** 2;
  const std = Math.sqrt(v / n) || 1;
  const rate = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, P / n));
  const intercept = Math.log(rate / (1 - rate));
  let a = 0, b = intercept;
  for (let it = 0; it < 50; it++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const z = (-hazardValidation[i]! - mean) / std;
      const p = 1 / (1 + Math.exp(-(a * z + b)));
      const r = p - yValidation[i]!, w = p * (1 - p);
      ga += r * z; gb += r;
      haa += w * z * z; hab += w * z; hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-12) break;
  }
  if (!(a > 0) || !Number.isFinite(a) || !Number.isFinite(b)) return { mean, std, a: 0, b: intercept };
  return { mean, std, a, b };
}

/** The hazard heuristic's probabilities under a fitted calibrator. */
export function hazardProbabilities(hazard: Column, c: HazardCalibrator): Float64Array {
  const out = new Float64Array(hazard.length);
  for (let i = 0; i < hazard.length; i++) out[i] = 1 / (1 + Math.exp(-(c.a * ((-hazard[i]! - c.mean) / c.std) + c.b)));
  return out;
}

/** A baseline's evaluation on every split given, with what was fitted on validation. */
export interface BaselineEval<F> {
  readonly fitted: F;
  readonly threshold: number;
  readonly splits: Record<string, BinaryEval>;
}

/** Options shared by the baselines. */
export interface BaselineOptions {
  readonly seed: number;
  readonly bootstrap?: number;
}

/**
 * The hazard-only heuristic (score = -hazard) through evaluateBinary on each split. The
 * calibrator and the threshold are fitted on `splits.validation` only; the AUC ranks the raw
 * -hazard (equal to the calibrated ranking when a > 0, and still the heuristic's own when a = 0).
 */
export function hazardBaseline(
  splits: { readonly validation: HazardSplit } & Readonly<Record<string, HazardSplit>>,
  opts: BaselineOptions,
): BaselineEval<HazardCalibrator> {
  const fitted = fitHazardCalibrator(splits.validation.hazard, splits.validation.y);
  const threshold = chooseThreshold(hazardProbabilities(splits.validation.hazard, fitted), splits.validation.y);
  const out: Record<string, BinaryEval> = {};
  for (const name of Object.keys(splits).sort()) {
    const s = splits[name]!;
    const prob = hazardProbabilities(s.hazard, fitted);
    const rankScore = Float64Array.from({ length: s.hazard.length }, (_, i) => -s.hazard[i]!);
    out[name] = evaluateBinary(prob, s.y, { threshold, seed: opts.seed, bootstrap: opts.bootstrap, rankScore, ...(s.blocks ? { blocks: s.blocks } : {}) });
  }
  return { fitted, threshold, splits: out };
}

/**
 * The base rate: every row gets the training positive rate (AUC 0.5; the log loss and Brier of
 * a constant). Its threshold is 0.5, i.e. it predicts the training majority class (Youden's J
 * is 0 for any threshold on a constant, so it cannot choose one).
 */
export function baseRateBaseline(
  trainPositiveRate: number,
  splits: Readonly<Record<string, { readonly y: Column; readonly blocks?: ArrayLike<number> }>>,
  opts: BaselineOptions,
): BaselineEval<{ readonly rate: number }> {
  if (!(trainPositiveRate >= 0 && trainPositiveRate <= 1)) {
    throw new EvalInputError(`baseRateBaseline: training positive rate ${trainPositiveRate} is not in [0, 1]`);
  }
  const threshold = 0.5;
  const out: Record<string, BinaryEval> = {};
  for (const name of Object.keys(splits).sort()) {
    const { y, blocks } = splits[name]!;
    out[name] = evaluateBinary(new Float64Array(y.length).fill(trainPositiveRate), y, { threshold, seed: opts.seed, bootstrap: opts.bootstrap, ...(blocks ? { blocks } : {}) });
  }
  return { fitted: { rate: r6(trainPositiveRate)! }, threshold, splits: out };
}

/** The positive rate of training labels (for baseRateBaseline). */
export function positiveRate(y: Column): number {
  const p = checkLabels("positiveRate", y, y.length);
  return y.length ? p / y.length : Number.NaN;
}

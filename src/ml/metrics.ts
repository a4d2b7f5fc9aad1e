/**
 * Binary classification metrics for the baselines: ROC AUC with ties handled (mid-ranks,
 * i.e. the Mann-Whitney U statistic, so tied scores count one half), confusion counts at a
 * threshold, and the validation-side threshold choice.
 */

/** ROC AUC of `scores` against 0/1 `labels`; NaN when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`rocAuc: ${n} scores, ${labels.length} labels`);
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const midRank = (i + j) / 2 + 1; // 1-based average rank of the tie group
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]!] === 1) {
        pos++;
        rankSumPos += midRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Confusion counts and rates of `score >= threshold` as the positive prediction. */
export interface AtThreshold {
  readonly threshold: number;
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  /** tp / (tp + fp); 0 when nothing is predicted positive. */
  readonly precision: number;
  /** tp / (tp + fn); 0 when there are no positives. */
  readonly recall: number;
}

/** Counts at a threshold. */
export function atThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): AtThreshold {
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i]! >= threshold;
    if (labels[i] === 1) p ? tp++ : fn++;
    else p ? fp++ : tn++;
  }
  return { threshold, tp, fp, tn, fn, precision: tp + fp ? tp / (tp + fp) : 0, recall: tp + fn ? tp / (tp + fn) : 0 };
}

/**
 * The threshold that maximizes Youden's J (TPR - FPR) on the given (validation) scores.
 * J is used rather than F1 because F1 favours predicting everything positive on a noisy,
 * balanced target. Ties keep the highest threshold (fewest positive calls). Candidates are the
 * distinct scores, so the choice is exact and deterministic.
 */
export function youdenThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let P = 0;
  for (let i = 0; i < n; i++) if (labels[i] === 1) P++;
  const N = n - P;
  if (P === 0 || N === 0) return 0.5;
  let tp = 0, fp = 0;
  let best = -Infinity;
  let bestT = 0.5;
  for (let i = 0; i < n; ) {
    const s = scores[idx[i]!]!;
    while (i < n && scores[idx[i]!] === s) {
      if (labels[idx[i]!] === 1) tp++;
      else fp++;
      i++;
    }
    const j = tp / P - fp / N;
    if (j > best) {
      best = j;
      bestT = s;
    }
  }
  return bestT;
}

/** Rounds to 6 decimals for reports (NaN stays null in JSON). */
export function r6(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : null;
}

/**
 * Canonical window features and the regime classifier (spec section 6). Canonical values are
 * published unrounded. The legacy volatility ratio divides a fractional volatility (log returns)
 * by an absolute-price ATR; `regime_normalization: price` divides the ATR by the window's mean
 * close first, which makes the ratio unit-free (the fix the spec names; legacy stays default).
 */
import { WINDOW } from "./codec.js";
import type { CandleColumns, SeriesStats } from "./series-stats.js";
import type { RegimeInfo, RegimeLabel, RegimeNormalization } from "./types.js";

/** The five canonical features of a window (unrounded). */
export interface CanonicalFeatures {
  realized_vol: number;
  atr_mean: number;
  autocorr: number;
  trend_strength: number;
  volume_zscore: number;
}

/** Sum of (i - 31.5)^2 for i = 0..63: the OLS denominator of the trend slope. */
const SXX = (WINDOW * (WINDOW * WINDOW - 1)) / 12;

/**
 * Canonical features of the window starting at `start`. `atrMean` is the window's mean ATR
 * (shared with codec_meta so both come from the same sum).
 */
export function canonicalFeatures(
  cols: CandleColumns,
  stats: SeriesStats,
  start: number,
  atrMean: number,
  scratch: Float64Array = new Float64Array(WINDOW - 1),
): CanonicalFeatures {
  const c = cols.c;
  const n = WINDOW - 1;
  const R = scratch;
  let sumR = 0;
  for (let i = 0; i < n; i++) {
    const r = Math.log(c[start + i + 1]! / c[start + i]!);
    R[i] = r;
    sumR += r;
  }
  const m = sumR / n;
  let ss = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const d = R[i]! - m;
    ss += d * d;
    if (i >= 1) {
      const p = R[i - 1]! - m;
      num += p * d;
      den += p * p;
    }
  }
  const realizedVol = Math.sqrt(ss / n);
  const autocorr = den === 0 ? 0 : num / den;

  let sumC = 0;
  let sumV = 0;
  for (let i = 0; i < WINDOW; i++) {
    sumC += c[start + i]!;
    sumV += cols.v[start + i]!;
  }
  const cm = sumC / WINDOW;
  let sxy = 0;
  let scc = 0;
  for (let i = 0; i < WINDOW; i++) {
    const d = c[start + i]! - cm;
    sxy += (i - (WINDOW - 1) / 2) * d;
    scc += d * d;
  }
  const slope = sxy / SXX;
  const sdC = Math.sqrt(scc / WINDOW);
  const trend = sdC === 0 ? 0 : slope / sdC;
  const vs = stats.volumeSplit;
  return {
    realized_vol: realizedVol,
    atr_mean: atrMean,
    autocorr,
    trend_strength: trend,
    volume_zscore: (sumV / WINDOW - vs) / Math.max(1e-6, vs),
  };
}

/** Mean close of a window (the price the `price` normalisation divides ATR by). */
export function windowMeanClose(cols: CandleColumns, start: number): number {
  let s = 0;
  for (let i = start; i < start + WINDOW; i++) s += cols.c[i]!;
  return s / WINDOW;
}

/** First matching regime rule wins (spec section 6). */
export function classifyRegime(
  f: CanonicalFeatures,
  normalization: RegimeNormalization,
  meanClose: number,
): { label: RegimeLabel; confidence: number } {
  const atr = normalization === "price" ? f.atr_mean / meanClose : f.atr_mean;
  const vr = f.realized_vol / Math.max(1e-6, atr);
  const trend = f.trend_strength;
  const ac = f.autocorr;
  if (trend >= 1.5 && ac >= 0.1) return { label: "trend_bull", confidence: Math.min(1, trend / 3) };
  if (trend <= -1.5 && ac >= 0.1) return { label: "trend_bear", confidence: Math.min(1, Math.abs(trend) / 3) };
  if (vr < 0.75 && Math.abs(ac) < 0.25) return { label: "mean_revert", confidence: 1 - vr };
  if (vr >= 1.5 && Math.abs(ac) < 0.1) return { label: "chaotic", confidence: Math.min(1, vr / 3) };
  return { label: "neutral", confidence: 0.5 };
}

/** Canonical features plus their label and confidence, as published under `regime{}`. */
export function regimeInfo(f: CanonicalFeatures, normalization: RegimeNormalization, meanClose: number): RegimeInfo {
  const { label, confidence } = classifyRegime(f, normalization, meanClose);
  return { label, confidence, ...f };
}

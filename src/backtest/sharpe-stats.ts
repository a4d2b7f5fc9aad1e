/**
 * Honest Sharpe statistics: the probabilistic and the deflated Sharpe ratio.
 *
 * Sources:
 * - PSR: Bailey, D. H. & López de Prado, M. (2012), "The Sharpe Ratio Efficient Frontier",
 *   Journal of Risk 15(2), eq. (5):
 *     PSR(SR*) = Φ( (SR^ - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR^ + (γ4 - 1) / 4 SR^²) )
 *   SR^ the per-period (not annualised) Sharpe ratio of T returns, γ3 their skewness, γ4 their
 *   Pearson kurtosis (3 for a normal). The probability that the true Sharpe exceeds SR*.
 * - DSR: Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
 *   Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
 *   40(5), eq. (2): DSR = PSR(SR0) with the expected maximum Sharpe of N unskilled trials
 *     SR0 = sqrt(V) ( (1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)) )
 *   V the variance of the trials' Sharpe ratios (same per-period unit as SR^), γ the
 *   Euler-Mascheroni constant. N = 1 (one trial, no selection) gives SR0 = 0: DSR = PSR(0).
 *
 * Φ is computed from erf (Taylor series below |x/√2| = 2, Lentz's continued fraction for erfc
 * above; about 1e-15 relative in the tails); Φ⁻¹ from Acklam's rational approximation polished by one
 * Halley step against that Φ.
 */

/** The Euler-Mascheroni constant γ. */
export const EULER_GAMMA = 0.5772156649015329;

/** erfc(x) for x >= 2 by the continued fraction erfc(x) = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))). */
function erfcLarge(x: number): number {
  // Modified Lentz on b0 + a1/(b1 + a2/(b2 + ...)), b_k = x, a_k = k/2.
  const tiny = 1e-300;
  let f = x, c = x, d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** erf(x) by its Taylor series 2/√π Σ (-1)^n x^{2n+1} / (n! (2n+1)) (|x| < 2). */
function erfSmall(x: number): number {
  let term = x, sum = x;
  const x2 = x * x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** The standard normal CDF Φ(x). */
export function normCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return 1;
  if (x === Number.NEGATIVE_INFINITY) return 0;
  const z = x / Math.SQRT2;
  if (z >= 2) return 1 - 0.5 * erfcLarge(z);
  if (z <= -2) return 0.5 * erfcLarge(-z);
  return 0.5 * (1 + erfSmall(z));
}

const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/** The standard normal quantile Φ⁻¹(p) (±Infinity at 0 and 1). */
export function normInv(p: number): number {
  if (!(p >= 0 && p <= 1)) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  // 1 - p is exact for p >= 0.5 (Sterbenz): solve in the lower tail, where Φ keeps its digits.
  if (p > 0.5) return -normInv(1 - p);
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((C[0]! * q + C[1]!) * q + C[2]!) * q + C[3]!) * q + C[4]!) * q + C[5]!) / ((((D[0]! * q + D[1]!) * q + D[2]!) * q + D[3]!) * q + 1);
  } else {
    const q = p - 0.5, r = q * q;
    x = ((((((A[0]! * r + A[1]!) * r + A[2]!) * r + A[3]!) * r + A[4]!) * r + A[5]!) * q) / (((((B[0]! * r + B[1]!) * r + B[2]!) * r + B[3]!) * r + B[4]!) * r + 1);
  }
  // One Halley step: e = Φ(x) - p, u = e √(2π) e^{x²/2}, x -= u / (1 + x u / 2).
  const e = normCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** What PSR and DSR need of a return series (per-period Sharpe, population moments). */
export interface SharpeSample {
  /** Per-period Sharpe ratio mean / pstdev (not annualised). */
  readonly sharpe_period: number;
  /** Skewness γ3. */
  readonly skew: number;
  /** Pearson kurtosis γ4 (3 for a normal). */
  readonly kurtosis: number;
  /** Number of returns. */
  readonly T: number;
}

/**
 * PSR(SR*) (Bailey & López de Prado 2012, eq. 5; see the header). null when it is undefined:
 * fewer than 2 returns, or a non-positive variance term (moments that no distribution has).
 */
export function probabilisticSharpe(s: SharpeSample, benchmark = 0): number | null {
  if (!(s.T >= 2)) return null;
  const sr = s.sharpe_period;
  const v = 1 - s.skew * sr + ((s.kurtosis - 1) / 4) * sr * sr;
  if (!(v > 0)) return null;
  return normCdf(((sr - benchmark) * Math.sqrt(s.T - 1)) / Math.sqrt(v));
}

/** SR0, the expected maximum per-period Sharpe of `n` unskilled trials whose Sharpes vary by `variance` (2014, eq. 2). */
export function expectedMaxSharpe(n: number, variance: number): number {
  if (!(n > 1) || !(variance > 0)) return 0;
  return Math.sqrt(variance) * ((1 - EULER_GAMMA) * normInv(1 - 1 / n) + EULER_GAMMA * normInv(1 - 1 / (n * Math.E)));
}

/** Sample variance (n - 1) of the trials' Sharpe ratios; 0 with fewer than two. */
export function sharpeVariance(sharpes: readonly number[]): number {
  const n = sharpes.length;
  if (n < 2) return 0;
  const m = sharpes.reduce((a, b) => a + b, 0) / n;
  return sharpes.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
}

/** The deflated Sharpe ratio of the selected trial `s` among `n` trials of Sharpe variance `variance`. */
export function deflatedSharpe(s: SharpeSample, n: number, variance: number): { dsr: number | null; sr0: number } {
  const sr0 = expectedMaxSharpe(n, variance);
  return { dsr: probabilisticSharpe(s, sr0), sr0 };
}

/**
 * Backtest metrics (gate-spec section 11), floats, no rounding:
 *   pnl = last equity - NAV; return_pct = pnl / NAV (a fraction)
 *   daily returns: the last equity of each UTC date of t (dates without candles are absent),
 *     each against the previous date's value, the first against the first minute's equity
 *   sharpe = sqrt(252) mean / pstdev of the daily returns, 0 when pstdev = 0 (one date: 0);
 *     sharpe_period = mean / pstdev (not annualised); skew = m3 / m2^1.5 and kurtosis = m4 / m2^2
 *     (population moments, Pearson kurtosis: 3 for a normal; both 0 when m2 = 0); T = returns
 *   max_dd = max(peak - equity), peak = running max from the first minute (currency);
 *     max_dd_pct = max((peak - equity) / peak) (this project's addition: a fraction)
 *   trades = trade records; win_rate = records with pnl > 0 / records (0 if none);
 *     avg_mae = mean |mae| over the records
 *   exposure = share of candles holding a position; avg_gross_exposure = mean USD notional / NAV;
 *     turnover = USD notional traded / NAV; costs = costs paid (currency)
 */
import { DAY_MS } from "../market/weeks.js";
import type { Trade } from "./book.js";

/** One UTC date's closing equity and its return. */
export interface DailyPoint {
  readonly date: string;
  readonly equity: number;
  readonly ret: number;
}

/** Last equity of each UTC date, with returns as the header defines them. */
export function dailyReturns(times: ArrayLike<number>, equity: ArrayLike<number>): DailyPoint[] {
  const out: DailyPoint[] = [];
  if (times.length === 0) return out;
  let prev = equity[0]!;
  for (let i = 0; i < times.length; i++) {
    const d = Math.floor(times[i]! / DAY_MS);
    if (i === times.length - 1 || Math.floor(times[i + 1]! / DAY_MS) !== d) {
      const e = equity[i]!;
      out.push({ date: new Date(d * DAY_MS).toISOString().slice(0, 10), equity: e, ret: e / prev - 1 });
      prev = e;
    }
  }
  return out;
}

/** Population moments of the returns and the Sharpe ratios (see the header). */
export interface ReturnStats {
  readonly sharpe: number;
  readonly sharpe_period: number;
  readonly skew: number;
  readonly kurtosis: number;
  readonly T: number;
  readonly mean: number;
  readonly std: number;
}

/** Sharpe, per-period Sharpe, skew, kurtosis and T of a return series. */
export function returnStats(r: readonly number[]): ReturnStats {
  const T = r.length;
  if (T === 0) return { sharpe: 0, sharpe_period: 0, skew: 0, kurtosis: 0, T, mean: 0, std: 0 };
  let s = 0;
  for (const x of r) s += x;
  const mean = s / T;
  let m2 = 0, m3 = 0, m4 = 0;
  for (const x of r) {
    const d = x - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= T;
  m3 /= T;
  m4 /= T;
  const std = Math.sqrt(m2);
  if (std === 0) return { sharpe: 0, sharpe_period: 0, skew: 0, kurtosis: 0, T, mean, std };
  const sp = mean / std;
  return { sharpe: Math.sqrt(252) * sp, sharpe_period: sp, skew: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2), T, mean, std };
}

/** Max drawdown from the first minute: in currency and as a fraction of the peak. */
export function maxDrawdown(equity: ArrayLike<number>): { max_dd: number; max_dd_pct: number } {
  let peak = Number.NEGATIVE_INFINITY, dd = 0, ddPct = 0;
  for (let i = 0; i < equity.length; i++) {
    const e = equity[i]!;
    if (e > peak) peak = e;
    if (peak - e > dd) dd = peak - e;
    if (peak > 0 && (peak - e) / peak > ddPct) ddPct = (peak - e) / peak;
  }
  return { max_dd: dd, max_dd_pct: ddPct };
}

/** Every metric of one run or of an aggregated curve. */
export interface Metrics extends Omit<ReturnStats, "mean" | "std"> {
  readonly pnl: number;
  readonly return_pct: number;
  readonly max_dd: number;
  readonly max_dd_pct: number;
  readonly trades: number;
  readonly win_rate: number;
  readonly avg_mae: number;
  readonly exposure: number;
  readonly avg_gross_exposure: number;
  readonly turnover: number;
  readonly costs: number;
  readonly candles: number;
  readonly daily: readonly DailyPoint[];
}

/** Inputs of `computeMetrics`: an equity curve and what was traded along it. */
export interface MetricInput {
  readonly nav: number;
  readonly times: ArrayLike<number>;
  readonly equity: ArrayLike<number>;
  /** USD notional held after each point. */
  readonly exposure: ArrayLike<number>;
  readonly trades: readonly Trade[];
  readonly costs: number;
  readonly traded: number;
  /** Daily returns computed elsewhere (a span of weekly accounts, variant.ts); default from the curve. */
  readonly daily?: readonly DailyPoint[];
}

/** The section-11 metrics plus the report's (see the header). */
export function computeMetrics(x: MetricInput): Metrics {
  const n = x.equity.length;
  const last = n > 0 ? x.equity[n - 1]! : x.nav;
  const pnl = last - x.nav;
  const daily = x.daily ?? dailyReturns(x.times, x.equity);
  const rs = returnStats(daily.map((d) => d.ret));
  const dd = maxDrawdown(x.equity);
  const wins = x.trades.filter((t) => t.pnl > 0).length;
  let held = 0, gross = 0;
  for (let i = 0; i < n; i++) {
    if (x.exposure[i]! > 0) held++;
    gross += x.exposure[i]!;
  }
  return {
    pnl,
    return_pct: pnl / x.nav,
    sharpe: rs.sharpe,
    sharpe_period: rs.sharpe_period,
    skew: rs.skew,
    kurtosis: rs.kurtosis,
    T: rs.T,
    max_dd: dd.max_dd,
    max_dd_pct: dd.max_dd_pct,
    trades: x.trades.length,
    win_rate: x.trades.length === 0 ? 0 : wins / x.trades.length,
    avg_mae: x.trades.length === 0 ? 0 : x.trades.reduce((a, t) => a + Math.abs(t.mae), 0) / x.trades.length,
    exposure: n === 0 ? 0 : held / n,
    avg_gross_exposure: n === 0 ? 0 : gross / n / x.nav,
    turnover: x.traded / x.nav,
    costs: x.costs,
    candles: n,
    daily,
  };
}

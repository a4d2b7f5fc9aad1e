/**
 * Comparison documents for the promotion tests: summaries whose Sharpe, skew, kurtosis and T
 * come from a daily return series (src/backtest/metrics.ts), compared as the rule does.
 */
import { compare, ROW_METRICS, type VariantSummary } from "../../src/backtest/comparison.js";
import { returnStats } from "../../src/backtest/metrics.js";

export const WEEKS = ["2025-10-06", "2025-10-13"];
export const INSTS = ["EUR_USD", "USD_JPY"];
export const DIGEST = "ab".repeat(32);

/** A summary of `rets` (daily returns) on a 200 000 account. */
export function summary(variant: string, kind: string, rets: number[], extra: Record<string, unknown> = {}): VariantSummary {
  const m = Object.fromEntries(ROW_METRICS.map((k) => [k, 0]));
  const per_week = Object.fromEntries(WEEKS.map((w) => [w, { pnl: 0, sharpe: 0, trades: 0 }]));
  return {
    ...m, ...returnStats(rets), pnl: 200000 * rets.reduce((a, r) => a + r, 0), variant, kind, weeks: WEEKS, capital: 200000, instruments: INSTS, per_week,
    params: { hazard: null, hazardMultiplier: 1 }, profile: { path: "config/open_fxday.yaml", sha256: "cd".repeat(32) }, ...extra,
  } as VariantSummary;
}

/** Zero-mean noise (a fixed pattern), scaled, plus a daily drift. */
export const noise = (scale: number, drift: number): number[] => [1, -1, 0.5, -0.5, 1.5, -1.5, 0.25, -0.25, 0.75, -0.75].map((x) => x * scale + drift);

/** A model's threshold as rules/backtest.ts records it (`validation_sharpe`): candidates with validation Sharpes. */
export function threshold(values: number[], sharpes: number[]) {
  const best = sharpes.indexOf(Math.max(...sharpes));
  return { value: values[best]!, method: "max Sharpe on the validation weeks", chosen_on: "validation", candidates: values.map((value, i) => ({ value, sharpe: sharpes[i]!, pnl: 0, trades: 1 })) };
}

/** A comparison: heuristic paying costs, one model (edge `drift` a day), no_trade; `edit` tweaks the summaries. */
export function comparisonDoc(drift: number, edit: (s: VariantSummary[]) => void = () => {}): Record<string, unknown> {
  const list = [
    summary("heuristic", "heuristic", noise(0.002, -0.0004), { trades: 400, costs: 2800 }),
    summary("lstm", "model", noise(0.0005, drift), { trades: 80, costs: 560, model: "lstm", model_digest: DIGEST, threshold: threshold([0.55, 0.62, 0.7], [0.5, 2.0, 1.0]) }),
    summary("gru", "model", noise(0.0005, drift / 2), { trades: 90, costs: 600, model: "gru", model_digest: "ef".repeat(32), threshold: threshold([0.5, 0.6], [0.2, 0.4]) }),
    summary("no_trade", "no_trade", new Array(10).fill(0)),
  ];
  edit(list);
  return JSON.parse(JSON.stringify(compare(list)));
}

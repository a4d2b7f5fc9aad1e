/**
 * One backtest variant over several instruments and weeks: each (instrument, week) is one
 * legacy run (simulator.ts) from its own NAV (the balance), as the legacy weekly runs are.
 * The account is one balance per instrument (capital = balance x instruments); each week's
 * runs add up on it (portfolio.ts) and the weeks chain by their P&L into the NAV curve.
 * Daily returns are taken week by week, each week against its own account (so a losing span
 * cannot turn the returns' sign by driving a chained balance negative), and concatenated:
 * Sharpe, skew, kurtosis and T are over them. P&L, drawdown, exposure and turnover use the
 * chained curve; return_pct = pnl / capital. Metrics come for the span, per week and per
 * instrument (capital = one balance).
 *
 * Variants: `heuristic` (the gates alone), a model (the gates with the ml guardrail: tradable
 * only if the score of the minute's direction, P(up) for a BUY and 1 - P(up) for a SELL, is
 * >= threshold (admission.ts scoreAllows), hazard guard as the profile/params say), `no_trade` (no gates:
 * every minute is `missing_gate`, the NAV stays flat).
 */
import type { SimProfile } from "../sep/profile.js";
import type { Trade } from "./book.js";
import type { SimGate } from "./gates.js";
import { computeMetrics, dailyReturns, type Metrics } from "./metrics.js";
import type { SimParams } from "./params.js";
import { resolveRules } from "./params.js";
import { combineRuns, type Curve } from "./portfolio.js";
import { simulate, type MidPoint, type MinuteCounts, type SimRun } from "./simulator.js";

/** One (instrument, week) input. */
export interface RunInput {
  readonly week: string;
  readonly instrument: string;
  readonly prices: readonly MidPoint[];
  readonly gates: readonly SimGate[];
}

/** Metrics without the daily list (per-week and per-instrument tables). */
export type BriefMetrics = Omit<Metrics, "daily">;

/** The result of a variant. */
export interface VariantResult {
  /** balance x instruments. */
  readonly capital: number;
  readonly curve: Curve;
  readonly totals: Metrics;
  readonly perWeek: Record<string, BriefMetrics>;
  readonly perInstrument: Record<string, BriefMetrics>;
  readonly trades: readonly (Trade & { week: string })[];
  readonly minutes: MinuteCounts;
}

function metricsOf(tagged: readonly { week: string; run: SimRun }[], capital: number): { curve: Curve; m: Metrics } {
  const runs = tagged.map((r) => r.run);
  const curve = combineRuns(runs, capital);
  const daily = [...new Set(tagged.map((r) => r.week))].sort().flatMap((w) => {
    const c = combineRuns(tagged.filter((r) => r.week === w).map((r) => r.run), capital);
    return dailyReturns(c.times, c.equity);
  });
  const m = computeMetrics({
    nav: capital,
    daily,
    times: curve.times,
    equity: curve.equity,
    exposure: curve.exposure,
    trades: runs.flatMap((r) => r.trades),
    costs: runs.reduce((a, r) => a + r.costs, 0),
    traded: runs.reduce((a, r) => a + r.traded, 0),
  });
  return { curve, m };
}

const brief = (m: Metrics): BriefMetrics => {
  const { daily: _d, ...rest } = m;
  return rest;
};

/** Runs every input with `profile`'s rules; `threshold` set = the guardrail; `noTrade` drops the gates. */
export function runVariant(inputs: readonly RunInput[], profile: SimProfile, params: SimParams, opts: { threshold?: number; noTrade?: boolean } = {}): VariantResult {
  const runs: { week: string; run: SimRun }[] = [];
  for (const x of inputs) {
    const rules = resolveRules(profile, x.instrument, params, opts.threshold);
    runs.push({ week: x.week, run: simulate(x.prices, opts.noTrade ? [] : x.gates, rules, params, profile) });
  }
  const instruments = [...new Set(runs.map((r) => r.run.instrument))].sort();
  const capital = params.balance * Math.max(1, instruments.length);
  const all = metricsOf(runs, capital);
  const perWeek: Record<string, BriefMetrics> = {};
  for (const w of [...new Set(runs.map((r) => r.week))].sort()) perWeek[w] = brief(metricsOf(runs.filter((r) => r.week === w), capital).m);
  const perInstrument: Record<string, BriefMetrics> = {};
  for (const i of instruments) perInstrument[i] = brief(metricsOf(runs.filter((r) => r.run.instrument === i), params.balance).m);
  const minutes = { candles: 0, ready: 0, entries: 0, missing_gate: 0, session_blocked: 0, semantic_blocked: 0, not_admitted: 0, opposite_side_blocked: 0, repeated_signal: 0 } as MinuteCounts;
  for (const { run } of runs) for (const k of Object.keys(minutes) as (keyof MinuteCounts)[]) minutes[k] += run.counts[k];
  const trades = runs
    .flatMap((r) => r.run.trades.map((t) => ({ ...t, week: r.week })))
    .sort((a, b) => a.week.localeCompare(b.week) || a.instrument.localeCompare(b.instrument) || a.exit_time - b.exit_time);
  return { capital, curve: all.curve, totals: all.m, perWeek, perInstrument, trades, minutes };
}

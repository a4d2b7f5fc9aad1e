/**
 * The verdict (src/backtest/verdict.ts, through compare()): on a no-edge market (zero-mean
 * daily returns, the heuristic paying costs) nothing is promoted, and a model that loses less
 * only by trading less is called out; a planted edge is promoted; N counts threshold
 * candidates and sweep trials; the candidate is picked on validation Sharpes, never backtest.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compare, formatComparisonMd, ROW_METRICS, type VariantSummary } from "../../src/backtest/comparison.js";
import { returnStats } from "../../src/backtest/metrics.js";
import type { Verdict } from "../../src/backtest/verdict.js";

const WEEKS = ["2025-10-06", "2025-10-13"];

/** A summary whose Sharpe, skew, kurtosis and T come from `rets` (daily returns). */
function summary(variant: string, kind: string, rets: number[], extra: Record<string, unknown> = {}): VariantSummary {
  const st = returnStats(rets);
  const pnl = 700000 * rets.reduce((a, r) => a + r, 0);
  const m = Object.fromEntries(ROW_METRICS.map((k) => [k, 0]));
  return { ...m, ...st, pnl, variant, kind, weeks: WEEKS, capital: 700000, instruments: ["EUR_USD"], per_week: {}, params: { hazard: null, hazardMultiplier: 1 }, ...extra } as VariantSummary;
}

/** Zero-mean noise (a fixed pattern), scaled, plus a daily drift. */
const noise = (scale: number, drift: number): number[] => [1, -1, 0.5, -0.5, 1.5, -1.5, 0.25, -0.25, 0.75, -0.75].map((x) => x * scale + drift);
const cands = (sharpes: number[]) => ({ value: 0.6, method: "max Sharpe on the validation weeks", chosen_on: "validation", candidates: sharpes.map((sharpe, i) => ({ value: 0.5 + i / 10, sharpe, pnl: 0, trades: 1 })) });

test("no edge: the heuristic loses its costs, a model that trades less loses less, nothing is promoted", () => {
  const doc = compare([
    summary("heuristic", "heuristic", noise(0.002, -0.0004), { trades: 400, costs: 2800 }),
    summary("lstm", "model", noise(0.0005, -0.0001), { trades: 60, costs: 420, model: "lstm", model_digest: "d1", threshold: cands([0.3, 0.8, -0.2]) }),
    summary("no_trade", "no_trade", new Array(10).fill(0)),
  ]);
  const v = doc["verdict"] as Verdict;
  assert.is(v.label, "no edge");
  assert.is(v.promoted, false);
  assert.is(v.candidate!.model, "lstm");
  assert.is(v.candidate!.beats_heuristic, true);
  assert.is(v.candidate!.beats_no_trade, false);
  assert.ok(v.candidate!.dsr! < 0.95);
  const rows = doc["variants"] as Record<string, unknown>[];
  assert.is(rows[1]!["beats_no_trade"], false);
  assert.is(rows[2]!["psr"], 0.5, "flat account: no evidence either way");
  assert.ok((rows[0]!["psr"] as number) < 0.5, "a losing heuristic");
  const md = formatComparisonMd(doc);
  assert.match(md, /## Verdict: no edge/);
  assert.match(md, /\*\*No edge\.\*\* No model is promoted/);
  assert.match(md, /lstm beats the heuristic only by trading less \(60 trades against 400/);
  assert.match(md, /does not beat not trading/);
  assert.match(md, /The heuristic itself loses/);
});

test("a planted edge is promoted; the same edge among many more trials is not", () => {
  const variants = (sweeps: number) => compare(
    [
      summary("heuristic", "heuristic", noise(0.002, -0.0004), { trades: 400, costs: 2800 }),
      summary("lstm", "model", noise(0.0005, 0.0006), { trades: 80, costs: 560, model: "lstm", model_digest: "d1", threshold: cands([0.5, 2.0, 1.0]) }),
      summary("no_trade", "no_trade", new Array(10).fill(0)),
    ],
    { sweeps: sweeps ? [{ ledger: "output/ml_models/sweeps/lstm/ledger.jsonl", model: "lstm", trials_tried: sweeps }] : [] },
  )["verdict"] as Verdict;
  const v = variants(0);
  assert.is(v.trials.N, 3, "three threshold candidates");
  assert.is(v.label, "promoted", v.paragraph);
  assert.ok(v.candidate!.dsr! >= 0.95);
  assert.match(v.paragraph, /\*\*Promoted: lstm\.\*\*/);
  const many = variants(1_000_000);
  assert.is(many.trials.N, 1_000_003);
  assert.ok(many.trials.sr0 > v.trials.sr0);
  assert.ok(many.candidate!.dsr! < v.candidate!.dsr!, "more trials deflate more");
});

test("the candidate is the best validation Sharpe, not the best backtest", () => {
  const doc = compare([
    summary("heuristic", "heuristic", noise(0.002, -0.0004)),
    summary("gru", "model", noise(0.0005, 0.0009), { model: "gru", threshold: cands([0.1, 0.2]) }),
    summary("lstm", "model", noise(0.0005, 0.0001), { model: "lstm", threshold: cands([0.1, 1.5]) }),
    summary("no_trade", "no_trade", new Array(10).fill(0)),
  ]);
  const v = doc["verdict"] as Verdict;
  assert.is(v.candidate!.model, "lstm");
  assert.is(v.candidate!.selected_on, "validation");
  assert.is(v.trials.N, 4);
});

test("trials whose Sharpes do not vary: V falls back to the null variance 1/(T - 1)", () => {
  const doc = compare([
    summary("heuristic", "heuristic", noise(0.002, -0.0004)),
    summary("lstm", "model", noise(0.0005, 0.0006), { model: "lstm", threshold: cands([1.2, 1.2, 1.2]) }),
    summary("no_trade", "no_trade", new Array(10).fill(0)),
  ]);
  const t = (doc["verdict"] as Verdict).trials;
  assert.is(t.V_source, "null");
  assert.is(t.V, 1 / 9, "T = 10 returns");
  assert.ok(t.sr0 > 0);
  assert.match(formatComparisonMd(doc), /do not vary: the null variance 1\/\(T - 1\)/);
});

test("a candidate picked among several models on the backtest weeks (no validation Sharpes) is never promoted", () => {
  const fixed = { value: 0.6, method: "fixed (pipeline param)", chosen_on: "param" };
  const doc = compare([
    summary("heuristic", "heuristic", noise(0.002, -0.0004), { trades: 400, costs: 2800 }),
    summary("lstm", "model", noise(0.0005, 0.0006), { trades: 80, costs: 560, model: "lstm", model_digest: "d1", threshold: fixed }),
    summary("gru", "model", noise(0.0005, 0.0001), { trades: 80, costs: 560, model: "gru", model_digest: "d2", threshold: fixed }),
    summary("no_trade", "no_trade", new Array(10).fill(0)),
  ]);
  const v = doc["verdict"] as Verdict;
  assert.is(v.candidate!.selected_on, "backtest");
  assert.is(v.promoted, false);
  assert.ok(v.reasons.some((r) => /chosen among 2 models on the backtest weeks/.test(r)), v.reasons.join("; "));
});

test.run();

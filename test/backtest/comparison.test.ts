/**
 * The comparison refuses variants that did not run on the same weeks and account, and orders
 * the rows heuristic, models, no_trade.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compare, ROW_METRICS, type VariantSummary } from "../../src/backtest/comparison.js";

function summary(variant: string, kind: string, extra: Record<string, unknown> = {}): VariantSummary {
  const m = Object.fromEntries(ROW_METRICS.map((k) => [k, 0]));
  return { ...m, variant, kind, weeks: ["2025-10-06"], capital: 700000, instruments: ["EUR_USD"], per_week: {}, pnl: 0, ...extra } as VariantSummary;
}

test("rows ordered heuristic, models, no_trade; each against the heuristic", () => {
  const d = compare([summary("no_trade", "no_trade"), summary("zz", "model", { pnl: 5 }), summary("heuristic", "heuristic", { pnl: -3 }), summary("aa", "model", { pnl: -4 })]);
  const rows = d["variants"] as { variant: string; pnl_vs_heuristic?: number; beats_heuristic?: boolean }[];
  assert.equal(rows.map((r) => r.variant), ["heuristic", "aa", "zz", "no_trade"]);
  assert.equal([rows[1]!.pnl_vs_heuristic, rows[1]!.beats_heuristic], [-1, false]);
  assert.equal([rows[2]!.pnl_vs_heuristic, rows[2]!.beats_heuristic], [8, true]);
  assert.is(rows[0]!.pnl_vs_heuristic, undefined);
});

test("different weeks or accounts are refused, naming both", () => {
  assert.throws(() => compare([summary("heuristic", "heuristic"), summary("m", "model", { weeks: ["2025-10-13"] })]), /different weeks: heuristic on 2025-10-06, m on 2025-10-13/);
  assert.throws(() => compare([summary("heuristic", "heuristic"), summary("m", "model", { capital: 100000 })]), /different accounts: heuristic \(capital 700000/);
});

test.run();

/**
 * ROC summary (`roc_summary_{start}_{end}.json`, ROC_SUMMARY_VERSION 1): per regime label and
 * horizon, over gates whose label at that horizon is complete: `count`, `avg_roc_pct` (mean
 * forward return, percent) and `positive_pct` (share of returns > 0, percent). `all` pools
 * every regime. Averages are rounded half-even to 6 decimals; null when count is 0.
 *   {"all": {"5": {...}, ...}, "by_regime": {"mean_revert": {"5": {...}}}, "gates": N,
 *    "mode": "rolling", "version": 1, "week_end": "...", "week_start": "..."}
 */
import type { GateRecord } from "./records.js";
import { roundHalfEven } from "./round.js";
import { HORIZONS_MIN } from "./types.js";

/** Version of the summary format. */
export const ROC_SUMMARY_VERSION = 1;

/** One cell of the summary. */
export interface RocCell {
  count: number;
  avg_roc_pct: number | null;
  positive_pct: number | null;
}

/** The summary document. */
export interface RocSummary {
  version: typeof ROC_SUMMARY_VERSION;
  mode: string;
  week_start: string;
  week_end: string;
  gates: number;
  all: Record<string, RocCell>;
  by_regime: Record<string, Record<string, RocCell>>;
}

class Acc {
  n = 0;
  sum = 0;
  pos = 0;
  add(x: number): void {
    this.n++;
    this.sum += x;
    if (x > 0) this.pos++;
  }
  cell(): RocCell {
    return this.n === 0
      ? { count: 0, avg_roc_pct: null, positive_pct: null }
      : { count: this.n, avg_roc_pct: roundHalfEven(this.sum / this.n, 6), positive_pct: roundHalfEven((100 * this.pos) / this.n, 6) };
  }
}

/** Summarises gates (in their output order, so sums are deterministic). */
export function rocSummary(gates: readonly GateRecord[], meta: { mode: string; week_start: string; week_end: string }): RocSummary {
  const all = new Map<string, Acc>();
  const byRegime = new Map<string, Map<string, Acc>>();
  for (const h of HORIZONS_MIN) all.set(String(h), new Acc());
  for (const g of gates) {
    let m = byRegime.get(g.regime.label);
    if (!m) {
      m = new Map(HORIZONS_MIN.map((h) => [String(h), new Acc()]));
      byRegime.set(g.regime.label, m);
    }
    for (const h of HORIZONS_MIN) {
      const v = g.roc_forward_pct[String(h)];
      if (v === null || v === undefined) continue;
      all.get(String(h))!.add(v);
      m.get(String(h))!.add(v);
    }
  }
  const cells = (m: Map<string, Acc>): Record<string, RocCell> =>
    Object.fromEntries([...m.entries()].map(([k, a]) => [k, a.cell()]));
  return {
    version: ROC_SUMMARY_VERSION,
    mode: meta.mode,
    week_start: meta.week_start,
    week_end: meta.week_end,
    gates: gates.length,
    all: cells(all),
    by_regime: Object.fromEntries([...byRegime.keys()].sort().map((k) => [k, cells(byRegime.get(k)!)])),
  };
}

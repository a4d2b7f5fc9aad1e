/**
 * Lead-lag study over the last N weeks of the corpus: per instrument and week, the mean
 * structure metrics and their week-over-week changes against the mean forward return at each
 * horizon, with one OLS fit per horizon (coefficients and t statistics).
 *
 * Metric defaults avoid exact identities of the spec (stability = 1 - hazard,
 * coherence = 1 - entropy when entropy <= 1), which would make the design singular.
 */
import { sqlString, withDuckDb } from "../io/duckdb.js";
import { ols, OlsError } from "../ml/ols.js";
import { r6 } from "../ml/metrics.js";
import { sourceCondition } from "./source-filter.js";
import { formatIsoDate, WEEK_MS } from "../market/weeks.js";

/** Format version of lead_lag_features.csv and lead_lag_model.json. */
export const LEAD_LAG_VERSION = 1;

/** Default metrics (corpus columns without the `structure_` prefix, or `hazard`). */
export const DEFAULT_LEAD_LAG_METRICS = ["coherence", "hazard", "coherence_tau_slope", "domain_wall_slope", "spectral_lowf_share"] as const;

/** One instrument-week row. */
export interface LeadLagRow {
  readonly instrument: string;
  readonly week: string;
  readonly gates: number;
  readonly mean: Record<string, number | null>;
  readonly delta: Record<string, number | null>;
  readonly fwd: Record<string, number | null>;
}

function column(metric: string): string {
  return metric === "hazard" ? "hazard" : `structure_${metric}`;
}

/** Aggregates the corpus (one run mode, one source filter, the last `weeks` weeks). */
export async function leadLagRows(paths: readonly string[], opts: { run_mode: string; weeks: number; metrics: readonly string[]; horizons: readonly number[]; source?: string }): Promise<{ rows: LeadLagRow[]; weeks: string[] }> {
  const list = `[${paths.map(sqlString).join(", ")}]`;
  return withDuckDb(async (c) => {
    // Same source filter as the baseline: merged legacy rows stay out unless asked for.
    await c.run(`CREATE VIEW t AS SELECT * FROM read_parquet(${list}, union_by_name = true) WHERE run_mode = ${sqlString(opts.run_mode)} AND ${sourceCondition(opts.source)}`);
    const weeks = (await c.runAndReadAll(`SELECT DISTINCT week FROM t ORDER BY week DESC LIMIT ${Math.trunc(opts.weeks)}`)).getRows().map((r) => String(r[0])).reverse();
    if (weeks.length === 0) return { rows: [], weeks };
    const means = opts.metrics.map((m) => `avg(${column(m)}) AS "m_${m}"`);
    const fwds = opts.horizons.map((h) => `avg(roc_forward_pct_${h}) AS "f_${h}"`);
    const r = await c.runAndReadAll(
      `SELECT instrument, week, count(*) AS n, ${[...means, ...fwds].join(", ")} FROM t
       WHERE week IN (${weeks.map(sqlString).join(", ")}) GROUP BY instrument, week ORDER BY instrument, week`,
    );
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    const rows: LeadLagRow[] = [];
    let prev: LeadLagRow | null = null;
    for (const row of r.getRows()) {
      const inst = String(row[0]);
      const week = String(row[1]);
      const mean: Record<string, number | null> = {};
      opts.metrics.forEach((m, i) => (mean[m] = num(row[3 + i])));
      const fwd: Record<string, number | null> = {};
      opts.horizons.forEach((h, i) => (fwd[String(h)] = num(row[3 + opts.metrics.length + i])));
      // Change vs the same instrument's previous week (null for its first week, or when the
      // week before is missing: a two-week change is not a week-over-week change).
      const delta: Record<string, number | null> = {};
      const monday = Date.parse(`${week}T00:00:00Z`); // NaN for ISO week ids: then trust the order
      const weekBefore = Number.isNaN(monday) ? undefined : formatIsoDate(monday - WEEK_MS);
      const p = prev && prev.instrument === inst && (weekBefore === undefined || prev.week === weekBefore) ? prev : null;
      for (const m of opts.metrics) delta[m] = p && p.mean[m] !== null && mean[m] !== null ? mean[m]! - p.mean[m]! : null;
      const cur = { instrument: inst, week, gates: Number(row[2]), mean, delta, fwd };
      rows.push(cur);
      prev = cur;
    }
    return { rows, weeks };
  });
}

function csvNum(v: number | null): string {
  return v === null || !Number.isFinite(v) ? "" : String(v);
}

/** The CSV (header comment with the format version, then a header row). */
export function renderLeadLagCsv(rows: readonly LeadLagRow[], metrics: readonly string[], horizons: readonly number[]): string {
  const head = ["instrument", "week", "gates", ...metrics.map((m) => `mean_${m}`), ...metrics.map((m) => `delta_${m}`), ...horizons.map((h) => `mean_roc_forward_pct_${h}`)];
  const lines = [
    `# dagbuild lead_lag_features, format version ${LEAD_LAG_VERSION}: per instrument-week means, week-over-week deltas, mean forward returns (percent)`,
    head.join(","),
    ...rows.map((r) => [r.instrument, r.week, String(r.gates), ...metrics.map((m) => csvNum(r.mean[m]!)), ...metrics.map((m) => csvNum(r.delta[m]!)), ...horizons.map((h) => csvNum(r.fwd[String(h)]!))].join(",")),
  ];
  return lines.join("\n") + "\n";
}

/** One OLS fit per horizon: y = mean forward return, X = [1, means..., deltas...]. */
export function fitLeadLag(rows: readonly LeadLagRow[], metrics: readonly string[], horizons: readonly number[]): Record<string, unknown> {
  const names = ["intercept", ...metrics.map((m) => `mean_${m}`), ...metrics.map((m) => `delta_${m}`)];
  const out: Record<string, unknown> = {};
  for (const h of horizons) {
    const X: number[][] = [];
    const y: number[] = [];
    for (const r of rows) {
      const f = r.fwd[String(h)];
      const xs = [1, ...metrics.map((m) => r.mean[m]), ...metrics.map((m) => r.delta[m])];
      if (f === null || f === undefined || xs.some((v) => v === null || v === undefined)) continue;
      X.push(xs as number[]);
      y.push(f);
    }
    try {
      const fit = ols(X, y);
      out[String(h)] = {
        n: fit.n,
        r2: r6(fit.r2),
        coefficients: Object.fromEntries(names.map((n, i) => [n, { coef: fit.coef[i], stderr: fit.stderr[i], t: r6(fit.t[i]!) }])),
      };
    } catch (e) {
      // A singular or too-short design is a result to report, not a build failure.
      if (e instanceof OlsError) out[String(h)] = { n: y.length, error: e.message };
      else throw e;
    }
  }
  return out;
}

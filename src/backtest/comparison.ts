/**
 * The backtest comparison (format `dagbuild.backtest_comparison`, version 2): every variant's
 * summary.json on the same weeks, side by side, each against the heuristic and against not
 * trading after costs, with its probabilistic Sharpe ratio against 0, and the verdict
 * (verdict.ts: the candidate model's deflated Sharpe ratio over every trial counted).
 * comparison.json holds the rows and the verdict; comparison.md renders them, the verdict as
 * one paragraph first.
 * Version 2 added `psr`, `*_vs_no_trade`, `beats_no_trade` to the rows and `verdict`.
 */
import { stableStringify } from "../sep/records.js";
import { BacktestInputError } from "./gates.js";
import { probabilisticSharpe } from "./sharpe-stats.js";
import { decide, DEFAULT_DSR_LEVEL, type SweepTrials, type Verdict, type VerdictVariant } from "./verdict.js";

/** Version of comparison.json. */
export const COMPARISON_FORMAT_VERSION = 2;

/** The metrics a comparison row carries (from summary.json). */
export const ROW_METRICS = [
  "pnl", "return_pct", "sharpe", "sharpe_period", "skew", "kurtosis", "T", "max_dd", "max_dd_pct",
  "trades", "win_rate", "exposure", "avg_gross_exposure", "turnover", "costs",
] as const;

/** One variant's summary as the comparison reads it. */
export interface VariantSummary {
  readonly variant: string;
  readonly kind: string;
  readonly weeks: readonly string[];
  readonly model?: string;
  readonly model_digest?: string | null;
  readonly threshold?: { value: number; method: string; chosen_on: string };
  readonly per_week: Readonly<Record<string, Record<string, number>>>;
  readonly [k: string]: unknown;
}

/** Parses one summary.json; `shown` labels errors. */
export function parseVariantSummary(text: string, shown: string): VariantSummary {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new BacktestInputError(`${shown}: not valid JSON: ${(e as Error).message}`);
  }
  if (d["format"] !== "dagbuild.backtest" || d["version"] !== 1) throw new BacktestInputError(`${shown}: not a dagbuild.backtest summary version 1`);
  for (const k of ROW_METRICS) if (typeof d[k] !== "number") throw new BacktestInputError(`${shown}: field "${k}": expected a number`);
  if (!Array.isArray(d["weeks"])) throw new BacktestInputError(`${shown}: field "weeks": expected a list`);
  return d as unknown as VariantSummary;
}

const ORDER = (s: VariantSummary): number => (s.kind === "heuristic" ? 0 : s.kind === "no_trade" ? 2 : 1);

/** Options of `compare`. */
export interface CompareOptions {
  /** Sweep ledgers whose trials count in the DSR's N. */
  readonly sweeps?: readonly SweepTrials[];
  /** DSR a model must reach to be promoted (default 0.95). */
  readonly dsrLevel?: number;
}

/** The comparison document (weeks must match across variants). */
export function compare(summaries: readonly VariantSummary[], opts: CompareOptions = {}): Record<string, unknown> {
  const list = [...summaries].sort((a, b) => ORDER(a) - ORDER(b) || a.variant.localeCompare(b.variant));
  const weeks = list[0]?.weeks ?? [];
  for (const s of list) {
    if (JSON.stringify(s.weeks) !== JSON.stringify(weeks)) {
      throw new BacktestInputError(`variants ran on different weeks: ${list[0]!.variant} on ${weeks.join(", ")}, ${s.variant} on ${s.weeks.join(", ")}`);
    }
    if (s["capital"] !== list[0]!["capital"] || JSON.stringify(s["instruments"]) !== JSON.stringify(list[0]!["instruments"])) {
      throw new BacktestInputError(`variants ran on different accounts: ${list[0]!.variant} (capital ${list[0]!["capital"]}, ${JSON.stringify(list[0]!["instruments"])}), ${s.variant} (capital ${s["capital"]}, ${JSON.stringify(s["instruments"])})`);
    }
  }
  const h = list.find((s) => s.kind === "heuristic");
  const z = list.find((s) => s.kind === "no_trade");
  const rows = list.map((s) => {
    const row: Record<string, unknown> = { variant: s.variant, kind: s.kind };
    for (const k of ROW_METRICS) row[k] = s[k];
    if (s.model !== undefined) row["model"] = s.model;
    if (s.model_digest !== undefined) row["model_digest"] = s.model_digest;
    if (s.threshold) row["threshold"] = s.threshold;
    if (h && s !== h) {
      row["pnl_vs_heuristic"] = (s["pnl"] as number) - (h["pnl"] as number);
      row["sharpe_vs_heuristic"] = (s["sharpe"] as number) - (h["sharpe"] as number);
      row["beats_heuristic"] = (s["pnl"] as number) > (h["pnl"] as number);
    }
    if (z && s !== z) {
      row["pnl_vs_no_trade"] = (s["pnl"] as number) - (z["pnl"] as number);
      row["sharpe_vs_no_trade"] = (s["sharpe"] as number) - (z["sharpe"] as number);
      row["beats_no_trade"] = (s["pnl"] as number) > (z["pnl"] as number);
    }
    row["psr"] = probabilisticSharpe(s as unknown as VerdictVariant);
    row["per_week"] = Object.fromEntries(weeks.map((w) => [w, { pnl: s.per_week[w]?.["pnl"] ?? null, sharpe: s.per_week[w]?.["sharpe"] ?? null, trades: s.per_week[w]?.["trades"] ?? null }]));
    return row;
  });
  const verdict = decide(list as unknown as VerdictVariant[], opts.sweeps ?? [], opts.dsrLevel ?? DEFAULT_DSR_LEVEL);
  return { format: "dagbuild.backtest_comparison", version: COMPARISON_FORMAT_VERSION, weeks, capital: list[0]?.["capital"] ?? null, instruments: list[0]?.["instruments"] ?? [], heuristic: h?.variant ?? null, no_trade: z?.variant ?? null, verdict, variants: rows };
}

/** comparison.json text. */
export function formatComparisonJson(doc: Record<string, unknown>): string {
  return `${stableStringify(doc)}\n`;
}

const fx = (v: unknown, d = 2): string => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(d) : "–");
const pct = (v: unknown): string => (typeof v === "number" && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : "–");

/** The DSR's trial count and the candidate's numbers, as a short section. */
function trialsMd(v: Verdict): string {
  const t = v.trials;
  let s = `\n## Deflated Sharpe ratio\n\nDSR = PSR(SR0), SR0 = sqrt(V) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))) (Bailey & López de Prado 2014). N = ${t.N} trials: `;
  const parts = Object.entries(t.threshold_candidates).map(([m, n]) => `${m} ${n} threshold candidate${n === 1 ? "" : "s"}`);
  for (const w of t.sweeps) parts.push(`${w.trials_tried} sweep trials (${w.ledger})`);
  s += `${parts.join(", ") || "none"}. V = ${t.V.toExponential(3)} ${t.V_source === "null" ? `(the ${t.sharpes} trial Sharpe ratios do not vary: the null variance 1/(T - 1) of a Sharpe estimate stands in)` : `over ${t.sharpes} per-period Sharpe ratios`}; SR0 = ${t.sr0.toFixed(4)} per day. Promotion needs DSR ≥ ${v.dsr_level} and a P&L after costs above both the heuristic's and not trading's.\n`;
  const c = v.candidate;
  if (c) s += `\nCandidate: ${c.model} (digest ${c.model_digest ?? "–"}), selected on ${c.selected_on}; threshold ${c.threshold ? fx(c.threshold.value, 4) : "–"} (${c.threshold?.chosen_on ?? "–"}); PSR ${fx(c.psr, 3)}, DSR ${fx(c.dsr, 3)}.\n`;
  return s;
}

/** comparison.md text. */
export function formatComparisonMd(doc: Record<string, unknown>): string {
  const rows = doc["variants"] as Record<string, unknown>[];
  const weeks = doc["weeks"] as string[];
  let s = `<!-- Generated by dagbuild (rules/backtest-comparison.ts), format dagbuild.backtest_comparison v${COMPARISON_FORMAT_VERSION}. -->\n`;
  const v = doc["verdict"] as Verdict | undefined;
  s += `# Backtest comparison\n\n`;
  if (v) s += `## Verdict: ${v.label}\n\n${v.paragraph}\n\n`;
  s += `Weeks: ${weeks.join(", ")} (${weeks.length}). Every variant runs the legacy simulator (gate-spec section 11) on the same weeks, instruments and profile; P&L is after costs. Sharpe = sqrt(252) x mean / pstdev of daily returns (UTC days). PSR = P(true Sharpe > 0) given the per-period Sharpe, T, skew and kurtosis (Bailey & López de Prado 2012).\n\n`;
  s += "| variant | threshold | P&L | return | Sharpe | PSR | per-period SR | skew | kurtosis | T | max DD | max DD % | trades | win rate | exposure | turnover | costs | vs heuristic | vs no_trade |\n";
  s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n";
  for (const r of rows) {
    const t = r["threshold"] as { value: number; chosen_on: string } | undefined;
    const vs = r["pnl_vs_heuristic"] === undefined ? "–" : `${(r["beats_heuristic"] as boolean) ? "beats" : "does not beat"} (${fx(r["pnl_vs_heuristic"])})`;
    const vz = r["pnl_vs_no_trade"] === undefined ? "–" : `${(r["beats_no_trade"] as boolean) ? "beats" : "does not beat"} (${fx(r["pnl_vs_no_trade"])})`;
    s += `| ${r["variant"]} | ${t ? `${fx(t.value, 4)} (${t.chosen_on})` : "–"} | ${fx(r["pnl"])} | ${pct(r["return_pct"])} | ${fx(r["sharpe"], 3)} | ${fx(r["psr"], 3)} | ${fx(r["sharpe_period"], 4)} | ${fx(r["skew"], 3)} | ${fx(r["kurtosis"], 3)} | ${r["T"]} | ${fx(r["max_dd"])} | ${pct(r["max_dd_pct"])} | ${r["trades"]} | ${pct(r["win_rate"])} | ${pct(r["exposure"])} | ${fx(r["turnover"], 1)} | ${fx(r["costs"])} | ${vs} | ${vz} |\n`;
  }
  if (v) s += trialsMd(v);
  s += `\n## P&L per week\n\n| variant | ${weeks.join(" | ")} |\n|---|${weeks.map(() => "---:").join("|")}|\n`;
  for (const r of rows) {
    const pw = r["per_week"] as Record<string, { pnl: number | null }>;
    s += `| ${r["variant"]} | ${weeks.map((w) => fx(pw[w]?.pnl)).join(" | ")} |\n`;
  }
  return s;
}

/**
 * The backtest verdict: does any model's ml_score guardrail earn its promotion?
 *
 * - Every trial counts (Bailey & López de Prado 2014): N = the threshold candidates each model
 *   tried on its validation weeks (one trial for a model with a fixed threshold) plus every
 *   trial of the sweep ledgers given (`trials_tried`). V is the sample variance of the trials'
 *   per-period Sharpe ratios we have: the candidates' validation Sharpes, or the backtest
 *   Sharpe of a model without candidates. Sweep trials have no backtest, so they raise N only.
 *   When those Sharpes do not vary (V = 0, e.g. every candidate kept the same trades) while
 *   N > 1, V is not estimable from them and the null variance of a Sharpe estimate, 1/(T - 1)
 *   over the candidate's T returns, stands in (`V_source: "null"`): V = 0 would deflate nothing.
 * - The candidate is the model whose chosen threshold had the best Sharpe on the validation
 *   weeks (selection never looks at a backtest week). Only when no model recorded validation
 *   Sharpes is it the best backtest Sharpe, and the verdict says so.
 * - Promotion: DSR of the candidate's backtest >= `level` (default 0.95), and its P&L after
 *   costs beats both the heuristic and not trading (`no_trade`): on a market with no edge a
 *   guardrail that merely trades less loses less than the heuristic, which is no reason to
 *   switch it on. Otherwise the verdict is "no edge" and the guardrail stays off.
 */
import { deflatedSharpe, probabilisticSharpe, sharpeVariance, type SharpeSample } from "./sharpe-stats.js";

/** DSR a candidate must reach to be promoted. */
export const DEFAULT_DSR_LEVEL = 0.95;

const SQRT252 = Math.sqrt(252);

/** A variant as the verdict reads it (a summary.json, see comparison.ts). */
export interface VerdictVariant extends SharpeSample {
  readonly variant: string;
  readonly kind: string;
  readonly pnl: number;
  readonly trades: number;
  readonly costs: number;
  readonly model?: string;
  readonly model_digest?: string | null;
  readonly threshold?: { value: number; method: string; chosen_on: string; candidates?: readonly { value: number; sharpe: number; pnl?: number; trades?: number }[] };
  readonly params?: Readonly<Record<string, unknown>>;
  readonly profile?: { path: string; sha256: string };
}

/** One sweep ledger's contribution to N. */
export interface SweepTrials {
  readonly ledger: string;
  readonly model: string;
  readonly trials_tried: number;
}

/** The trial count behind the DSR. */
export interface TrialCount {
  readonly N: number;
  readonly threshold_candidates: Readonly<Record<string, number>>;
  readonly sweeps: readonly SweepTrials[];
  /** Per-period Sharpe ratios V is taken over. */
  readonly sharpes: number;
  readonly V: number;
  /** "trials": their sample variance; "null": 1/(T - 1), the trials' Sharpes did not vary. */
  readonly V_source: "trials" | "null";
  readonly sr0: number;
}

/** The verdict (comparison.json `verdict`). */
export interface Verdict {
  readonly label: "promoted" | "no edge";
  readonly promoted: boolean;
  readonly dsr_level: number;
  readonly candidate: {
    readonly variant: string;
    readonly model: string;
    readonly model_digest: string | null;
    readonly selected_on: "validation" | "backtest";
    readonly validation_sharpe: number | null;
    readonly threshold: { value: number; method: string; chosen_on: string } | null;
    readonly hazard_guard: { hazard: number | null; hazard_multiplier: number; strategy_profile: { path: string; sha256: string } | null };
    readonly psr: number | null;
    readonly dsr: number | null;
    readonly beats_heuristic: boolean;
    readonly beats_no_trade: boolean;
  } | null;
  readonly trials: TrialCount;
  readonly reasons: readonly string[];
  readonly paragraph: string;
}

/** Per-period validation Sharpes a model tried (its threshold candidates); [] without candidates. */
function validationSharpes(v: VerdictVariant): number[] {
  return (v.threshold?.candidates ?? []).map((c) => c.sharpe / SQRT252).filter(Number.isFinite);
}

/** N, V and SR0 over the models' trials and the sweep ledgers; `T` the candidate's returns (see the header). */
export function countTrials(models: readonly VerdictVariant[], sweeps: readonly SweepTrials[], T = 0): TrialCount {
  const sharpes: number[] = [];
  const perModel: Record<string, number> = {};
  for (const m of models) {
    const vs = validationSharpes(m);
    perModel[m.variant] = Math.max(1, vs.length);
    sharpes.push(...(vs.length ? vs : [m.sharpe_period]));
  }
  const N = Object.values(perModel).reduce((a, b) => a + b, 0) + sweeps.reduce((a, s) => a + s.trials_tried, 0);
  let V = sharpeVariance(sharpes);
  let source: "trials" | "null" = "trials";
  if (!(V > 0) && N > 1 && T >= 2) {
    V = 1 / (T - 1);
    source = "null";
  }
  const { sr0 } = deflatedSharpe({ sharpe_period: 0, skew: 0, kurtosis: 3, T: 2 }, N, V);
  return { N, threshold_candidates: perModel, sweeps: [...sweeps], sharpes: sharpes.length, V, V_source: source, sr0 };
}

const money = (x: number): string => (x < 0 ? `-${Math.abs(x).toFixed(2)}` : x.toFixed(2));
const p3 = (x: number | null): string => (x === null ? "undefined" : x.toFixed(3));

/** The verdict over the variants of one comparison. */
export function decide(variants: readonly VerdictVariant[], sweeps: readonly SweepTrials[] = [], level = DEFAULT_DSR_LEVEL): Verdict {
  const h = variants.find((v) => v.kind === "heuristic");
  const z = variants.find((v) => v.kind === "no_trade");
  const models = variants.filter((v) => v.kind === "model");
  const hPnl = h?.pnl ?? 0;
  const zPnl = z?.pnl ?? 0;
  const reasons: string[] = [];
  const sentences: string[] = [];
  if (models.length === 0) {
    reasons.push("no model variant ran");
    const trials = countTrials(models, sweeps);
    return { label: "no edge", promoted: false, dsr_level: level, candidate: null, trials, reasons, paragraph: "**No edge.** No model variant ran, so nothing is promoted: the guardrail stays off and the heuristic keeps trading alone." };
  }
  const withVal = models.filter((m) => validationSharpes(m).length > 0);
  const best = (list: readonly VerdictVariant[], key: (v: VerdictVariant) => number) =>
    [...list].sort((a, b) => key(b) - key(a) || a.variant.localeCompare(b.variant))[0]!;
  const selectedOn = withVal.length > 0 ? "validation" : "backtest";
  const c = withVal.length > 0 ? best(withVal, (m) => Math.max(...validationSharpes(m))) : best(models, (m) => m.sharpe_period);
  const valSharpe = withVal.length > 0 ? Math.max(...validationSharpes(c)) * SQRT252 : null;
  const trials = countTrials(models, sweeps, c.T);
  const psr = probabilisticSharpe(c);
  const { dsr } = deflatedSharpe(c, trials.N, trials.V);
  const beatsH = h ? c.pnl > hPnl : true;
  const beatsZ = c.pnl > zPnl;
  if (!(dsr !== null && dsr >= level)) reasons.push(`DSR ${p3(dsr)} < ${level}`);
  if (!beatsH) reasons.push(`P&L ${money(c.pnl)} does not beat the heuristic's ${money(hPnl)}`);
  if (!beatsZ) reasons.push(`P&L ${money(c.pnl)} does not beat not trading (${money(zPnl)})`);
  // Picking the best of several models on the very weeks that then judge it is selection on
  // the backtest: never promoted (use threshold: validation_sharpe, which records validation Sharpes).
  if (selectedOn === "backtest" && models.length > 1) reasons.push(`the candidate was chosen among ${models.length} models on the backtest weeks (no validation Sharpes recorded)`);
  const promoted = reasons.length === 0;
  const params = c.params ?? {};
  const candidate = {
    variant: c.variant,
    model: c.model ?? c.variant,
    model_digest: c.model_digest ?? null,
    selected_on: selectedOn,
    validation_sharpe: valSharpe,
    threshold: c.threshold ? { value: c.threshold.value, method: c.threshold.method, chosen_on: c.threshold.chosen_on } : null,
    hazard_guard: {
      hazard: typeof params["hazard"] === "number" ? (params["hazard"] as number) : null,
      hazard_multiplier: typeof params["hazardMultiplier"] === "number" ? (params["hazardMultiplier"] as number) : 1,
      strategy_profile: c.profile ?? null,
    },
    psr,
    dsr,
    beats_heuristic: beatsH,
    beats_no_trade: beatsZ,
  } as const;

  const how = selectedOn === "validation" ? `the best validation Sharpe (${valSharpe!.toFixed(3)}) among ${withVal.length} model${withVal.length > 1 ? "s" : ""}` : "the best backtest Sharpe (no model recorded validation Sharpes)";
  const stats = `DSR ${p3(dsr)} over N = ${trials.N} trials (SR0 ${trials.sr0.toFixed(4)} per day, V ${trials.V.toExponential(3)}), PSR ${p3(psr)}`;
  if (promoted) {
    sentences.push(`**Promoted: ${candidate.model}.** Chosen by ${how}, with its threshold ${c.threshold ? c.threshold.value.toFixed(4) : "–"} fixed on the validation weeks, it earns ${money(c.pnl)} after costs on the backtest weeks against the heuristic's ${money(hPnl)} and not trading's ${money(zPnl)}; ${stats} ≥ ${level}. The guardrail is switched on with this model.`);
  } else {
    sentences.push(`**No edge.** No model is promoted: the guardrail stays off and the heuristic keeps trading alone. The candidate ${candidate.model} (chosen by ${how}) has ${stats}; ${reasons.join("; ")}.`);
  }
  if (h && hPnl < zPnl) sentences.push(`The heuristic itself loses ${money(zPnl - hPnl)} against not trading after ${money(h.costs)} of costs.`);
  for (const m of models) {
    if (m.pnl > hPnl && !(m.pnl > zPnl)) {
      sentences.push(`${m.variant} beats the heuristic only by trading less (${m.trades} trades against ${h?.trades ?? 0}, costs ${money(m.costs)} against ${money(h?.costs ?? 0)}): it loses less than the heuristic but does not beat not trading.`);
    }
  }
  if (!promoted && beatsH && beatsZ) sentences.push(`${candidate.model} does beat both on P&L, but not significantly once all ${trials.N} trials are counted.`);
  return { label: promoted ? "promoted" : "no edge", promoted, dsr_level: level, candidate, trials, reasons, paragraph: sentences.join(" ") };
}

/**
 * backtest: one variant of the legacy simulator (gate-spec section 11) over the backtest weeks,
 * every instrument, as src/backtest/variant.ts runs it.
 *
 * Inputs:  training  `output/ml_training/` (features.json `splits`: the backtest weeks, default
 *                    the test weeks, and the train/validation weeks they must not overlap)
 *          corpus    `data/ml_corpus/` (the default, targets/backtest.yaml): the ingested Stage-1
 *                    bundle, whose INGEST.json `backtest` names the gates and candles of the
 *                    backtest and validation weeks it carries (src/bundle/ingest-backtest.ts,
 *                    re-hashed here), so only the bundle crosses droplet -> gpu; or, instead:
 *          gates     `output/gates/{mode}/gates_{week}_{week.end}.jsonl`, every week (the rule
 *                    picks the backtest weeks: the pipeline format cannot name a data-dependent
 *                    subset of an axis)
 *          candles   `data/candles/{instrument}/{week}.parquet`, every instrument and week (same)
 *                    Both give byte-identical outputs for the same files.
 *          profile   the simulator profile (config/open_fxday.yaml; config/echo_strategy.yaml
 *                    reproduces the legacy runs, which never trade)
 *          scores    `output/ml_scores/{model}.parquet` (model variants only)
 *          model     `output/ml_models/{model}/` (model variants: metrics.json `threshold`)
 * Params:  variant   heuristic | no_trade | a model name (default: the partition's model)
 *          mode      run mode of the gates and scores (default rolling)
 *          threshold "validation" (default: the threshold the model rule chose on the
 *                    validation weeks, metrics.json `threshold.value`, max Youden J),
 *                    "validation_sharpe" (of that threshold, at least 0.5, and the 0.5-0.9
 *                    quantiles of the validation gates' direction confidence max(P, 1 - P), the
 *                    one whose backtest on the validation weeks has the highest Sharpe; every
 *                    candidate is recorded) or a number. The guardrail compares the probability
 *                    of each trade's own direction with it (src/backtest/admission.ts).
 *          balance, cost_bps, nav_risk_pct, hold_minutes, exposure, min_reps, hazard,
 *          hazard_multiplier: the legacy CLI's parameters (same defaults)
 *          weeks     optional list overriding features.json `splits.backtest`
 * Outputs: dir       summary.json, nav.csv, trades.csv, nav.svg (src/backtest/outputs.ts)
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { sha256File } from "../src/bundle/manifest.js";
import { defineRule, oneInput, RuleError, type RuleContext } from "../src/engine/rule.js";
import { readCandleFiles, CandleReadError } from "../src/market/candle-store.js";
import { parseIsoDate, WEEK_MS } from "../src/market/weeks.js";
import { loadSimProfile, ProfileError, type SimProfile } from "../src/sep/profile.js";
import { BacktestInputError, readGateJsonl } from "../src/backtest/gates.js";
import { midPoints } from "../src/backtest/inputs.js";
import { formatNavCsv, formatSummary, formatTradesCsv, navSvg } from "../src/backtest/outputs.js";
import { DEFAULT_SIM_PARAMS, type SimParams } from "../src/backtest/params.js";
import { attachScores, readScores, type ScoreTable } from "../src/backtest/scores.js";
import { MissingUsdRateError } from "../src/backtest/simulator.js";
import { runVariant, type RunInput } from "../src/backtest/variant.js";
import { checkNoOverlap, readSplits } from "../src/backtest/weeks.js";
import { findIngestedBacktest } from "../src/bundle/ingest-backtest.js";
import { IngestError } from "../src/bundle/ingest-error.js";

/** Where the gate and candle files come from, and how a missing week is explained. */
interface WeekSources {
  readonly gates: readonly string[];
  readonly candles: readonly string[];
  /** "among the ... inputs" or the ingest record's path. */
  readonly where: (what: string) => string;
}

/** The gate and candle files: the ingested bundle's (input "corpus") or the per-week inputs. */
async function weekSources(ctx: RuleContext, mode: string): Promise<WeekSources> {
  if (!ctx.inputs["corpus"]?.length) return { gates: ctx.inputs["gates"] ?? [], candles: ctx.inputs["candles"] ?? [], where: (what) => `among the "${what}" inputs` };
  if (ctx.inputs["gates"]?.length || ctx.inputs["candles"]?.length) throw new RuleError('backtest: give the input "corpus" (the ingested bundle) or "gates" and "candles", not both');
  const s = await findIngestedBacktest(oneInput(ctx, "corpus"));
  const rec = relative(ctx.root, s.record);
  if (s.backtest.mode !== mode) throw new RuleError(`backtest: ${rec} field "backtest.mode" is ${s.backtest.mode}, the param "mode" is ${mode}`);
  const carried = [...s.backtest.validation_weeks, ...s.backtest.weeks].join(", ");
  return { gates: [...s.gates.values()], candles: s.candles, where: (what) => `in the bundle (${rec} field "backtest" carries the ${what} of ${carried || "no week"}: the last backtest_weeks + validation_weeks weeks of the span, targets/stage1.yaml)` };
}

function num(ctx: RuleContext, name: string, dflt: number): number {
  const v = ctx.params[name];
  if (v === undefined || v === null) return dflt;
  const x = typeof v === "string" ? Number(v) : v;
  if (typeof x !== "number" || !Number.isFinite(x)) throw new RuleError(`backtest: param "${name}" must be a number, got ${JSON.stringify(v)}`);
  return x;
}

function paramsOf(ctx: RuleContext): SimParams {
  const d = DEFAULT_SIM_PARAMS;
  const hz = ctx.params["hazard"];
  return {
    balance: num(ctx, "balance", d.balance),
    costBps: num(ctx, "cost_bps", d.costBps),
    navRiskPct: num(ctx, "nav_risk_pct", d.navRiskPct),
    holdMinutes: num(ctx, "hold_minutes", d.holdMinutes),
    exposureScale: num(ctx, "exposure", d.exposureScale),
    minReps: num(ctx, "min_reps", d.minReps),
    hazard: hz === undefined || hz === null ? null : num(ctx, "hazard", 0),
    hazardMultiplier: num(ctx, "hazard_multiplier", d.hazardMultiplier),
  };
}

/** A model variant's score threshold and how it was chosen (summary.json `threshold`). */
type Threshold = { value: number; method: string; chosen_on: string; candidates?: unknown[] };

/** The validation-chosen threshold of a model directory's metrics.json. */
async function validationThreshold(modelDir: string, shown: string): Promise<{ value: number; method: string }> {
  let m: { threshold?: { value?: unknown; chosen_on?: unknown; method?: unknown } };
  try {
    m = JSON.parse(await readFile(join(modelDir, "metrics.json"), "utf8"));
  } catch (e) {
    throw new RuleError(`${shown}/metrics.json: cannot read: ${(e as Error).message.split("\n")[0]}`);
  }
  const t = m.threshold;
  if (!t || typeof t.value !== "number" || !Number.isFinite(t.value)) throw new RuleError(`${shown}/metrics.json: field "threshold.value": expected a number`);
  if (t.chosen_on !== "validation") throw new RuleError(`${shown}/metrics.json: field "threshold.chosen_on": expected "validation", got ${JSON.stringify(t.chosen_on)}`);
  return { value: t.value, method: typeof t.method === "string" ? t.method : "" };
}

/**
 * Quantiles of the validation gates' direction confidence max(P(up), 1 - P(up)) tried by
 * `threshold: validation_sharpe` (the guardrail compares the probability of the trade's own
 * direction: src/backtest/admission.ts), besides the metrics.json threshold (at least 0.5).
 */
const QUANTILES = [0.5, 0.6, 0.7, 0.8, 0.9];

/** The metrics.json threshold of the variant's "model" input. */
function modelThreshold(ctx: RuleContext): Promise<{ value: number; method: string }> {
  const dir = oneInput(ctx, "model");
  return validationThreshold(dir, relative(ctx.root, dir).replace(/\/+$/, ""));
}

/**
 * `threshold: validation_sharpe`: of the metrics.json threshold and the validation scores'
 * QUANTILES, the one whose run on the validation weeks has the highest Sharpe, every candidate
 * recorded. Chosen on the validation weeks only, then applied unchanged to the backtest weeks.
 */
async function validationSharpeThreshold(
  ctx: RuleContext,
  validationWeeks: readonly string[],
  load: (weeks: readonly string[]) => Promise<{ inputs: RunInput[] }>,
  profile: SimProfile,
  params: SimParams,
): Promise<Threshold> {
  const base = await modelThreshold(ctx);
  const val = await load(validationWeeks);
  const conf = val.inputs
    .flatMap((x) => x.gates.map((g) => g.score))
    .filter((v): v is number => typeof v === "number")
    .map((p) => Math.max(p, 1 - p))
    .sort((a, b) => a - b);
  const cands = [...new Set([Math.max(0.5, base.value), ...QUANTILES.map((q) => conf[Math.floor(q * (conf.length - 1))]!).filter((v) => v !== undefined)])].sort((a, b) => a - b);
  const tried = cands.map((value) => {
    const m = runVariant(val.inputs, profile, params, { threshold: value }).totals;
    return { value, sharpe: m.sharpe, pnl: m.pnl, trades: m.trades };
  });
  const best = tried.reduce((a, b) => (b.sharpe > a.sharpe ? b : a));
  return { value: best.value, method: `max Sharpe on the validation weeks ${validationWeeks.join(", ")} over the metrics.json threshold (at least 0.5) and the direction-confidence quantiles ${QUANTILES.join(", ")}`, chosen_on: "validation", candidates: tried };
}

/** Candles and gates (with scores when `table` is given) of `weeks`, one input per instrument-week. */
async function loadWeeks(ctx: RuleContext, src: WeekSources, weeks: readonly string[], mode: string, noGates: boolean, table: ScoreTable | undefined): Promise<{ inputs: RunInput[]; gateCount: number; scored: number }> {
  const rel = (p: string) => relative(ctx.root, p);
  const gateFiles = new Map(src.gates.filter((p) => p.includes(`/gates/${mode}/`)).map((p) => [basename(p).slice(6, 16), p]));
  const candleFiles = src.candles.filter((p) => weeks.includes(basename(p, ".parquet")));
  const missing = weeks.filter((w) => !gateFiles.has(w));
  if (missing.length) throw new RuleError(`backtest: no ${mode} gates for week(s) ${missing.join(", ")} ${src.where("gates")}`);
  const noCandles = weeks.filter((w) => !candleFiles.some((p) => basename(p, ".parquet") === w));
  if (noCandles.length) throw new RuleError(`backtest: no candles for week(s) ${noCandles.join(", ")} ${src.where("candles")}`);
  let candles;
  try {
    candles = await readCandleFiles(candleFiles);
  } catch (e) {
    if (e instanceof CandleReadError) throw new RuleError(`${rel(e.path)}: cannot read candle parquet: ${e.message}`);
    throw e;
  }
  const inputs: RunInput[] = [];
  let gateCount = 0, scored = 0;
  for (let i = 0; i < candleFiles.length; i++) {
    const p = candleFiles[i]!;
    const week = basename(p, ".parquet");
    const instrument = basename(dirname(p));
    const startMs = parseIsoDate(week)!;
    const endMs = startMs + WEEK_MS - 1; // Monday to Monday, the next Monday excluded
    const gates = noGates ? [] : await readGateJsonl(gateFiles.get(week)!, { instrument, startMs, endMs }, rel(gateFiles.get(week)!));
    if (table) scored += attachScores(gates, table, instrument);
    gateCount += gates.length;
    inputs.push({ week, instrument, prices: midPoints(candles[i]!, startMs, endMs), gates });
  }
  inputs.sort((a, b) => a.week.localeCompare(b.week) || a.instrument.localeCompare(b.instrument));
  return { inputs, gateCount, scored };
}

export default defineRule({
  describe: "one backtest variant (heuristic, a model's guardrail, no_trade) over the backtest weeks",
  async run(ctx) {
    const out = ctx.outputs["dir"];
    if (!out) throw new RuleError('backtest: declare a directory output named "dir"');
    const variant = String(ctx.params["variant"] ?? ctx.partition["model"] ?? "");
    if (!/^[A-Za-z0-9_.-]+$/.test(variant)) throw new RuleError(`backtest: param "variant" must name heuristic, no_trade or a model, got ${JSON.stringify(variant)}`);
    const kind = variant === "heuristic" ? "heuristic" : variant === "no_trade" ? "no_trade" : "model";
    const mode = String(ctx.params["mode"] ?? "rolling");
    const rel = (p: string) => relative(ctx.root, p);
    const params = paramsOf(ctx);
    try {
      const featuresPath = join(oneInput(ctx, "training"), "features.json");
      const splits = await readSplits(featuresPath, rel(featuresPath));
      const override = ctx.params["weeks"];
      const weeks = override === undefined ? [...splits.backtest] : Array.isArray(override) ? override.map(String).sort() : [String(override)];
      if (weeks.length === 0) throw new RuleError(`backtest: no backtest weeks (${rel(featuresPath)} splits.backtest is empty)`);

      let table: ScoreTable | undefined;
      let threshold: Threshold | undefined;
      const modelName = kind === "model" ? variant : "the models";
      let validationWeeks = [...splits.validation];
      if (kind === "model") {
        const scoresPath = oneInput(ctx, "scores");
        table = await readScores(scoresPath, rel(scoresPath));
        validationWeeks = [...new Set([...validationWeeks, ...(table.weeks["validation"] ?? []), ...(table.weeks["train"] ?? [])])].sort();
        const tp = ctx.params["threshold"] ?? "validation";
        if (tp === "validation") threshold = { ...(await modelThreshold(ctx)), chosen_on: "validation" };
        else if (tp !== "validation_sharpe") threshold = { value: num(ctx, "threshold", 0), method: "fixed (pipeline param)", chosen_on: "param" };
      }
      checkNoOverlap(weeks, splits.train, validationWeeks, modelName);
      // A week absent from the scores would leave the guardrail flat there (an unscored gate
      // never trades): the comparison with the heuristic would be silently unfair.
      if (table) {
        const covered = new Set(Object.values(table.weeks).flat());
        const unscored = weeks.filter((w) => !covered.has(w));
        if (unscored.length)
          throw new RuleError(`backtest ${variant}: ${rel(oneInput(ctx, "scores"))} has no scores for backtest week(s) ${unscored.join(", ")} (it scores ${[...covered].sort().join(", ") || "no week"}: the validation and test weeks)`);
      }

      const profilePath = oneInput(ctx, "profile");
      const profile = await loadSimProfile(profilePath);
      const sources = await weekSources(ctx, mode);
      const load = (ws: readonly string[]) => loadWeeks(ctx, sources, ws, mode, kind === "no_trade", table);
      if (threshold === undefined && kind === "model") threshold = await validationSharpeThreshold(ctx, splits.validation, load, profile, params);
      const { inputs, gateCount, scored } = await load(weeks);
      if (table && scored === 0) throw new RuleError(`backtest ${variant}: none of the ${gateCount} gates of weeks ${weeks.join(", ")} has a score in ${rel(oneInput(ctx, "scores"))}`);

      const r = runVariant(inputs, profile, params, { ...(threshold ? { threshold: threshold.value } : {}), noTrade: kind === "no_trade" });
      const { daily, ...totals } = r.totals;
      await writeFile(
        join(out, "summary.json"),
        formatSummary({
          variant,
          kind,
          capital: r.capital,
          ...totals,
          daily,
          weeks,
          run_mode: mode,
          instruments: Object.keys(r.perInstrument),
          per_week: r.perWeek,
          per_instrument: r.perInstrument,
          minutes: r.minutes,
          gates: gateCount,
          params,
          profile: { path: rel(profilePath), sha256: await sha256File(profilePath) },
          ...(table ? { model: table.model ?? variant, model_digest: table.digest, gates_scored: scored } : {}),
          ...(threshold ? { threshold } : {}),
        }),
      );
      await writeFile(join(out, "nav.csv"), formatNavCsv(r.curve));
      await writeFile(join(out, "trades.csv"), formatTradesCsv(r.trades, (t) => t.week));
      await writeFile(join(out, "nav.svg"), await navSvg(`Backtest NAV: ${variant} (${weeks[0]} to ${weeks[weeks.length - 1]})`, [{ name: variant, curve: r.curve }]));
      ctx.log(`backtest ${variant}: ${weeks.length} weeks x ${Object.keys(r.perInstrument).length} instruments, ${gateCount} gates, ${r.totals.trades} trades, pnl ${r.totals.pnl.toFixed(2)}, sharpe ${r.totals.sharpe.toFixed(3)}`);
    } catch (e) {
      if (e instanceof BacktestInputError || e instanceof ProfileError || e instanceof MissingUsdRateError || e instanceof IngestError) throw new RuleError(`backtest ${variant}: ${e.message}`);
      throw e;
    }
  },
});

/**
 * `dagbuild backtest`: one legacy-simulator run (gate-spec section 11) of one instrument.
 *
 *   dagbuild backtest --candles F --gates F --instrument I --start T --end T [--profile P]
 *                     [--ml-scores F (--threshold X | --guardrail G)] --out DIR
 *                     [--balance 100000] [--cost-bps 1.5] [--nav-risk-pct 0.01]
 *                     [--hold-minutes 30] [--exposure 0.02] [--min-reps 1] [--hazard X]
 *                     [--hazard-multiplier 1]
 *
 * F: candle parquet or OANDA JSON; gates JSONL (any section-9 shape; lines of other instruments
 * skipped). T: RFC 3339 time or ISO date (UTC), both ends inclusive. P: default
 * config/open_fxday.yaml; config/echo_strategy.yaml reproduces the legacy runs (no trades).
 * With --ml-scores (output/ml_scores/<model>.parquet) a gate trades only if its score >= X.
 * --guardrail G (output/profiles/ml_guardrail.yaml, src/promotion/guardrail-profile.ts) takes
 * X and the hazard guard from the profile: enabled, it needs --ml-scores of the profile's model
 * digest; not enabled, the run is the heuristic (scores, if given, are not applied).
 * Writes DIR/summary.json (pnl, return_pct, sharpe, max_dd, trades, win_rate, avg_mae and the
 * rest of src/backtest/metrics.ts) and DIR/trades.csv (src/backtest/outputs.ts).
 * Exit 0 on success, 2 on bad usage or bad input.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../args.js";
import { CandleDataError } from "../../sep/candle-check.js";
import { loadSimProfile, ProfileError } from "../../sep/profile.js";
import { parseIsoDate, parseTimestamp } from "../../market/weeks.js";
import { writeAtomic } from "../../io/write-atomic.js";
import { BacktestInputError, readGateJsonl } from "../../backtest/gates.js";
import { defaultProfilePath, midPoints } from "../../backtest/inputs.js";
import { readCandleFile } from "../../market/candle-file.js";
import { computeMetrics } from "../../backtest/metrics.js";
import { formatSummary, formatTradesCsv } from "../../backtest/outputs.js";
import { DEFAULT_SIM_PARAMS, resolveRules, type SimParams } from "../../backtest/params.js";
import { attachScores, readScores } from "../../backtest/scores.js";
import { MissingUsdRateError, simulate } from "../../backtest/simulator.js";
import { GuardrailError, guardrailRunOptions, parseGuardrailProfile, type GuardrailProfile } from "../../promotion/guardrail-profile.js";
import { readFile } from "node:fs/promises";

const USAGE =
  "usage: dagbuild backtest --candles F --gates F --instrument I --start T --end T [--profile P]\n" +
  "                         [--ml-scores F (--threshold X | --guardrail G)] --out DIR [--balance N] [--cost-bps N]\n" +
  "                         [--nav-risk-pct N] [--hold-minutes N] [--exposure N] [--min-reps N]\n" +
  "                         [--hazard N] [--hazard-multiplier N]\n";

const VALUE_FLAGS = ["candles", "gates", "instrument", "start", "end", "profile", "ml-scores", "threshold", "guardrail", "out", "balance", "cost-bps", "nav-risk-pct", "hold-minutes", "exposure", "min-reps", "hazard", "hazard-multiplier"];

function parseFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !VALUE_FLAGS.includes(m[1]!)) throw new UsageError(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new UsageError(`--${m[1]} needs a value`);
    out[m[1]!] = v;
  }
  return out;
}

function numberFlag(a: Record<string, string>, name: string, dflt: number, check: (x: number) => boolean, what: string): number {
  const v = a[name];
  if (v === undefined) return dflt;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(v)}`);
  return x;
}

function timeFlag(a: Record<string, string>, name: string): number {
  const v = a[name]!;
  const t = parseTimestamp(v) ?? parseIsoDate(v);
  if (t === null) throw new UsageError(`--${name} must be an RFC 3339 time or an ISO date (UTC), got ${JSON.stringify(v)}`);
  return t;
}

/** The run parameters from the flags (legacy defaults). */
export function simParamsOf(a: Record<string, string>): SimParams {
  const d = DEFAULT_SIM_PARAMS;
  const nonneg = (x: number) => x >= 0;
  return {
    balance: numberFlag(a, "balance", d.balance, (x) => x > 0, "a positive number"),
    costBps: numberFlag(a, "cost-bps", d.costBps, nonneg, "a number >= 0"),
    navRiskPct: numberFlag(a, "nav-risk-pct", d.navRiskPct, () => true, "a number"),
    holdMinutes: numberFlag(a, "hold-minutes", d.holdMinutes, nonneg, "a number >= 0"),
    exposureScale: numberFlag(a, "exposure", d.exposureScale, (x) => x > 0, "a positive number"),
    minReps: numberFlag(a, "min-reps", d.minReps, Number.isInteger, "an integer"),
    hazard: a["hazard"] === undefined ? null : numberFlag(a, "hazard", 0, () => true, "a number"),
    hazardMultiplier: numberFlag(a, "hazard-multiplier", d.hazardMultiplier, () => true, "a number"),
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const a = parseFlags(argv);
  for (const req of ["candles", "gates", "instrument", "start", "end", "out"]) if (!a[req]) throw new UsageError(`--${req} is required\n${USAGE}`);
  let guard: GuardrailProfile | undefined;
  if (a["guardrail"] !== undefined) {
    if (a["threshold"] !== undefined || a["hazard"] !== undefined || a["hazard-multiplier"] !== undefined) throw new UsageError("--guardrail sets the threshold and the hazard guard: leave out --threshold, --hazard and --hazard-multiplier");
    try {
      guard = parseGuardrailProfile(await readFile(a["guardrail"], "utf8"), a["guardrail"]);
    } catch (e) {
      if (e instanceof GuardrailError) throw new UsageError(e.message);
      throw new UsageError(`--guardrail ${a["guardrail"]}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const g = guardrailRunOptions(guard);
    if (g.threshold !== undefined && a["ml-scores"] === undefined) throw new UsageError(`--guardrail ${a["guardrail"]} is enabled (model ${guard.model!.name}): give its scores with --ml-scores`);
    if (g.threshold !== undefined) a["threshold"] = String(g.threshold);
    else delete a["ml-scores"];
    if (g.hazard !== null) a["hazard"] = String(g.hazard);
    a["hazard-multiplier"] = String(g.hazardMultiplier);
  }
  if ((a["ml-scores"] === undefined) !== (a["threshold"] === undefined)) throw new UsageError("--ml-scores and --threshold go together");
  const inst = a["instrument"]!;
  if (!/^[A-Z]{3}_[A-Z]{3}$/.test(inst)) throw new UsageError(`--instrument must look like EUR_USD, got ${JSON.stringify(inst)}`);
  const startMs = timeFlag(a, "start");
  const endMs = timeFlag(a, "end");
  if (endMs < startMs) throw new UsageError(`--end ${a["end"]} is before --start ${a["start"]}`);
  const params = simParamsOf(a);
  const threshold = a["threshold"] === undefined ? undefined : numberFlag(a, "threshold", 0, () => true, "a number");
  try {
    const profilePath = a["profile"] ?? defaultProfilePath();
    const profile = await loadSimProfile(profilePath);
    const prices = midPoints(await readCandleFile(a["candles"]!), startMs, endMs);
    const gates = await readGateJsonl(a["gates"]!, { instrument: inst, startMs, endMs });
    let scored: Record<string, unknown> = {};
    if (a["ml-scores"]) {
      const table = await readScores(a["ml-scores"]);
      if (guard?.model && table.digest !== guard.model.digest) throw new BacktestInputError(`${a["ml-scores"]}: model digest ${table.digest ?? "missing"}, but --guardrail ${a["guardrail"]} promotes ${guard.model.name} ${guard.model.digest}`);
      const found = attachScores(gates, table, inst);
      scored = { ml_scores: { file: a["ml-scores"], model: table.model, model_digest: table.digest, threshold, gates_scored: found } };
    }
    const rules = resolveRules(profile, inst, params, threshold);
    const r = simulate(prices, gates, rules, params, profile);
    const m = computeMetrics({ nav: r.nav, times: r.times, equity: r.equity, exposure: r.exposure, trades: r.trades, costs: r.costs, traded: r.traded });
    const out = a["out"]!;
    await mkdir(out, { recursive: true });
    const { daily, ...rest } = m;
    await writeAtomic(
      join(out, "summary.json"),
      formatSummary({
        ...rest,
        daily,
        instrument: inst,
        start: new Date(startMs).toISOString(),
        end: new Date(endMs).toISOString(),
        profile: profilePath,
        params,
        gates: gates.length,
        open_units: r.openUnits,
        minutes: r.counts,
        ...scored,
        ...(guard ? { guardrail: { file: a["guardrail"], enabled: guard.enabled, model: guard.model } } : {}),
      }),
    );
    await writeAtomic(join(out, "trades.csv"), formatTradesCsv(r.trades));
    process.stderr.write(`dagbuild backtest ${inst}: ${r.counts.candles} candles, ${gates.length} gates, ${m.trades} trades, pnl ${m.pnl.toFixed(2)}, sharpe ${m.sharpe.toFixed(3)} -> ${out}\n`);
    return 0;
  } catch (e) {
    if (e instanceof BacktestInputError || e instanceof CandleDataError || e instanceof ProfileError || e instanceof MissingUsdRateError) {
      process.stderr.write(`dagbuild backtest: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

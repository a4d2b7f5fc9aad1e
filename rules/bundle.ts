/**
 * bundle: the Stage-1 hand-off archive and its sha256sum manifest.
 *
 * Inputs:  any names; suggested: corpus (gates_{span}.parquet), summaries (roc_summary_*.json),
 *          reports (baseline_report.json, lead_lag_*, telemetry_schema.md, Stage1 status),
 *          models (output/ml_models/baseline_xgb/ directory), evidence (anything else).
 *          Directory inputs are packed recursively. Each file is stored as NAME/<workspace path>.
 *          backtest_gates    `output/gates/rolling/gates_{week}_{week.end}.jsonl`, every week
 *          backtest_candles  `data/candles/{instrument}/{week}.parquet`, every instrument-week
 *                   (with `backtest_weeks`): only those of the carried weeks are packed, under
 *                   NAME/backtest/gates/{mode}/ and NAME/backtest/candles/{instrument}/
 *                   (src/bundle/backtest-members.ts), listed in BUNDLE_INDEX.json `backtest`.
 * Params:  stem  optional archive stem (default: the bundle output's file name without .tgz,
 *                e.g. "ml_corpus_2025-05-12_2025-11-17"); must match the declared output name.
 *          backtest_weeks, validation_weeks  how many of the span's last weeks the Stage 2
 *                backtests simulate (the test split) and how many before them they choose
 *                thresholds on (the validation split): the vars of targets/stage1.yaml, which
 *                the feature builder's split shares (targets/stage2.yaml ml_training).
 * Outputs: bundle    `output/ml_corpus_{week.span}.tgz`   (deterministic: sorted, mtime 0, root/root)
 *          manifest  `output/ml_corpus_{week.span}.sha256` (sha256sum -c format; archive + every file)
 * Check:   cd output && tar -xzf ml_corpus_X.tgz && sha256sum -c ml_corpus_X.sha256
 * The rule does not write handoff/transfer_log.md: the host that moves the bundle appends to it
 * (src/engine/transfer-log.ts, appendTransfer).
 */
import { basename } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { buildBundle } from "../src/bundle/bundle.js";
import { optionalString } from "../src/corpus/params.js";
import { BacktestMembersError, selectBacktestMembers } from "../src/bundle/backtest-members.js";

const BACKTEST_INPUTS = new Set(["*", "backtest_gates", "backtest_candles"]);

/** A week count param: a non-negative integer, or its decimal string (a var). */
function weekCount(params: Readonly<Record<string, unknown>>, name: string): number {
  const v = params[name];
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw new RuleError(`bundle: param "${name}" must be a number of weeks (an integer >= 0), got ${JSON.stringify(v)}`);
  return n;
}

/** The backtest members, when the target asks for them (param backtest_weeks). */
function backtestMembers(ctx: { params: Readonly<Record<string, unknown>>; inputs: Readonly<Record<string, readonly string[]>> }) {
  if (ctx.params["backtest_weeks"] === undefined) return undefined;
  const gates = ctx.inputs["backtest_gates"] ?? [], candles = ctx.inputs["backtest_candles"] ?? [];
  if (gates.length === 0 || candles.length === 0) throw new RuleError('bundle: param "backtest_weeks" needs the inputs "backtest_gates" and "backtest_candles"');
  try {
    return selectBacktestMembers(gates, candles, weekCount(ctx.params, "backtest_weeks"), weekCount(ctx.params, "validation_weeks"));
  } catch (e) {
    if (e instanceof BacktestMembersError) throw new RuleError(e.message);
    throw e;
  }
}

export default defineRule({
  describe: "Stage-1 corpus bundle (.tgz + .sha256)",
  async run(ctx) {
    const archive = ctx.outputs.bundle;
    const manifest = ctx.outputs.manifest;
    if (!archive || !manifest) throw new RuleError('bundle: declare outputs "bundle" (.tgz) and "manifest" (.sha256)');
    const stem = optionalString(ctx.params, "stem", basename(archive).replace(/\.tgz$/, ""));
    if (!/^[A-Za-z0-9._-]+$/.test(stem)) throw new RuleError(`bundle: param "stem" must be a plain file name, got ${JSON.stringify(stem)}`);
    const inputs = Object.fromEntries(Object.entries(ctx.inputs).filter(([k]) => !BACKTEST_INPUTS.has(k)));
    const backtest = backtestMembers(ctx);
    if (backtest) {
      const { weeks, validation_weeks: val, requested } = backtest.index;
      ctx.log(`bundle: backtest weeks ${weeks.join(", ")}; validation weeks ${val.join(", ") || "none"}; ${backtest.files.length} files`);
      if (weeks.length < requested.backtest_weeks || val.length < requested.validation_weeks)
        ctx.log(`bundle: the span holds only ${weeks.length + val.length} weeks: carried ${weeks.length} of backtest_weeks ${requested.backtest_weeks}, ${val.length} of validation_weeks ${requested.validation_weeks}`);
    }
    try {
      const r = await buildBundle({ root: ctx.root, inputs, stem, archive, manifest, ...(backtest ? { backtest } : {}) });
      ctx.log(`bundle: ${r.files.length} files, sha256 ${r.archiveSha256}`);
    } catch (e) {
      throw new RuleError((e as Error).message);
    }
  },
});

/**
 * backtest-comparison: every backtest variant side by side (src/backtest/comparison.ts).
 *
 * Inputs:  heuristic, no_trade, models: `output/ml_backtests/<variant>/` directories (each
 *          with summary.json; models expands over the model axis)
 *          ledgers  optional: sweep ledgers (`output/ml_models/sweeps/<model>/ledger.jsonl`) whose
 *                   `trials_tried` count in the deflated Sharpe ratio's N (src/backtest/verdict.ts)
 * Params:  dsr_level  DSR a model must reach to be promoted (default 0.95)
 * Outputs: json  `output/ml_backtests/comparison.json`;  md  `output/ml_backtests/comparison.md`;
 *          svg   (optional) `output/ml_backtests/comparison_nav.svg`: every variant's NAV, hourly
 */
import { readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { compare, formatComparisonJson, formatComparisonMd, parseVariantSummary } from "../src/backtest/comparison.js";
import { BacktestInputError } from "../src/backtest/gates.js";
import { navSvg, parseNavCsv } from "../src/backtest/outputs.js";
import { DEFAULT_DSR_LEVEL, type SweepTrials } from "../src/backtest/verdict.js";
import { parseLedger, SweepError } from "../src/ml/sweeps/ledger.js";

/** Every ledger's trial count (the header's trials_tried). */
async function sweepTrials(root: string, ledgers: readonly string[]): Promise<SweepTrials[]> {
  const out: SweepTrials[] = [];
  for (const p of ledgers) {
    const shown = relative(root, p);
    try {
      const { header } = parseLedger(await readFile(p, "utf8"), shown);
      out.push({ ledger: shown, model: header.model, trials_tried: header.trials_tried });
    } catch (e) {
      if (e instanceof SweepError) throw new RuleError(`backtest-comparison: ${e.message}`);
      throw new RuleError(`backtest-comparison: ${shown}: cannot read: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return out;
}

export default defineRule({
  describe: "the backtest variants side by side (comparison.json, comparison.md)",
  async run(ctx) {
    const { json, md } = ctx.outputs;
    if (!json || !md) throw new RuleError('backtest-comparison: declare outputs named "json" and "md"');
    const ledgers = ctx.inputs["ledgers"] ?? [];
    const dirs = (ctx.inputs["*"] ?? []).filter((p) => !ledgers.includes(p));
    const lv = ctx.params["dsr_level"] ?? DEFAULT_DSR_LEVEL;
    const dsrLevel = typeof lv === "string" ? Number(lv) : lv;
    if (typeof dsrLevel !== "number" || !(dsrLevel > 0 && dsrLevel < 1)) throw new RuleError(`backtest-comparison: param "dsr_level" must be a probability in (0, 1), got ${JSON.stringify(lv)}`);
    if (dirs.length === 0) throw new RuleError("backtest-comparison: no backtest directories among the inputs");
    try {
      const summaries = [];
      for (const d of dirs) {
        const p = join(d, "summary.json");
        let text: string;
        try {
          text = await readFile(p, "utf8");
        } catch (e) {
          throw new BacktestInputError(`${relative(ctx.root, p)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        summaries.push(parseVariantSummary(text, relative(ctx.root, p)));
      }
      const doc = compare(summaries, { sweeps: await sweepTrials(ctx.root, ledgers), dsrLevel });
      await writeFile(json, formatComparisonJson(doc));
      await writeFile(md, formatComparisonMd(doc));
      if (ctx.outputs["svg"]) {
        // In the comparison's order: the heuristic, the models, no_trade.
        const curves = [];
        for (const row of doc["variants"] as { variant: string }[]) {
          const p = join(dirs[summaries.findIndex((s) => s.variant === row.variant)]!, "nav.csv");
          curves.push({ name: row.variant, curve: parseNavCsv(await readFile(p, "utf8"), relative(ctx.root, p)) });
        }
        const weeks = doc["weeks"] as string[];
        await writeFile(ctx.outputs["svg"], await navSvg(`Backtest NAV by variant (${weeks[0]} to ${weeks[weeks.length - 1]})`, curves));
      }
      const v = doc["verdict"] as { label: string; candidate: { model: string; dsr: number | null } | null; trials: { N: number } };
      ctx.log(`backtest-comparison: ${summaries.length} variants; verdict ${v.label}${v.candidate ? ` (candidate ${v.candidate.model}, DSR ${v.candidate.dsr === null ? "undefined" : v.candidate.dsr.toFixed(3)}, N ${v.trials.N})` : ""}`);
    } catch (e) {
      if (e instanceof BacktestInputError) throw new RuleError(`backtest-comparison: ${e.message}`);
      throw e;
    }
  },
});

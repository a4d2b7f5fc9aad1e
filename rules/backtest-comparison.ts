/**
 * backtest-comparison: every backtest variant side by side (src/backtest/comparison.ts).
 *
 * Inputs:  heuristic, no_trade, models: `output/ml_backtests/<variant>/` directories (each
 *          with summary.json; models expands over the model axis)
 * Outputs: json  `output/ml_backtests/comparison.json`;  md  `output/ml_backtests/comparison.md`;
 *          svg   (optional) `output/ml_backtests/comparison_nav.svg`: every variant's NAV, hourly
 */
import { readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { compare, formatComparisonJson, formatComparisonMd, parseVariantSummary } from "../src/backtest/comparison.js";
import { BacktestInputError } from "../src/backtest/gates.js";
import { navSvg, parseNavCsv } from "../src/backtest/outputs.js";

export default defineRule({
  describe: "the backtest variants side by side (comparison.json, comparison.md)",
  async run(ctx) {
    const { json, md } = ctx.outputs;
    if (!json || !md) throw new RuleError('backtest-comparison: declare outputs named "json" and "md"');
    const dirs = ctx.inputs["*"] ?? [];
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
      const doc = compare(summaries);
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
      ctx.log(`backtest-comparison: ${summaries.length} variants`);
    } catch (e) {
      if (e instanceof BacktestInputError) throw new RuleError(`backtest-comparison: ${e.message}`);
      throw e;
    }
  },
});

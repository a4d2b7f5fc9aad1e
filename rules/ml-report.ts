/**
 * ml-report: the modelling report (Markdown + a self-contained HTML page) from the training
 * data summary, every model's metrics and plots, and the backtest comparison when declared.
 *
 * Inputs:  training   `output/ml_training/` (features.json)
 *          models     every `output/ml_models/{model}/`
 *          backtests  optional: `output/ml_backtests/comparison.md`
 * Params:  title
 * Outputs: markdown   `output/ML_Modeling_Report_{week.last.end}.md`
 *          html       `output/report/` (directory): index.html, <model>.calibration.svg, <model>.learning_curve.svg
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { writeAtomic } from "../src/io/write-atomic.js";
import { optionalString } from "../src/corpus/params.js";
import { readSummary, TrainingSetError } from "../src/ml/models/training-set.js";
import { headline, loadReportModel, renderHtml, renderMarkdown, type DataView } from "../src/report/modeling-report.js";

export default defineRule({
  describe: "the modelling report: data, models vs the heuristic, backtests (Markdown + HTML)",
  async run(ctx) {
    const md = ctx.outputs.markdown, html = ctx.outputs.html;
    if (!md || !html) throw new RuleError('ml-report: declare outputs "markdown" (file) and "html" (directory)');
    const title = optionalString(ctx.params, "title", "SEP gate stream: ML vs the gate heuristic");
    // features.json is a versioned format: readSummary checks its format and version.
    let data: DataView;
    try {
      data = await readSummary(oneInput(ctx, "training"));
    } catch (e) {
      if (e instanceof TrainingSetError) throw new RuleError(`ml-report: ${e.message}`);
      throw e;
    }
    const dirs = ctx.inputs.models ?? [];
    if (dirs.length === 0) throw new RuleError('ml-report: no "models" inputs');
    const models = [];
    for (const d of dirs) {
      try {
        models.push(await loadReportModel(d, basename(d.replace(/\/+$/, ""))));
      } catch (e) {
        throw new RuleError(`ml-report: ${d}: ${(e as Error).message}`);
      }
    }
    const bt = ctx.inputs.backtests?.[0];
    const backtests = bt ? await readFile(bt, "utf8") : null;
    await writeAtomic(md, renderMarkdown(title, data, models, backtests));
    await writeFile(join(html, "index.html"), renderHtml(title, { data, headline: headline(models) }, models, backtests));
    for (const m of models) {
      await writeFile(join(html, `${m.name}.calibration.svg`), m.calibrationSvg);
      await writeFile(join(html, `${m.name}.learning_curve.svg`), m.learningCurveSvg);
    }
    ctx.log(`ml-report: ${models.length} models; ${headline(models)}`);
  },
});

/**
 * sweep-promote: copies the best trial of a sweep (by VALIDATION AUC only: the ledger's
 * selection) to `output/ml_models/<model>_best/`, with its config archived (issue 13).
 *
 * Inputs:  ledger  `output/ml_models/sweeps/<model>/ledger.jsonl`
 *          trials  every trial directory of the sweep
 * Outputs: best    `output/ml_models/<model>_best/`: the trial's files as they are (a model
 *                  directory ml-scores can read), plus selection.json (format
 *                  dagbuild.sweep_selection, version 1: model, trial, metric, value,
 *                  trials_tried, the swept keys, the trial's params and ledger line, every
 *                  trial's validation AUC (null for failed and pruned ones: a pruned trial
 *                  never counts as the best), and the archived config.json digest)
 */
import { cp, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { sha256, stableStringify } from "../src/engine/hash.js";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { parseLedger, SweepError } from "../src/ml/sweeps/ledger.js";

/** Format version of selection.json. */
export const SELECTION_VERSION = 1;

export default defineRule({
  describe: "promote the sweep's best trial by validation AUC, config archived",
  async run(ctx) {
    const out = ctx.outputs.best;
    if (!out) throw new RuleError('sweep-promote: declare a directory output named "best"');
    const file = oneInput(ctx, "ledger");
    let ledger;
    try {
      ledger = parseLedger(await readFile(file, "utf8"), file);
    } catch (e) {
      if (e instanceof SweepError) throw new RuleError(`sweep-promote: ${e.message}`);
      throw e;
    }
    const best = ledger.header.selection.best;
    if (!best) throw new RuleError(`sweep-promote: ${file}: no trial finished with a validation AUC (${ledger.header.failed} failed): nothing to promote`);
    const dir = (ctx.inputs.trials ?? []).find((d) => basename(d.replace(/\/+$/, "")) === best);
    if (!dir) throw new RuleError(`sweep-promote: the ledger's best trial ${best} is not among the "trials" inputs`);
    await cp(dir, out, { recursive: true });
    const config = await readFile(join(dir, "config.json"));
    const line = ledger.trials.find((t) => t.trial === best)!;
    await writeFile(join(out, "selection.json"), stableStringify({
      format: "dagbuild.sweep_selection", version: SELECTION_VERSION,
      model: ledger.header.model, trial: best,
      metric: ledger.header.selection.metric, value: line.metrics?.val_auc ?? null,
      trials_tried: ledger.header.trials_tried,
      swept: ledger.header.swept,
      params: line.params,
      ledger_line: line,
      // A pruned trial's AUC is that of its first epochs: not a candidate's (null, like a failed one).
      validation_auc: Object.fromEntries(ledger.trials.map((t) => [t.trial, t.status === "ok" ? (t.metrics?.val_auc ?? null) : null])),
      config: { file: "config.json", sha256: sha256(config) },
    }));
    ctx.log(`promoted ${best} (validation AUC ${line.metrics?.val_auc}) of ${ledger.header.trials_tried} trials`);
  },
});

/**
 * sweep-ledger: the ledger of one model's sweep (issue 13), from its trial directories.
 *
 * Inputs:  trials  every `output/ml_models/sweeps/<model>/<trial>/` (an unbound trial axis in the dep)
 * Params:  model   the model name written in the header
 *          host    the engine host the trials run on (recorded per line; default null)
 * Outputs: ledger  `output/ml_models/sweeps/<model>/ledger.jsonl` (src/ml/sweeps/ledger.ts: header
 *                  with trials_tried / ok / failed / pruned and the selection, one line per trial)
 */
import { writeFile } from "node:fs/promises";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { buildLedger, formatLedger, SweepError } from "../src/ml/sweeps/ledger.js";

export default defineRule({
  describe: "one line per sweep trial: params, metrics, duration, backend, host, status",
  async run(ctx) {
    const out = ctx.outputs.ledger;
    if (!out) throw new RuleError('sweep-ledger: declare an output named "ledger"');
    const model = ctx.params.model;
    if (typeof model !== "string" || !model) throw new RuleError(`sweep-ledger: param "model": must be a model name, got ${JSON.stringify(model)}`);
    const host = ctx.params.host === undefined ? null : String(ctx.params.host);
    for (const k of Object.keys(ctx.params)) if (k !== "model" && k !== "host") throw new RuleError(`sweep-ledger: param "${k}": unknown (known: host, model)`);
    const dirs = ctx.inputs.trials ?? [];
    if (dirs.length === 0) throw new RuleError('sweep-ledger: input "trials" is empty');
    try {
      const ledger = buildLedger(model, dirs, host);
      await writeFile(out, formatLedger(ledger));
      const h = ledger.header;
      ctx.log(`sweep ${model}: ${h.trials_tried} trials (${h.ok} ok, ${h.failed} failed, ${h.pruned} pruned); best by validation AUC: ${h.selection.best ?? "none"}`);
    } catch (e) {
      if (e instanceof SweepError) throw new RuleError(`sweep-ledger ${model}: ${e.message}`);
      throw e;
    }
  },
});

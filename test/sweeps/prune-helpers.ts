/**
 * Pruning test helpers: a fast fake model rule that trains "epochs" (a validation AUC per
 * epoch as a function of its params and of its own input file `in/<trial>.txt`), and prunes
 * the way rules/ml-model.ts does: after epoch `prune_after` (ctx.siblings.options) it compares
 * its AUC with the median of its finished siblings' AUC at that epoch (their train_log.jsonl)
 * and, when below and at least `min_finished` siblings finished, stops, writes status.json
 * (status pruned) and calls ctx.notFinal.
 *
 * It appends its action id to `<ws>/runs.log` (rig.ts `ranIds`) and one JSON line
 * `{id, saw: [sibling ids], siblings: bool}` to `<ws>/seen.log`.
 */
import { makeWs, write } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";

/** JavaScript of the fake pruning model (valid as .ts text to hash and .js to run). */
export const PRUNE_MODEL = `// dagbuild pruning test: fake model
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
export default {
  describe: "test fake: epochs of a model, pruned against its siblings",
  async run(ctx) {
    const id = ctx.target + "[" + Object.entries(ctx.partition).map(([k, v]) => k + "=" + v).join(",") + "]";
    appendFileSync(join(ctx.root, "runs.log"), id + "\\n");
    const sib = ctx.siblings;
    appendFileSync(join(ctx.root, "seen.log"), JSON.stringify({ id, siblings: sib !== undefined, saw: (sib ? sib.finished : []).map((f) => f.id) }) + "\\n");
    const p = ctx.params;
    const tweak = Number(readFileSync(ctx.inputs.tweak[0], "utf8").trim() || "0");
    const k = sib ? sib.options.prune_after : undefined;
    const min = sib ? sib.options.min_finished ?? 1 : 0;
    const atK = [];
    for (const f of sib ? sib.finished : []) {
      const log = join(f.outputs.model, "train_log.jsonl");
      if (!existsSync(log) || existsSync(join(f.outputs.model, "status.json"))) continue;
      const line = readFileSync(log, "utf8").trim().split("\\n").map((l) => JSON.parse(l)).find((e) => e.epoch === k);
      if (line) atK.push(line.val_auc);
    }
    const out = ctx.outputs.model;
    const epochs = [];
    for (let e = 1; e <= p.epochs; e++) {
      const auc = Math.round((0.9 - p.units / 100 + tweak + e / 1000) * 1e6) / 1e6;
      epochs.push({ epoch: e, val_auc: auc });
      if (e === k && atK.length >= min && auc < median(atK)) {
        const why = "pruned: val AUC " + auc + " < median " + median(atK) + " of " + atK.length + " finished at epoch " + k;
        writeFileSync(join(out, "status.json"), JSON.stringify({ format: "dagbuild.trial_status", version: 1, status: "pruned", params: p,
          metrics: { val_auc: auc, epochs_run: e }, error: why }));
        writeFileSync(join(out, "train_log.jsonl"), epochs.map((x) => JSON.stringify(x)).join("\\n") + "\\n");
        ctx.notFinal(why);
        return;
      }
    }
    const auc = epochs[epochs.length - 1].val_auc;
    writeFileSync(join(out, "metrics.json"), JSON.stringify({ format: "dagbuild.ml_metrics", version: 1,
      validation: { model: { auc, log_loss: 0.6 } }, test: { model: { auc: auc - 0.01 } },
      training: { seconds: 0.01, backend: "fake", best_epoch: p.epochs, epochs_run: p.epochs } }));
    writeFileSync(join(out, "config.json"), JSON.stringify({ architecture: { kind: "lstm", units: p.units, layers: 1 }, training: { lr: p.lr, epochs: p.epochs } }));
    writeFileSync(join(out, "train_log.jsonl"), epochs.map((x) => JSON.stringify(x)).join("\\n") + "\\n");
  },
};
`;

/** Trial id of the fake grid (lr fixed). */
export const trialOf = (units: number) => `lr-0.001_units-${units}`;
/** Trial action id. */
export const pruneAction = (units: number) => `sweep[trial=${trialOf(units)}]`;

/** The pipeline: `units` trials (1..units) whose AUC falls with units; `siblings:` when `prune`. */
export function prunePipeline(opts: { units: number; prune?: { after: number; min: number } }): string {
  const units = Array.from({ length: opts.units }, (_, i) => i + 1).join(", ");
  return [
    "version: 1",
    "default: [ledger]",
    "axes:",
    `  trial: { grid: { units: [${units}], lr: [0.001] } }`,
    "targets:",
    "  sweep:",
    "    partition: [trial]",
    '    outputs: { model: "out/sweeps/{trial}/" }',
    '    deps: { tweak: "in/{trial}.txt" }',
    "    rule: rules/prunemodel.ts",
    '    params: { units: "{trial.units}", lr: "{trial.lr}", epochs: 3 }',
    ...(opts.prune ? [`    siblings: { axis: trial, options: { prune_after: ${opts.prune.after}, min_finished: ${opts.prune.min} } }`] : []),
    "  ledger:",
    "    outputs: [out/ledger.txt]",
    '    deps: { trials: "out/sweeps/{trial}/" }',
    '    run: "ls {deps} > {out}"',
    "",
  ].join("\n");
}

/** A workspace with the fake pruning model and one `in/<trial>.txt` (0) per trial. */
export function pruneWorkspace(opts: Parameters<typeof prunePipeline>[0]): string {
  const ws = makeWs(prunePipeline(opts), { fake: false });
  writeModule(ws, "rules/prunemodel.ts", PRUNE_MODEL);
  for (let u = 1; u <= opts.units; u++) write(ws, `in/${trialOf(u)}.txt`, "0\n");
  return ws;
}

/**
 * Pruning with the real rule (rules/ml-model.ts): four tiny LSTM trials train unpruned; then
 * the worst of them at epoch 1 runs again with the other three as its finished siblings
 * (`ctx.siblings`, as the engine hands them) and is pruned after epoch 1, marked not final,
 * with the AUC it had there; the best runs again with its siblings and is not pruned, its
 * model bit-identical to the unpruned run. The ledger lists the pruned trial as pruned and
 * never selects it; the promotion ignores it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import trainingRule from "../../rules/ml-training.js";
import modelRule from "../../rules/ml-model.js";
import ledgerRule from "../../rules/sweep-ledger.js";
import promoteRule from "../../rules/sweep-promote.js";
import type { RuleContext, RuleSiblings } from "../../src/engine/rule.js";
import { parseLedger } from "../../src/ml/sweeps/ledger.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { makeRows, writeCorpus } from "../stage2/make-corpus.js";

const root = tempRoot("sweep-prune");
const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"];
const BASE = { model: "lstm", seq_len: 8, epochs: 2, patience: 2, bootstrap: 50, threads: 1 };
const TRIALS: Record<string, Record<string, unknown>> = {
  "lr-0.003_units-4": { ...BASE, units: 4, lr: 0.003 },
  "lr-0.01_units-6": { ...BASE, units: 6, lr: 0.01 },
  "lr-0.0001_units-2": { ...BASE, units: 2, lr: 0.0001 },
  "lr-0.03_units-8": { ...BASE, units: 8, lr: 0.03 },
};
const OPTIONS = { prune_after: 1, min_finished: 2 };
const dir = (t: string, where = "sweeps") => `output/ml_models/${where}/lstm/${t}`;
const epoch1 = (t: string) => (JSON.parse(readFileSync(join(root, dir(t), "train_log.jsonl"), "utf8").split("\n")[0]!) as { val_auc: number }).val_auc;

/** Runs the model rule into `output/ml_models/again/lstm/<trial>/` with the other trials as finished siblings. */
async function runWithSiblings(trial: string): Promise<{ notFinal: string[]; log: string[] }> {
  const out = join(root, dir(trial, "again"));
  mkdirSync(out, { recursive: true });
  const notFinal: string[] = [];
  const log: string[] = [];
  const others = Object.keys(TRIALS).filter((t) => t !== trial);
  const siblings: RuleSiblings = { axis: "lstm_trial", options: OPTIONS, finished: others.map((t) => ({ id: `sweep_lstm[lstm_trial=${t}]`, partition: { lstm_trial: t }, outputs: { model: join(root, dir(t)) } })) };
  const ctx: RuleContext = {
    root, target: "sweep_lstm", partition: { lstm_trial: trial }, params: TRIALS[trial]!,
    inputs: { training: [join(root, "output/ml_training")], "*": [join(root, "output/ml_training")] },
    outputs: { model: out }, log: (l) => log.push(l), signal: new AbortController().signal,
    siblings, notFinal: (r) => notFinal.push(r),
  };
  await modelRule.run(ctx);
  return { notFinal, log };
}

let worst = "";
let best = "";

test.before(async () => {
  await writeCorpus(join(root, "in/c.parquet"), makeRows({ weeks: WEEKS, instruments: ["EUR_USD", "USD_JPY", "GBP_USD"] }));
  await runRule(trainingRule, root, { inputs: { corpus: ["in/c.parquet"] }, outputs: { data: "output/ml_training/" }, params: { seq_lengths: [8] } });
  for (const [t, params] of Object.entries(TRIALS))
    await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: `${dir(t)}/` }, params, partition: { lstm_trial: t } });
  const byAuc = Object.keys(TRIALS).sort((a, b) => epoch1(a) - epoch1(b));
  worst = byAuc[0]!;
  best = byAuc[byAuc.length - 1]!;
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test("the worst trial at epoch 1 is pruned there: status.json pruned, not final, the AUC it had at epoch 1", async () => {
  assert.ok(epoch1(worst) < epoch1(Object.keys(TRIALS).filter((t) => t !== worst).sort((a, b) => epoch1(a) - epoch1(b))[1]!), "the grid has a trial below the others' median");
  const r = await runWithSiblings(worst);
  assert.equal(readdirSync(join(root, dir(worst, "again"))), ["status.json"]);
  const s = JSON.parse(readFileSync(join(root, dir(worst, "again"), "status.json"), "utf8"));
  assert.equal([s.format, s.version, s.status], ["dagbuild.trial_status", 1, "pruned"]);
  assert.is(s.epochs.length, 1, "stopped after epoch 1 of 2");
  assert.is(s.metrics.val_auc, epoch1(worst), "the same AUC as the unpruned run at epoch 1 (determinism)");
  const others = Object.keys(TRIALS).filter((t) => t !== worst).map(epoch1).sort((a, b) => a - b);
  assert.is(s.pruned.median_val_auc, others[1]);
  assert.is(s.pruned.finished.length, 3);
  assert.is(s.params.units, TRIALS[worst]!.units);
  assert.equal(r.notFinal, [s.error], "marked not final with the reason");
  assert.match(s.error, /^pruned: validation AUC [\d.]+ < median [\d.]+ of 3 finished trials at epoch 1$/);
  assert.ok(!("seconds" in s.epochs[0]), "no wall-clock field: a rerun that prunes again writes the same bytes");
});

test("the best trial is not pruned: final, and its model is the unpruned run's", async () => {
  const r = await runWithSiblings(best);
  assert.equal(r.notFinal, []);
  assert.ok(r.log.some((l) => /pruned after epoch 1 if below the median/.test(l)));
  for (const f of ["weights.safetensors", "model.onnx", "config.json"])
    assert.ok(readFileSync(join(root, dir(best, "again"), f)).equals(readFileSync(join(root, dir(best), f))), `${f} identical`);
  assert.ok(!existsSync(join(root, dir(best, "again"), "status.json")));
});

test("the ledger lists the pruned trial as pruned and never selects it; promotion takes an ok trial", async () => {
  // The sweep as the engine would leave it: the pruned outcome in place of the worst trial's.
  const auc = epoch1(worst);
  rmSync(join(root, dir(worst)), { recursive: true });
  mkdirSync(join(root, dir(worst)), { recursive: true });
  for (const f of readdirSync(join(root, dir(worst, "again")))) copyFileSync(join(root, dir(worst, "again"), f), join(root, dir(worst), f));
  const trials = Object.keys(TRIALS).map((t) => `${dir(t)}/`);
  await runRule(ledgerRule, root, { inputs: { trials }, outputs: { ledger: "output/ml_models/sweeps/lstm/ledger.jsonl" }, params: { model: "lstm" } });
  const { header, trials: lines } = parseLedger(readFileSync(join(root, "output/ml_models/sweeps/lstm/ledger.jsonl"), "utf8"), "ledger.jsonl");
  assert.equal([header.trials_tried, header.ok, header.failed, header.pruned], [4, 3, 0, 1]);
  const p = lines.find((l) => l.trial === worst)!;
  assert.is(p.status, "pruned");
  assert.is(p.metrics!.val_auc, auc);
  assert.is(p.metrics!.epochs_run, 1);
  assert.match(p.error!, /^pruned: /);
  assert.ok(header.selection.best !== null && header.selection.best !== worst);
  await runRule(promoteRule, root, { inputs: { ledger: ["output/ml_models/sweeps/lstm/ledger.jsonl"], trials }, outputs: { best: "output/ml_models/lstm_best/" } });
  const sel = JSON.parse(readFileSync(join(root, "output/ml_models/lstm_best/selection.json"), "utf8"));
  assert.is(sel.trial, header.selection.best);
  assert.is(sel.trials_tried, 4, "trials_tried counts the pruned trial");
  assert.is(sel.validation_auc[worst], null, "a pruned trial's partial AUC is not a candidate's");
});

test("bad pruning options are a RuleError naming the field", async () => {
  const ctx = (options: Record<string, unknown>): RuleContext => ({
    root, target: "sweep_lstm", partition: {}, params: TRIALS[best]!, inputs: { training: [join(root, "output/ml_training")] },
    outputs: { model: join(root, "output/x") }, log: () => {}, signal: new AbortController().signal,
    siblings: { axis: "lstm_trial", options, finished: [] }, notFinal: () => {},
  });
  for (const [options, re] of [[{ prune_after: 0 }, /siblings\.options\.prune_after: must be an integer >= 1/], [{ prune_after: 1, min_finishd: 2 }, /siblings\.options\.min_finishd: unknown/]] as const) {
    try {
      await modelRule.run(ctx(options));
      assert.unreachable("should throw");
    } catch (e) {
      assert.is((e as Error).name, "RuleError");
      assert.match((e as Error).message, re);
    }
  }
});

test.run();

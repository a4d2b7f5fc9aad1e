/**
 * One small real sweep: three tiny LSTM trials of rules/ml-model.ts on a hand-made training
 * set (one of them a recorded failure), the ledger (rules/sweep-ledger.ts) and the promotion
 * of the best trial by validation AUC (rules/sweep-promote.ts); a trial whose horizon or window
 * length is not its training data's is a RuleError naming both values, whatever on_failure says.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import trainingRule from "../../rules/ml-training.js";
import modelRule from "../../rules/ml-model.js";
import ledgerRule from "../../rules/sweep-ledger.js";
import promoteRule from "../../rules/sweep-promote.js";
import { parseLedger } from "../../src/ml/sweeps/ledger.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { makeRows, writeCorpus } from "../stage2/make-corpus.js";

const root = tempRoot("sweep-real");
const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"];
const BASE = { model: "lstm", seq_len: 8, horizon: 60, epochs: 2, patience: 1, bootstrap: 50, threads: 1, on_failure: "record" };
const TRIALS: Record<string, Record<string, unknown>> = {
  "lr-0.003_units-4": { ...BASE, units: 4, lr: 0.003 },
  "lr-0.01_units-6": { ...BASE, units: 6, lr: 0.01 },
  // A recurrent model has 1 or 2 layers: an expected failure (a bad param combination), recorded.
  "layers-3_lr-0.01_units-4": { ...BASE, units: 4, lr: 0.01, layers: 3 },
};
const dir = (t: string) => `output/ml_models/sweeps/lstm/${t}/`;
const json = (rel: string) => JSON.parse(readFileSync(join(root, rel), "utf8"));

test.before(async () => {
  await writeCorpus(join(root, "in/c.parquet"), makeRows({ weeks: WEEKS, instruments: ["EUR_USD", "USD_JPY", "GBP_USD"] }));
  await runRule(trainingRule, root, { inputs: { corpus: ["in/c.parquet"] }, outputs: { data: "output/ml_training/" }, params: { seq_lengths: [8] } });
  for (const [t, params] of Object.entries(TRIALS))
    await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: dir(t) }, params, partition: { lstm_trial: t } });
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test("a failing trial with on_failure: record leaves only status.json naming the error", () => {
  const bad = "layers-3_lr-0.01_units-4";
  assert.equal(readdirSync(join(root, dir(bad))), ["status.json"]);
  const s = json(`${dir(bad)}status.json`);
  assert.equal([s.format, s.version, s.status], ["dagbuild.trial_status", 1, "failed"]);
  assert.match(s.error, /param "layers": must be 1 or 2/);
  assert.is(s.params.layers, 3);
  assert.is(s.params.horizon, 60, "the params as given, the data contract's horizon included");
  assert.is(s.params.on_failure, undefined, "the rule's own switch is not a model param");
});

test("the ledger: a header with trials_tried and the selection, one line per trial", async () => {
  const trials = Object.keys(TRIALS).map(dir);
  await runRule(ledgerRule, root, { inputs: { trials }, outputs: { ledger: "output/ml_models/sweeps/lstm/ledger.jsonl" }, params: { model: "lstm", host: "gpu" } });
  const text = readFileSync(join(root, "output/ml_models/sweeps/lstm/ledger.jsonl"), "utf8");
  const { header, trials: lines } = parseLedger(text, "ledger.jsonl");
  assert.equal([header.trials_tried, header.ok, header.failed, header.pruned], [3, 2, 1, 0]);
  assert.equal(lines.map((l) => l.trial), Object.keys(TRIALS).sort());
  const ok = lines.filter((l) => l.status === "ok");
  for (const l of ok) {
    const m = json(`${dir(l.trial)}metrics.json`);
    assert.is(l.metrics!.val_auc, m.validation.model.auc);
    assert.is(l.metrics!.test_auc, m.test.model.auc);
    assert.is(l.duration_s, m.training.seconds);
    assert.is(l.backend, m.training.backend);
    assert.is(l.host, "gpu");
    assert.is(l.params.units, TRIALS[l.trial]!.units);
    assert.is(l.params.lr, TRIALS[l.trial]!.lr);
    assert.is(l.params.horizon, 60, "config.json records the training data's horizon");
  }
  const failed = lines.find((l) => l.status === "failed")!;
  assert.is(failed.trial, "layers-3_lr-0.01_units-4");
  assert.match(failed.error!, /must be 1 or 2/);
  assert.is(failed.metrics, null);
  const best = ok.reduce((a, b) => (b.metrics!.val_auc! > a.metrics!.val_auc! ? b : a));
  assert.is(header.selection.best, best.trial);
  assert.equal(header.swept, ["layers", "lr", "units"]);
});

test("a horizon or window length the training data lacks is a RuleError naming both values, even under on_failure: record", async () => {
  const run = (params: Record<string, unknown>, t: string) =>
    runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: dir(t) }, params, partition: { lstm_trial: t } });
  const horizon = await run({ ...BASE, units: 4, lr: 0.003, horizon: 30 }, "h30").then(() => undefined, (e: Error) => e);
  assert.is(horizon?.name, "RuleError");
  assert.match(horizon!.message, /param "horizon" is 30, but .*output\/ml_training\/features.json records horizon 60/);
  const seq = await run({ ...BASE, units: 4, lr: 0.003, seq_len: 16 }, "s16").then(() => undefined, (e: Error) => e);
  assert.is(seq?.name, "RuleError");
  assert.match(seq!.message, /param "seq_len" is 16, but .*output\/ml_training has no windows of length 16 \(built: 8,/);
  for (const t of ["h30", "s16"]) assert.equal(readdirSync(join(root, dir(t))), [], `${t}: nothing recorded, nothing trained`);
});

test("promotion copies the best trial by validation AUC and archives its config", async () => {
  const trials = Object.keys(TRIALS).map(dir);
  await runRule(promoteRule, root, { inputs: { ledger: ["output/ml_models/sweeps/lstm/ledger.jsonl"], trials }, outputs: { best: "output/ml_models/lstm_best/" } });
  const { header } = parseLedger(readFileSync(join(root, "output/ml_models/sweeps/lstm/ledger.jsonl"), "utf8"), "l");
  const best = header.selection.best!;
  const src = join(root, dir(best));
  const out = join(root, "output/ml_models/lstm_best");
  for (const f of readdirSync(src)) assert.ok(readFileSync(join(src, f)).equals(readFileSync(join(out, f))), `${f} copied as is`);
  const sel = json("output/ml_models/lstm_best/selection.json");
  assert.equal([sel.format, sel.version, sel.trial, sel.metric, sel.trials_tried], ["dagbuild.sweep_selection", 1, best, "validation.model.auc", 3]);
  assert.is(sel.value, json(`${dir(best)}metrics.json`).validation.model.auc);
  assert.is(sel.config.sha256, createHash("sha256").update(readFileSync(join(src, "config.json"))).digest("hex"));
  assert.is(Object.keys(sel.validation_auc).length, 3);
});

test.run();

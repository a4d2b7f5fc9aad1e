// The model, GBM and scores rules on a small hand-made training set: every documented file,
// metrics that say where thresholds came from, the TensorFlow.js path, located param errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import trainingRule from "../../rules/ml-training.js";
import modelRule from "../../rules/ml-model.js";
import gbmRule from "../../rules/ml-gbm.js";
import scoresRule from "../../rules/ml-scores.js";
import { readSafetensors } from "../../src/ml/safetensors.js";
import { paramSpecs } from "../../src/ml/nn/config.js";
import { LIBXGBOOST_PATH } from "../../src/ml/xgboost.js";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { makeRows, writeCorpus } from "./make-corpus.js";

const root = tempRoot("ml-models");
const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"];
const TINY = { model: "lstm", seq_len: 8, units: 4, epochs: 2, patience: 1, bootstrap: 50, threads: 1 };

test.before(async () => {
  await writeCorpus(join(root, "in/c.parquet"), makeRows({ weeks: WEEKS, instruments: ["EUR_USD", "USD_JPY", "GBP_USD"] }));
  await runRule(trainingRule, root, { inputs: { corpus: ["in/c.parquet"] }, outputs: { data: "output/ml_training/" }, params: { seq_lengths: [8] } });
});
test.after(() => rmSync(root, { recursive: true, force: true }));

const model = (name: string, params: Record<string, unknown>) =>
  runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: `output/ml_models/${name}/` }, params });
const json = (rel: string) => JSON.parse(readFileSync(join(root, rel), "utf8"));

test("a sequence model writes every documented file; metrics say where the threshold came from", async () => {
  const log = await model("lstm", TINY);
  assert.equal(readdirSync(join(root, "output/ml_models/lstm")).sort(), ["calibration.svg", "config.json", "learning_curve.svg", "metrics.json", "model.onnx", "train_log.jsonl", "weights.safetensors"]);
  const m = json("output/ml_models/lstm/metrics.json");
  assert.is(m.threshold.chosen_on, "validation");
  for (const s of ["validation", "test"]) {
    for (const k of ["auc", "auc_ci95", "log_loss", "brier", "ece", "accuracy", "precision", "recall"]) assert.ok(k in m[s].model, `${s}.model.${k}`);
    assert.ok(m[s].hazard_heuristic && m[s].base_rate && m[s].vs_hazard && m[s].vs_base_rate, `${s} baselines`);
    assert.is(m[s].base_rate.auc, 0.5);
  }
  assert.ok(["native", "wasm"].includes(m.training.backend));
  assert.ok(m.onnx_check.max_abs_diff <= 1e-4);
  const epochs = readFileSync(join(root, "output/ml_models/lstm/train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(epochs.length >= 1 && epochs.length <= 2);
  for (const e of epochs) for (const k of ["epoch", "train_loss", "val_loss", "val_auc", "seconds", "samples_per_s"]) assert.ok(k in e, k);
  const w = await readSafetensors(join(root, "output/ml_models/lstm/weights.safetensors"));
  const cfg = json("output/ml_models/lstm/config.json");
  assert.equal([...w.tensors.keys()].sort(), paramSpecs(cfg.architecture).map((s) => s.name).sort());
  for (const s of paramSpecs(cfg.architecture)) assert.equal(w.tensors.get(s.name)!.shape, [...s.shape], s.name);
  assert.equal(cfg.features, json("output/ml_training/features.json").features.map((f: { name: string }) => f.name));
  assert.ok(log.some((l) => /best epoch \d/.test(l)));
});

test("the same seed gives the same weights and ONNX bytes, whatever the thread count", async () => {
  // Same model name (it is in the ONNX metadata), another directory.
  await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: "t2/lstm/" }, params: { ...TINY, threads: 2 } });
  for (const f of ["weights.safetensors", "model.onnx"])
    assert.ok(readFileSync(join(root, "output/ml_models/lstm", f)).equals(readFileSync(join(root, "t2/lstm", f))), f);
  assert.equal(json("t2/lstm/metrics.json").test, json("output/ml_models/lstm/metrics.json").test);
});

test("nothing fitted sees a test label: flip every test-week label and the weights, threshold and validation metrics stay", async () => {
  await model("lstm", TINY);
  const flipped = makeRows({ weeks: WEEKS, instruments: ["EUR_USD", "USD_JPY", "GBP_USD"] }).map((r) =>
    r.week === WEEKS[4] && r.roc_forward_pct_60 !== null ? { ...r, roc_forward_pct_60: -r.roc_forward_pct_60 } : r,
  );
  await writeCorpus(join(root, "in/flipped.parquet"), flipped);
  await runRule(trainingRule, root, { inputs: { corpus: ["in/flipped.parquet"] }, outputs: { data: "flip/ml_training/" }, params: { seq_lengths: [8] } });
  await runRule(modelRule, root, { inputs: { training: ["flip/ml_training"] }, outputs: { model: "flip/lstm/" }, params: TINY });
  assert.ok(readFileSync(join(root, "output/ml_models/lstm/weights.safetensors")).equals(readFileSync(join(root, "flip/lstm/weights.safetensors"))), "same weights");
  const a = json("output/ml_models/lstm/metrics.json"), b = json("flip/lstm/metrics.json");
  assert.equal(b.threshold, a.threshold);
  assert.equal(b.validation, a.validation);
  assert.is.not(b.test.model.auc, a.test.model.auc, "the test numbers do see the flip");
});

test("backend tfjs trains the same config on TensorFlow.js and records it", async () => {
  await model("lstm_tfjs", { ...TINY, backend: "tfjs" });
  const m = json("output/ml_models/lstm_tfjs/metrics.json");
  assert.match(m.training.backend, /^tfjs-(wasm|cpu|tensorflow)$/);
  assert.ok(m.onnx_check.max_abs_diff <= 1e-4, "ONNX Runtime agrees with our kernels on the tfjs-trained weights");
});

test("a transformer and a GRU with a magnitude head build and report MAE/RMSE", async () => {
  await model("transformer", { model: "transformer", seq_len: 8, d_model: 8, heads: 2, layers: 1, ff: 8, epochs: 1, bootstrap: 20, task: "both", threads: 1 });
  await model("gru", { model: "gru", seq_len: 8, units: 4, epochs: 1, bootstrap: 20, task: "both", threads: 1 });
  for (const n of ["transformer", "gru"]) {
    const m = json(`output/ml_models/${n}/metrics.json`);
    assert.ok(m.test.magnitude.mae > 0 && m.test.magnitude.rmse >= m.test.magnitude.mae, `${n} magnitude metrics`);
  }
});

test("dropout: 0 is the absent param bit for bit; a rate is recorded in config.json and metrics.json and still exports an agreeing model.onnx", async () => {
  await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: "d0/lstm/" }, params: { ...TINY, dropout: 0 } });
  for (const f of ["weights.safetensors", "model.onnx"])
    assert.ok(readFileSync(join(root, "output/ml_models/lstm", f)).equals(readFileSync(join(root, "d0/lstm", f))), `dropout 0: ${f} as without the param`);
  assert.is(json("d0/lstm/config.json").training.dropout, 0);
  assert.not.ok("dropout" in json("d0/lstm/config.json").architecture, "dropout 0 leaves the architecture as it was");
  await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: "d3/lstm/" }, params: { ...TINY, dropout: 0.3 } });
  const cfg = json("d3/lstm/config.json"), m = json("d3/lstm/metrics.json");
  assert.is(cfg.training.dropout, 0.3);
  assert.is(cfg.architecture.dropout, 0.3);
  assert.is(m.training.dropout, 0.3);
  assert.ok(m.onnx_check.max_abs_diff <= 1e-4, "ONNX Runtime agrees with the engine's evaluation forward");
  assert.not.ok(readFileSync(join(root, "output/ml_models/lstm/weights.safetensors")).equals(readFileSync(join(root, "d3/lstm/weights.safetensors"))), "dropout changed the weights");
});

test("unknown or ill-typed params are refused by name", async () => {
  for (const [params, msg] of [
    [{ ...TINY, unitz: 3 }, /param "unitz": unknown for model lstm/],
    [{ ...TINY, model: "rnn" }, /param "model": must be one of lstm, gru, transformer/],
    [{ ...TINY, seq_len: 16 }, /no windows of length 16/],
    [{ model: "transformer", seq_len: 8, d_model: 6, heads: 4 }, /heads \(4\) must divide d_model \(6\)/],
    [{ ...TINY, dropout: 1 }, /param "dropout": must be a dropout rate in \[0, 1\), got 1/],
    [{ ...TINY, dropout: "0.2" }, /param "dropout": must be a dropout rate/],
  ] as const) {
    try {
      await model("bad", params);
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, msg);
    }
  }
});

const gbm = existsSync(LIBXGBOOST_PATH) ? test : test.skip;
gbm("the GBM refresh and the scores: one row per validation/test gate, probabilities, the model digest", async () => {
  await runRule(gbmRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: "output/ml_models/baseline_gbm/" }, params: { rounds: 20, bootstrap: 20 } });
  assert.is(json("output/ml_models/baseline_gbm/metrics.json").threshold.chosen_on, "validation");
  const fj = json("output/ml_training/features.json");
  for (const m of ["baseline_gbm", "lstm"]) {
    await runRule(scoresRule, root, { inputs: { model: [`output/ml_models/${m}`], training: ["output/ml_training"] }, outputs: { scores: `output/ml_scores/${m}.parquet` } });
    const [[n, nulls, lo, hi, digests, splits]] = await withDuckDb(async (c) =>
      (await c.runAndReadAll(`SELECT count(*), count(*) FILTER (WHERE score IS NULL), min(score), max(score), count(DISTINCT model_digest), string_agg(DISTINCT split, ',' ORDER BY split) FROM read_parquet(${sqlString(join(root, `output/ml_scores/${m}.parquet`))})`)).getRows(),
    );
    assert.is(Number(n), fj.counts.rows.validation + fj.counts.rows.test, `${m}: every validation and test gate`);
    assert.is(Number(digests), 1);
    assert.is(splits, "test,validation");
    assert.ok((lo as number) > 0 && (hi as number) < 1);
    // A window may reach back into earlier splits' rows but never across a gap longer than
    // max_gap (50 h): these fixture weeks open 53 h after the Friday before, so the first
    // L - 1 = 7 gates of each validation and test week (3 instruments x 2 weeks) have none.
    assert.is(Number(nulls), m === "lstm" ? 3 * 2 * 7 : 0, `${m}: NULL exactly where no full window exists`);
  }
});
test("a model scores training data normalised by another fit (a model held by retrain_every) as it scores its own", async () => {
  // The same rows under a robust fit: every numeric center and scale differs from the z-score
  // fit the LSTM was trained under; the scorer maps the values back, so the scores agree.
  await runRule(trainingRule, root, { inputs: { corpus: ["in/c.parquet"] }, outputs: { data: "refit/ml_training/" }, params: { seq_lengths: [8], normalise: "robust" } });
  const a = json("output/ml_training/features.json").features, b = json("refit/ml_training/features.json").features;
  assert.ok(a.some((f: { center: number }, i: number) => f.center !== b[i].center), "the fits differ");
  await runRule(scoresRule, root, { inputs: { model: ["output/ml_models/lstm"], training: ["output/ml_training"] }, outputs: { scores: "refit/own.parquet" } });
  await runRule(scoresRule, root, { inputs: { model: ["output/ml_models/lstm"], training: ["refit/ml_training"] }, outputs: { scores: "refit/other.parquet" } });
  const [[n, worst]] = await withDuckDb(async (c) =>
    (await c.runAndReadAll(`SELECT count(*), max(abs(a.score - b.score)) FROM read_parquet(${sqlString(join(root, "refit/own.parquet"))}) a JOIN read_parquet(${sqlString(join(root, "refit/other.parquet"))}) b USING (instrument, run_mode, ts_ms) WHERE a.score IS NOT NULL`)).getRows(),
  );
  assert.ok(Number(n) > 100, `${n} rows compared`);
  assert.ok((worst as number) < 1e-4, `largest score difference ${worst}`);
});
if (!existsSync(LIBXGBOOST_PATH)) console.log(`SKIP GBM refresh: ${LIBXGBOOST_PATH} missing`);

test.run();

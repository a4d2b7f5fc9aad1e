/**
 * Dropout through the trainer (docs/nn-engine.md, "Dropout"): a rate of 0 is today's training
 * bit for bit; a rate above 0 changes the weights, yet 1, 2 and 3 threads, a different chunking
 * of the work and the native and wasm builds still give bit-identical weights (the masks are
 * counter-based); evaluation has no mask (scoring is repeatable, the trainer's validation
 * predictions are predict()'s); the ONNX export of weights trained with dropout scores as the
 * engine's evaluation forward; the TensorFlow.js trainer takes the same masked steps.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ModelConfig } from "../../src/ml/nn/config.js";
import { nativeKernelsAvailable } from "../../src/ml/nn/kernels.js";
import { predict, trainModel, TrainInputError, type Split, type TrainOptions } from "../../src/ml/nn/trainer.js";
import { trainTfjs } from "../../src/ml/nn/tfjs-trainer.js";
import { exportOnnx } from "../../src/ml/onnx/export.js";
import { createScorer } from "../../src/ml/onnx/score.js";
import { gaussian } from "./model-helpers.js";

const LSTM2: ModelConfig = { kind: "lstm", seq_len: 6, n_features: 3, units: 8, layers: 2, magnitude: true };
const GRU1: ModelConfig = { kind: "gru", seq_len: 6, n_features: 3, units: 8, layers: 1, magnitude: false };
const TR_LAST: ModelConfig = { kind: "transformer", seq_len: 6, n_features: 3, d_model: 8, heads: 2, layers: 2, ff: 12, pos: "learned", pool: "last", magnitude: true };
const TR_MEAN: ModelConfig = { kind: "transformer", seq_len: 6, n_features: 3, d_model: 8, heads: 2, layers: 1, ff: 12, pos: "sinusoidal", pool: "mean", magnitude: false };

/** n windows of X ~ N(0, 1); the label is the sign of feature 0 over the last two steps (plus noise). */
function task(c: ModelConfig, n: number, seed: number): Split {
  const g = gaussian(seed);
  const { seq_len: L, n_features: F } = c;
  const X = Float32Array.from({ length: n * L * F }, () => g());
  const ySign = new Uint8Array(n);
  const yMag = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = X[(i * L + L - 1) * F]! + X[(i * L + L - 2) * F]! + 0.5 * g();
    ySign[i] = s > 0 ? 1 : 0;
    yMag[i] = Math.abs(s);
  }
  return { X, ySign, yMag, n };
}

const OPTS: TrainOptions = { seed: 5, epochs: 2, batch: 80, lr: 5e-3 };
const bytes = (p: Float32Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength);

function data(c: ModelConfig) {
  return { train: task(c, 200, 1), validation: task(c, 64, 2) };
}

test("dropout 0 trains exactly as a config without the field (weights and metrics bit for bit)", async () => {
  for (const c of [LSTM2, TR_LAST]) {
    const d = data(c);
    const absent = await trainModel(c, d, OPTS);
    const zero = await trainModel({ ...c, dropout: 0 }, d, OPTS);
    assert.equal(bytes(zero.params), bytes(absent.params), `${c.kind}: dropout 0 changed the weights`);
    assert.equal(zero.epochs.map((e) => [e.train_loss, e.val_auc]), absent.epochs.map((e) => [e.train_loss, e.val_auc]));
  }
});

test("dropout > 0 changes training; 1, 2, 3 threads and another chunk size's schedule give the same bits", async () => {
  for (const c0 of [LSTM2, GRU1, TR_LAST, TR_MEAN]) {
    const c = { ...c0, dropout: 0.3 };
    const d = data(c);
    const one = await trainModel(c, d, { ...OPTS, threads: 1 });
    const plain = await trainModel(c0, d, { ...OPTS, threads: 1 });
    assert.not.equal(bytes(one.params), bytes(plain.params), `${c.kind}: dropout had no effect on the weights`);
    for (const threads of [2, 3]) {
      const r = await trainModel(c, d, { ...OPTS, threads });
      assert.equal(bytes(r.params), bytes(one.params), `${c.kind}: ${threads} threads changed the weights`);
      assert.equal(r.epochs.map((e) => e.train_loss), one.epochs.map((e) => e.train_loss), `${c.kind}: ${threads} threads changed the losses`);
    }
  }
});

test("dropout's mask does not depend on chunking: a chunk of 16 gives the masks a chunk of 32 does", async () => {
  // Another chunk size sums the gradient in another order, so compare one step's masked loss, which is a sum in double per chunk.
  const { TrainPool, JOB_TRAIN } = await import("../../src/ml/nn/pool.js");
  const { initParams } = await import("../../src/ml/nn/config.js");
  const { dropoutKey } = await import("../../src/ml/nn/dropout.js");
  const c: ModelConfig = { ...TR_LAST, dropout: 0.4 };
  const s = task(c, 96, 3);
  const lossWith = async (chunk: number, key: number) => {
    const pool = await TrainPool.create({ config: c, backend: "auto", threads: 1, chunk, batch: 96, magnitudeLoss: "huber", magnitudeWeight: 0.5, source: { X: s.X, ySign: s.ySign, yMag: s.yMag } });
    try {
      pool.setParams(initParams(c, 2));
      for (let i = 0; i < 96; i++) pool.views.order[i] = (i * 41) % 96;
      const chunks = pool.run(JOB_TRAIN, 96, key);
      let sum = 0;
      for (let k = 0; k < chunks; k++) sum += pool.views.losses[k * 3]!;
      return sum;
    } finally {
      await pool.close();
    }
  };
  const key = dropoutKey(5, 1, 0);
  const a = await lossWith(32, key), b = await lossWith(16, key), other = await lossWith(32, dropoutKey(5, 1, 1));
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(a), `chunk 32: ${a}, chunk 16: ${b}`);
  assert.ok(Math.abs(a - other) > 1e-4, "another step's key draws another mask");
});

(nativeKernelsAvailable() ? test : test.skip)("dropout > 0: the native and wasm builds train to the same bits", async () => {
  for (const c0 of [LSTM2, TR_LAST]) {
    const c = { ...c0, dropout: 0.25 };
    const d = data(c);
    const native = await trainModel(c, d, { ...OPTS, backend: "native", threads: 2 });
    const wasm = await trainModel(c, d, { ...OPTS, backend: "wasm", threads: 1 });
    assert.is(wasm.backend, "wasm");
    assert.equal(bytes(wasm.params), bytes(native.params), `${c.kind}: native and wasm differ`);
  }
});

test("evaluation has no mask: scoring twice gives the same bits, the validation predictions are predict()'s, and the model without dropout scores the same weights identically", async () => {
  const c: ModelConfig = { ...LSTM2, dropout: 0.5 };
  const d = data(c);
  const r = await trainModel(c, d, OPTS);
  const v = d.validation;
  const once = await predict(c, r.params, v.X, v.n, { magScale: r.magScale });
  const twice = await predict(c, r.params, v.X, v.n, { magScale: r.magScale, threads: 2, batch: 40 });
  const noDrop = await predict({ ...c, dropout: undefined }, r.params, v.X, v.n, { magScale: r.magScale });
  assert.equal(bytes(twice.sign), bytes(once.sign));
  assert.equal(bytes(noDrop.sign), bytes(once.sign));
  assert.equal(bytes(r.validation.sign), bytes(once.sign), "the trainer validated in evaluation mode");
  assert.equal(bytes(r.validation.mag!), bytes(once.mag!));
});

test("ONNX Runtime scores weights trained with dropout as the engine's evaluation forward (within 1e-5)", async () => {
  for (const c0 of [LSTM2, TR_LAST, TR_MEAN]) {
    const c = { ...c0, dropout: 0.3 };
    const d = data(c);
    const r = await trainModel(c, d, OPTS);
    const v = d.validation;
    const ours = await predict(c, r.params, v.X, v.n);
    const onnx = exportOnnx(c, r.params, {});
    const scorer = await createScorer(onnx);
    try {
      const got = await scorer.score(v.X, v.n, c.seq_len, c.n_features);
      for (let i = 0; i < v.n; i++) {
        const tol = 1e-5 * (1 + Math.abs(ours.sign[i]!));
        assert.ok(Math.abs(got.logit[i]! - ours.sign[i]!) <= tol, `${c.kind} window ${i}: ONNX ${got.logit[i]} vs engine ${ours.sign[i]}`);
        if (c.magnitude) assert.ok(Math.abs(got.mag![i]! - ours.mag![i]!) <= 1e-5 * (1 + Math.abs(ours.mag![i]!)), `${c.kind} window ${i}: magnitude`);
      }
      // The graph is the one the config without dropout exports: no node of its own.
      const plain = await createScorer(exportOnnx({ ...c, dropout: undefined }, r.params, {}));
      const same = await plain.score(v.X, v.n, c.seq_len, c.n_features);
      await plain.close();
      assert.equal(bytes(same.logit), bytes(got.logit), `${c.kind}: the export scores as without dropout, bit for bit`);
    } finally {
      await scorer.close();
    }
  }
});

test("the TensorFlow.js trainer takes the same masked steps (weights within float32 tolerance of ours)", async () => {
  const c: ModelConfig = { ...GRU1, dropout: 0.3 };
  const d = data(c);
  const opts = { ...OPTS, epochs: 1 };
  const ours = await trainModel(c, d, opts);
  const tfjs = await trainTfjs(c, d, { ...opts, pref: "cpu" });
  const plain = await trainTfjs({ ...c, dropout: undefined }, d, { ...opts, pref: "cpu" });
  let worst = 0, apart = 0;
  for (let i = 0; i < ours.params.length; i++) {
    worst = Math.max(worst, Math.abs(tfjs.params[i]! - ours.params[i]!));
    apart = Math.max(apart, Math.abs(plain.params[i]! - ours.params[i]!));
  }
  assert.ok(worst < 1e-4, `tfjs and ours differ by ${worst} after ${Math.ceil(d.train.n / 80)} steps`);
  assert.ok(apart > 10 * worst, `without the masks tfjs lands ${apart} away: the comparison can tell`);
});

test("a dropout rate outside [0, 1) is refused, naming the field", async () => {
  for (const dropout of [1, -0.1, Number.NaN]) {
    try {
      await trainModel({ ...GRU1, dropout }, data(GRU1), OPTS);
      assert.unreachable(`dropout ${dropout} accepted`);
    } catch (e) {
      assert.instance(e, TrainInputError);
      assert.match((e as Error).message, /dropout must be a rate in \[0, 1\)/);
    }
  }
});

test.run();

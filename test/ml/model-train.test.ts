/**
 * The trainer end to end on tiny synthetic tasks: a planted signal is learned (validation AUC
 * well above 0.5) and pure noise is not (AUC near 0.5); the same seed gives the same bits;
 * 1 and 2 threads give bit-identical weights and metrics; early stopping keeps the best epoch's
 * weights; predict() unscales the magnitude.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rocAuc } from "../../src/ml/metrics.js";
import type { ModelConfig } from "../../src/ml/nn/config.js";
import { predict, trainModel, TrainInputError, type Split } from "../../src/ml/nn/trainer.js";
import { trainTfjs } from "../../src/ml/nn/tfjs-trainer.js";
import { gaussian } from "./model-helpers.js";

const LSTM: ModelConfig = { kind: "lstm", seq_len: 8, n_features: 3, units: 8, layers: 1, magnitude: true };
const GRU: ModelConfig = { kind: "gru", seq_len: 8, n_features: 3, units: 8, layers: 2, magnitude: false };
const TR: ModelConfig = { kind: "transformer", seq_len: 8, n_features: 3, d_model: 8, heads: 2, layers: 1, ff: 16, pos: "learned", pool: "last", magnitude: true };

/**
 * n samples of X ~ N(0, 1); with `signal`, the label is 1 when feature 0 at the last two steps
 * (plus a little noise) sums above 0 and the magnitude grows with that sum; without, labels and
 * magnitudes are independent coin flips.
 */
function task(c: ModelConfig, n: number, seed: number, signal: boolean): Split {
  const g = gaussian(seed);
  const L = c.seq_len;
  const F = c.n_features;
  const X = Float32Array.from({ length: n * L * F }, () => g());
  const ySign = new Uint8Array(n);
  const yMag = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = X[(i * L + L - 1) * F]! + X[(i * L + L - 2) * F]! + 0.3 * g();
    ySign[i] = (signal ? s : g()) > 0 ? 1 : 0;
    yMag[i] = signal ? 40 * Math.abs(s) : 40 * Math.abs(g());
  }
  return { X, ySign, yMag, n };
}

test("a planted signal is learned; pure noise stays near 0.5", async () => {
  for (const c of [LSTM, GRU, TR]) {
    const learn = await trainModel(c, { train: task(c, 1536, 1, true), validation: task(c, 512, 2, true) }, { seed: 3, epochs: 6, batch: 64, lr: 1e-2 });
    const best = learn.epochs[learn.bestEpoch - 1]!;
    assert.ok(best.val_auc > 0.85, `${c.kind} planted signal: validation AUC ${best.val_auc}`);
    assert.ok(learn.epochs.at(-1)!.train_loss < learn.epochs[0]!.train_loss, `${c.kind}: training loss did not fall`);
    const noise = await trainModel(c, { train: task(c, 1536, 4, false), validation: task(c, 1024, 5, false) }, { seed: 3, epochs: 3, batch: 64, lr: 1e-2 });
    const last = noise.epochs.at(-1)!;
    assert.ok(Math.abs(last.val_auc - 0.5) < 0.07, `${c.kind} noise: validation AUC ${last.val_auc}`);
  }
});

test("same seed gives identical weights; 1 and 2 threads are bit-identical", async () => {
  for (const c of [LSTM, TR]) {
    const data = { train: task(c, 700, 6, true), validation: task(c, 200, 7, true) };
    const opts = { seed: 9, epochs: 2, batch: 96, lr: 5e-3 } as const;
    const a = await trainModel(c, data, { ...opts, threads: 1 });
    const b = await trainModel(c, data, { ...opts, threads: 1 });
    const two = await trainModel(c, data, { ...opts, threads: 2 });
    assert.equal(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer), `${c.kind}: same seed, different weights`);
    assert.equal(Buffer.from(a.params.buffer), Buffer.from(two.params.buffer), `${c.kind}: 2 threads changed the weights`);
    const metrics = (r: typeof a) => r.epochs.map((e) => [e.train_loss, e.val_loss, e.val_auc]);
    assert.equal(metrics(two), metrics(a));
    assert.is(two.threads, 2);
    const other = await trainModel(c, data, { ...opts, seed: 10 });
    assert.not.equal(Buffer.from(a.params.buffer), Buffer.from(other.params.buffer), `${c.kind}: the seed has no effect`);
  }
});

test("the wasm build trains too, bit-identically on 1 and 2 threads", async () => {
  const c = GRU;
  const data = { train: task(c, 300, 15, true), validation: task(c, 100, 16, true) };
  const opts = { seed: 4, epochs: 2, batch: 64, lr: 5e-3, backend: "wasm" } as const;
  const one = await trainModel(c, data, { ...opts, threads: 1 });
  const two = await trainModel(c, data, { ...opts, threads: 2 });
  assert.is(one.backend, "wasm");
  assert.equal(Buffer.from(one.params.buffer), Buffer.from(two.params.buffer));
  assert.equal(two.epochs.map((e) => e.val_auc), one.epochs.map((e) => e.val_auc));
});

test("early stopping keeps the best epoch's weights", async () => {
  // Noise with a large learning rate: validation AUC wanders, and with this seed its best epoch is not the last.
  const c = GRU;
  const val = task(c, 400, 12, false);
  const r = await trainModel(c, { train: task(c, 512, 11, false), validation: val }, { seed: 1, epochs: 12, batch: 64, lr: 3e-2, patience: 2 });
  const aucs = r.epochs.map((e) => e.val_auc);
  const bestAt = aucs.indexOf(Math.max(...aucs)) + 1;
  assert.is(r.bestEpoch, bestAt, `best epoch ${r.bestEpoch}, AUCs ${aucs}`);
  assert.ok(r.epochs.length < 12, `patience 2 never stopped (AUCs ${aucs})`);
  assert.is(r.epochs.length, r.bestEpoch + 2, "stopped exactly `patience` epochs after the best");
  // The returned weights reproduce the best epoch's validation AUC, not the last epoch's.
  const p = await predict(c, r.params, val.X, val.n, { batch: 64 });
  assert.is(rocAuc(p.sign, val.ySign), aucs[r.bestEpoch - 1]);
  assert.is.not(aucs[r.bestEpoch - 1], aucs.at(-1));
});

test("one class in validation (AUC NaN): both trainers keep the first epoch, as early stopping documents", async () => {
  const c = GRU;
  const val = task(c, 64, 18, false);
  val.ySign.fill(0);
  const data = { train: task(c, 128, 17, false), validation: val };
  const opts = { seed: 4, epochs: 3, batch: 64, lr: 1e-2, patience: 1 };
  const ours = await trainModel(c, data, opts);
  const tfjs = await trainTfjs(c, data, { ...opts, pref: "cpu" });
  for (const r of [ours, tfjs]) {
    assert.ok(Number.isNaN(r.epochs[0]!.val_auc), `${r.backend}: validation AUC is NaN`);
    assert.is(r.bestEpoch, 1, `${r.backend}: best epoch`);
    assert.is(r.epochs.length, 2, `${r.backend}: stopped \`patience\` epochs after the first`);
  }
});

test("magnitude: trained on the scaled target, predicted back in raw units", async () => {
  const c = LSTM;
  const train = task(c, 1024, 13, true);
  const r = await trainModel(c, { train, validation: task(c, 256, 14, true) }, { seed: 2, epochs: 5, batch: 64, lr: 1e-2 });
  assert.ok(r.magScale > 10 && r.magScale < 60, `magScale ${r.magScale}`);
  const p = await predict(c, r.params, train.X, 256, { magScale: r.magScale, batch: 64 });
  let mean = 0;
  for (let i = 0; i < 256; i++) mean += p.mag![i]! / 256;
  let target = 0;
  for (let i = 0; i < 256; i++) target += train.yMag[i]! / 256;
  assert.ok(Math.abs(mean - target) < 0.35 * target, `mean prediction ${mean} vs mean target ${target}`);
});

test("the result's validation predictions are predict()'s for the kept weights, magnitude in raw units", async () => {
  const c = LSTM;
  const val = task(c, 200, 16, true);
  const r = await trainModel(c, { train: task(c, 512, 15, true), validation: val }, { seed: 3, epochs: 4, batch: 64, lr: 3e-2, patience: 1 });
  const p = await predict(c, r.params, val.X, val.n, { magScale: r.magScale });
  assert.equal(Array.from(r.validation.sign), Array.from(p.sign));
  assert.equal(Array.from(r.validation.mag!), Array.from(p.mag!));
});

test("predict gives the same bits on 1 and 2 threads and in any batch size", async () => {
  const c = TR;
  const s = task(c, 150, 18, true);
  const params = (await import("../../src/ml/nn/config.js")).initParams(c, 8);
  const one = await predict(c, params, s.X, s.n, { batch: 64, magScale: 2 });
  const two = await predict(c, params, s.X, s.n, { batch: 96, threads: 2, magScale: 2 });
  assert.equal(Buffer.from(two.sign.buffer), Buffer.from(one.sign.buffer));
  assert.equal(Buffer.from(two.mag!.buffer), Buffer.from(one.mag!.buffer));
  const raw = await predict(c, params, s.X, s.n, { batch: 64 });
  for (let i = 0; i < s.n; i++) assert.is(one.mag![i], Math.fround(raw.mag![i]! * 2));
});

test("bad inputs are refused with the field named", async () => {
  const c = LSTM;
  const ok = task(c, 10, 1, true);
  try {
    await trainModel(c, { train: { ...ok, X: ok.X.subarray(0, 5) }, validation: ok }, { seed: 1, epochs: 1 });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, TrainInputError);
    assert.match((e as Error).message, /train\.X/);
  }
});

test("an aborted signal stops training, before the first epoch or between epochs", async () => {
  const c = LSTM;
  const ac = new AbortController();
  ac.abort();
  try {
    await trainModel(c, { train: task(c, 64, 1, true), validation: task(c, 64, 2, true) }, { seed: 1, epochs: 3, signal: ac.signal });
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).name, "AbortError");
  }
  const later = new AbortController();
  const seen: number[] = [];
  try {
    await trainModel(c, { train: task(c, 64, 1, true), validation: task(c, 64, 2, true) }, {
      seed: 1,
      epochs: 5,
      threads: 2,
      signal: later.signal,
      onEpoch: (e) => {
        seen.push(e.epoch);
        later.abort();
      },
    });
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).name, "AbortError");
  }
  assert.equal(seen, [1]);
});

test("chunks and the gradient sum computed on a worker thread equal the main thread's", async () => {
  const { TrainPool, JOB_TRAIN, JOB_PREDICT } = await import("../../src/ml/nn/pool.js");
  const { initParams } = await import("../../src/ml/nn/config.js");
  const c = TR;
  const s = task(c, 100, 17, true);
  const run = async (threads: number, mainWorks: boolean) => {
    const source = { X: s.X, ySign: s.ySign, yMag: s.yMag };
    const pool = await TrainPool.create({ config: c, backend: "auto", threads, chunk: 32, batch: 100, magnitudeLoss: "huber", magnitudeWeight: 0.5, mainWorks, source });
    try {
      pool.setParams(initParams(c, 5));
      for (let i = 0; i < 100; i++) pool.views.order[i] = (i * 37) % 100; // a permutation
      const chunks = pool.run(JOB_TRAIN, 100);
      const grads = pool.views.grads.slice(0, chunks * pool.model.nParams);
      const losses = pool.views.losses.slice(0, chunks * 3);
      pool.views.x.set(s.X);
      pool.run(JOB_PREDICT, 100);
      return { grads, losses, sign: pool.views.outSign.slice(0, 100), workerChunks: pool.workerChunks };
    } finally {
      await pool.close();
    }
  };
  const main = await run(1, true);
  const worker = await run(2, false);
  const both = await run(3, true);
  assert.is(main.workerChunks, 0);
  assert.is(worker.workerChunks, 8, "4 training and 4 prediction chunks on the worker");
  for (const other of [worker, both]) {
    assert.equal(Buffer.from(other.grads.buffer), Buffer.from(main.grads.buffer));
    assert.equal(Array.from(other.losses), Array.from(main.losses));
    assert.equal(Buffer.from(other.sign.buffer), Buffer.from(main.sign.buffer));
  }
  // Slot 0 holds chunk 0's gradient plus slots 1, 2, 3, added in that order in float32.
  const { createChunkModel } = await import("../../src/ml/nn/model.js");
  const m = await createChunkModel(c, { backend: "auto", chunk: 32, magnitudeLoss: "huber", magnitudeWeight: 0.5 });
  m.setParams(initParams(c, 5));
  for (let i = 0; i < 32; i++) {
    const k = (i * 37) % 100;
    m.loadSample(i, s.X, k, s.ySign[k]!, s.yMag[k]!);
  }
  m.trainChunk(32, 1 / 100);
  const P = m.nParams;
  const want = new Float32Array(P);
  m.readGrad(want);
  for (let ch = 1; ch < 4; ch++) for (let i = 0; i < P; i++) want[i] = want[i]! + main.grads[ch * P + i]!;
  assert.equal(Buffer.from(main.grads.buffer, 0, 4 * P), Buffer.from(want.buffer));
  m.dispose();
});

test("a worker's failure is reported by the step that hit it, and the pool keeps working", async () => {
  const { TrainPool, JOB_TRAIN } = await import("../../src/ml/nn/pool.js");
  const { initParams } = await import("../../src/ml/nn/config.js");
  const c = GRU;
  const s = task(c, 64, 19, true);
  for (const mainWorks of [false, true]) {
    const pool = await TrainPool.create({ config: c, backend: "auto", threads: 2, chunk: 16, batch: 64, magnitudeLoss: "huber", magnitudeWeight: 0.5, mainWorks, source: { X: s.X, ySign: s.ySign, yMag: s.yMag } });
    try {
      pool.setParams(initParams(c, 1));
      for (let i = 0; i < 64; i++) pool.views.order[i] = i;
      pool.views.order[40] = 1000; // no such sample
      assert.throws(() => pool.run(JOB_TRAIN, 64), /sample 1000 outside X/);
      pool.views.order[40] = 40;
      assert.is(pool.run(JOB_TRAIN, 64), 4);
    } finally {
      await pool.close();
    }
  }
});

test.run();

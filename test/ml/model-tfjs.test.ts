/**
 * The CPU engine against the TensorFlow.js reference (src/ml/nn/tfjs-reference.ts, raw tf ops on
 * the cpu backend) with the same weights: sign logits, magnitude predictions, the loss and the
 * gradient of every parameter tensor agree within 1e-5 relative (per tensor, against its
 * largest reference value, as float32 sums taken in another order can differ in the last bits).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { initParams, paramLayout, type ModelConfig } from "../../src/ml/nn/config.js";
import { nativeKernelsAvailable } from "../../src/ml/nn/kernels.js";
import { loadTfjs, referenceForward, referenceLossAndGrads } from "../../src/ml/nn/tfjs-reference.js";
import { prng } from "../helpers/prng.js";
import { batchEvaluator, FIXED_MASK, randomBatch, TINY, TINY_DROPOUT } from "./model-helpers.js";

const REL = 1e-5;

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * |got − want| ≤ 1e-5 · scale per element; scale is the tensor's largest reference value, but
 * at least 1% of `floor` (the largest gradient of the model): a tensor whose true gradient is 0
 * (the key bias: softmax ignores a per-row constant) holds only rounding noise.
 */
function close(label: string, got: Float32Array, want: Float32Array, floor = 0): void {
  assert.is(got.length, want.length, `${label}: length`);
  const scale = Math.max(maxAbs(want), 1e-2 * floor, 1e-6);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    assert.ok(err <= REL * scale, `${label}[${i}]: engine ${got[i]} vs tfjs ${want[i]} (|err| ${err.toExponential(2)} > ${(REL * scale).toExponential(2)})`);
  }
}

/** Both kernel builds where the native one is built (the wasm build always is: it is committed). */
const BACKENDS = nativeKernelsAvailable() ? (["native", "wasm"] as const) : (["wasm"] as const);

async function compare(c: ModelConfig, seed: number, magnitudeLoss: "huber" | "mse" = "huber"): Promise<void> {
  for (const backend of BACKENDS) await compareOn(c, seed, magnitudeLoss, backend);
}

async function compareOn(c: ModelConfig, seed: number, magnitudeLoss: "huber" | "mse", backend: "native" | "wasm"): Promise<void> {
  const { tf } = await loadTfjs("cpu");
  const n = 7;
  const batch = randomBatch(c, n, seed);
  const p = initParams(c, seed);
  const r = prng(seed + 9);
  for (let i = 0; i < p.length; i++) p[i] = p[i]! + (r() - 0.5) * 0.2;
  const ev = await batchEvaluator(c, batch, { magnitudeLoss, backend });
  assert.is(ev.model.backend, backend);
  const fwd = ev.forward(p);
  const ref = referenceForward(tf, c, p, batch.X, n);
  close(`${backend} ${c.kind} sign logits`, fwd.sign, ref.sign);
  if (c.magnitude) close(`${backend} ${c.kind} magnitude`, fwd.mag, ref.mag!);
  const mine = ev.lossAndGrad(p);
  // Training mode: with dropout, both sides use the same fixed mask (batchEvaluator's default).
  const mask = c.dropout ? { mask: FIXED_MASK } : {};
  const theirs = referenceLossAndGrads(tf, c, p, batch.X, batch.ySign, c.magnitude ? batch.yMag : null, { magnitudeLoss, magnitudeWeight: 0.5, ...mask });
  assert.ok(Math.abs(mine.loss - theirs.loss) <= REL * Math.abs(theirs.loss), `${backend} ${c.kind} loss ${mine.loss} vs ${theirs.loss}`);
  const layout = paramLayout(c);
  const floor = maxAbs(theirs.grads);
  for (const s of layout.specs) {
    const at = layout.offsets.get(s.name)!;
    const size = s.shape.reduce((a, b) => a * b, 1);
    close(`${backend} ${c.kind} d${s.name}`, mine.grad.subarray(at, at + size), theirs.grads.subarray(at, at + size), floor);
  }
  ev.model.dispose();
}

for (const [name, c] of Object.entries(TINY)) {
  test(`${name}: forward and gradients match TensorFlow.js`, async () => {
    await compare(c, 21);
  });
}

for (const [name, c] of Object.entries(TINY_DROPOUT)) {
  test(`${name}: evaluation forward, and training-mode loss and gradients under the same dropout mask, match TensorFlow.js`, async () => {
    await compare(c, 23);
  });
}

test("MSE magnitude head matches TensorFlow.js", async () => {
  await compare(TINY.lstm2mag!, 4, "mse");
});

test("a realistic width (LSTM 16 features x 32 units, seq 12; transformer d 16) matches TensorFlow.js", async () => {
  await compare({ kind: "lstm", seq_len: 12, n_features: 16, units: 32, layers: 1, magnitude: true }, 8);
  await compare({ kind: "transformer", seq_len: 10, n_features: 6, d_model: 16, heads: 4, layers: 2, ff: 24, pos: "learned", pool: "last", magnitude: false }, 9);
});

test.run();

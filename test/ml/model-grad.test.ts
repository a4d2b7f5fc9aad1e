/**
 * Whole-model gradients of the CPU engine against central finite differences of its own loss:
 * every config variant (LSTM 1 and 2 layers, GRU, transformer with learned and sinusoidal
 * positions, last and mean pooling, with and without the magnitude head, Huber and MSE).
 * The forward pass is float32, so the step is large (1e-2, 2e-3 for the transformer; the loss
 * sums in double) and the tolerance is float32-sized.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { initParams, paramLayout, type ModelConfig } from "../../src/ml/nn/config.js";
import { prng } from "../helpers/prng.js";
import { batchEvaluator, randomBatch, TINY, TINY_DROPOUT } from "./model-helpers.js";

async function checkGradients(c: ModelConfig, seed: number, magnitudeLoss: "huber" | "mse" = "huber"): Promise<void> {
  const n = 6;
  const ev = await batchEvaluator(c, randomBatch(c, n, seed), { magnitudeLoss });
  // Perturb the initial weights so no bias is exactly zero and layer norms are not identity.
  const g0 = prng(seed + 1);
  const p = initParams(c, seed);
  for (let i = 0; i < p.length; i++) p[i] = p[i]! + (g0() - 0.5) * 0.2;
  const { grad } = ev.lossAndGrad(p);
  const layout = paramLayout(c);
  // The transformer has ReLU kinks and sharper curvature (layer norm, softmax): a smaller step.
  const eps = c.kind === "transformer" ? 2e-3 : 1e-2;
  const pick = prng(seed + 2);
  const fdAt = (i: number) => {
    const q = Float32Array.from(p);
    q[i] = p[i]! + eps;
    const up = ev.lossAndGrad(q).loss;
    q[i] = p[i]! - eps;
    const down = ev.lossAndGrad(q).loss;
    return (up - down) / (2 * eps);
  };
  // Every tensor: up to 4 of its elements (first, last, two random ones).
  for (const s of layout.specs) {
    const at = layout.offsets.get(s.name)!;
    const size = s.shape.reduce((a, b) => a * b, 1);
    const idx = new Set([at, at + size - 1, at + Math.floor(pick() * size), at + Math.floor(pick() * size)]);
    for (const i of idx) {
      const fd = fdAt(i);
      const err = Math.abs(fd - grad[i]!);
      assert.ok(err <= 2e-4 + 2e-2 * Math.abs(fd), `${c.kind} ${s.name}[${i - at}]: engine ${grad[i]} vs finite difference ${fd}`);
    }
  }
  // One random direction through all parameters at once.
  const dir = Float32Array.from({ length: p.length }, () => pick() - 0.5);
  let dot = 0;
  for (let i = 0; i < p.length; i++) dot += dir[i]! * grad[i]!;
  const step = (s: number) => ev.lossAndGrad(Float32Array.from(p, (v, i) => v + s * dir[i]!)).loss;
  const h = eps;
  const fdDir = (step(h) - step(-h)) / (2 * h);
  assert.ok(Math.abs(fdDir - dot) <= 1e-4 + 5e-3 * Math.abs(fdDir), `${c.kind}: directional derivative ${dot} vs ${fdDir}`);
  ev.model.dispose();
}

for (const [name, c] of Object.entries(TINY)) {
  test(`${name}: gradients match finite differences`, async () => {
    await checkGradients(c, 11);
  });
}

for (const [name, c] of Object.entries(TINY_DROPOUT)) {
  test(`${name}: training-mode gradients with a fixed dropout mask match finite differences`, async () => {
    await checkGradients(c, 13);
  });
}

test("dropout's training mode changes the loss and gradient; p = 0 and an absent rate are the same graph", async () => {
  for (const [name, c] of Object.entries(TINY_DROPOUT)) {
    const base: ModelConfig = { ...c, dropout: undefined };
    const batch = randomBatch(c, 6, 4);
    const p = initParams(c, 4);
    const withDrop = await batchEvaluator(c, batch);
    const without = await batchEvaluator(base, batch);
    const zero = await batchEvaluator({ ...c, dropout: 0 }, batch);
    const a = withDrop.lossAndGrad(p), b = without.lossAndGrad(p), z = zero.lossAndGrad(p);
    assert.ok(a.loss !== b.loss && a.grad.some((v, i) => v !== b.grad[i]), `${name}: dropout changes the training step`);
    assert.equal(Array.from(z.grad), Array.from(b.grad), `${name}: dropout 0 = no dropout, bit for bit`);
    assert.is(z.loss, b.loss);
    // Evaluation mode has no mask: the same as the model without dropout, and repeatable.
    assert.equal(Array.from(withDrop.forward(p).sign), Array.from(without.forward(p).sign), `${name}: eval forward ignores dropout`);
    assert.equal(Array.from(withDrop.forward(p).sign), Array.from(withDrop.forward(p).sign), `${name}: eval forward repeats`);
    for (const e of [withDrop, without, zero]) e.model.dispose();
  }
});

test("MSE magnitude loss: gradients match finite differences", async () => {
  await checkGradients(TINY.gru2mag!, 5, "mse");
  await checkGradients(TINY.trSinMeanMag!, 6, "mse");
});

test("a short last chunk reuses the buffers: its gradient equals a model built for that size", async () => {
  const c = TINY.lstm2mag!;
  const batch = randomBatch(c, 5, 3);
  const p = initParams(c, 3);
  const big = await batchEvaluator(c, batch); // chunk 5
  const { createChunkModel } = await import("../../src/ml/nn/model.js");
  const wide = await createChunkModel(c, { backend: "auto", chunk: 8, magnitudeLoss: "huber", magnitudeWeight: 0.5 });
  wide.setParams(p);
  wide.loadInputs(batch.X, 0, 5, batch.ySign, batch.yMag);
  const l = wide.trainChunk(5, 1 / 5);
  const g = new Float32Array(wide.nParams);
  wide.readGrad(g);
  const ref = big.lossAndGrad(p);
  assert.ok(Math.abs(l.total / 5 - ref.loss) < 1e-6, `loss ${l.total / 5} vs ${ref.loss}`);
  for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - ref.grad[i]!) <= 1e-6 * (1 + Math.abs(ref.grad[i]!)), `grad[${i}]`);
  wide.dispose();
  big.model.dispose();
});

test.run();

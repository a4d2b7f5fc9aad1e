/** Shared pieces of the model-*.test.ts files: tiny configs, seeded data, chunk-model evaluation. */
import type { ModelConfig } from "../../src/ml/nn/config.js";
import { dropoutKey, type DropoutMask } from "../../src/ml/nn/dropout.js";
import { createChunkModel, type ChunkModel } from "../../src/ml/nn/model.js";
import { prng } from "../helpers/prng.js";

/** Tiny configs covering every graph variant the engine has. */
export const TINY: Record<string, ModelConfig> = {
  lstm1: { kind: "lstm", seq_len: 5, n_features: 3, units: 4, layers: 1, magnitude: false },
  lstm2mag: { kind: "lstm", seq_len: 5, n_features: 3, units: 4, layers: 2, magnitude: true },
  gru1: { kind: "gru", seq_len: 5, n_features: 3, units: 4, layers: 1, magnitude: false },
  gru2mag: { kind: "gru", seq_len: 4, n_features: 3, units: 5, layers: 2, magnitude: true },
  trLearnedLast: { kind: "transformer", seq_len: 4, n_features: 3, d_model: 8, heads: 2, layers: 1, ff: 12, pos: "learned", pool: "last", magnitude: false },
  trSinMeanMag: { kind: "transformer", seq_len: 5, n_features: 2, d_model: 8, heads: 2, layers: 2, ff: 6, pos: "sinusoidal", pool: "mean", magnitude: true },
  trLearnedMeanMag: { kind: "transformer", seq_len: 3, n_features: 3, d_model: 4, heads: 1, layers: 1, ff: 8, pos: "learned", pool: "mean", magnitude: true },
  tr2LearnedLastMag: { kind: "transformer", seq_len: 4, n_features: 3, d_model: 8, heads: 2, layers: 2, ff: 10, pos: "learned", pool: "last", magnitude: true },
  trSinLast: { kind: "transformer", seq_len: 4, n_features: 3, d_model: 8, heads: 4, layers: 1, ff: 8, pos: "sinusoidal", pool: "last", magnitude: false },
};

/** Dropout variants of every graph kind (masks in training mode only). */
export const TINY_DROPOUT: Record<string, ModelConfig> = {
  lstm2magDrop: { ...TINY.lstm2mag!, dropout: 0.3 },
  gru2magDrop: { ...TINY.gru2mag!, dropout: 0.4 },
  gru1Drop: { ...TINY.gru1!, dropout: 0.25 },
  tr2LearnedLastMagDrop: { ...TINY.tr2LearnedLastMag!, dropout: 0.3 },
  trSinMeanMagDrop: { ...TINY.trSinMeanMag!, dropout: 0.2 },
};

/** The fixed mask the gradient checks train with (a step's key; the batch starts at position 3). */
export const FIXED_MASK: DropoutMask = { key: dropoutKey(5, 2, 7), first: 3 };

/** Standard normal samples from a seeded uniform source. */
export function gaussian(seed: number): () => number {
  const r = prng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** A random batch: X ~ N(0, 1), balanced-ish 0/1 labels, magnitude targets ~ N(0, 1). */
export function randomBatch(c: ModelConfig, n: number, seed: number): { X: Float32Array; ySign: Float32Array; yMag: Float32Array } {
  const g = gaussian(seed);
  const X = Float32Array.from({ length: n * c.seq_len * c.n_features }, () => g());
  const ySign = Float32Array.from({ length: n }, () => (g() > 0 ? 1 : 0));
  const yMag = Float32Array.from({ length: n }, () => g() * 1.5);
  return { X, ySign, yMag };
}

/** A chunk model holding one batch: loss (mean over the batch) and gradient at any parameters. */
export async function batchEvaluator(c: ModelConfig, batch: { X: Float32Array; ySign: Float32Array; yMag: Float32Array }, opts: { backend?: "native" | "wasm" | "auto"; magnitudeLoss?: "huber" | "mse"; magnitudeWeight?: number; mask?: DropoutMask } = {}) {
  const n = batch.ySign.length;
  // Training mode's dropout mask: fixed, so the loss is a smooth function of the parameters.
  const mask = opts.mask ?? (c.dropout ? FIXED_MASK : undefined);
  const model: ChunkModel = await createChunkModel(c, {
    backend: opts.backend ?? "auto",
    chunk: n,
    magnitudeLoss: opts.magnitudeLoss ?? "huber",
    magnitudeWeight: opts.magnitudeWeight ?? 0.5,
  });
  const grad = new Float32Array(model.nParams);
  return {
    model,
    /** Mean loss and its gradient at p (training mode: with the config's dropout, under `mask`). */
    lossAndGrad(p: Float32Array): { loss: number; grad: Float32Array } {
      model.setParams(p);
      model.loadInputs(batch.X, 0, n, batch.ySign, batch.yMag);
      const l = model.trainChunk(n, 1 / n, mask);
      model.readGrad(grad);
      return { loss: l.total / n, grad: Float32Array.from(grad) };
    },
    /** Sign logits and magnitude predictions at p (evaluation mode). */
    forward(p: Float32Array): { sign: Float32Array; mag: Float32Array } {
      model.setParams(p);
      model.loadInputs(batch.X, 0, n, batch.ySign, batch.yMag);
      model.forwardChunk(n);
      const sign = new Float32Array(n);
      const mag = new Float32Array(n);
      model.readOutputs(sign, mag, 0, n);
      return { sign, mag };
    },
  };
}

/** Shared pieces of the model-*.test.ts files: tiny configs, seeded data, chunk-model evaluation. */
import type { ModelConfig } from "../../src/ml/nn/config.js";
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
export async function batchEvaluator(c: ModelConfig, batch: { X: Float32Array; ySign: Float32Array; yMag: Float32Array }, opts: { backend?: "native" | "wasm" | "auto"; magnitudeLoss?: "huber" | "mse"; magnitudeWeight?: number } = {}) {
  const n = batch.ySign.length;
  const model: ChunkModel = await createChunkModel(c, {
    backend: opts.backend ?? "auto",
    chunk: n,
    magnitudeLoss: opts.magnitudeLoss ?? "huber",
    magnitudeWeight: opts.magnitudeWeight ?? 0.5,
  });
  const grad = new Float32Array(model.nParams);
  return {
    model,
    /** Mean loss and its gradient at p. */
    lossAndGrad(p: Float32Array): { loss: number; grad: Float32Array } {
      model.setParams(p);
      model.loadInputs(batch.X, 0, n, batch.ySign, batch.yMag);
      const l = model.trainChunk(n, 1 / n);
      model.readGrad(grad);
      return { loss: l.total / n, grad: Float32Array.from(grad) };
    },
    /** Sign logits and magnitude predictions at p. */
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

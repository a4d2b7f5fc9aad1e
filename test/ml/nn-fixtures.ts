/**
 * Shared fixtures for the model tests: a seeded PRNG, perturbed initial parameters and random
 * batches. Deterministic in their seeds.
 */
import { initParams, type ModelConfig } from "../../src/ml/nn/config.js";
import { mulberry32 } from "../../src/engine/prng.js";

/** The ML code's own PRNG (src/engine/prng.ts: the draws initParams and the trainer make). */
export const rng = mulberry32;

/** initParams plus uniform noise of ±scale on every tensor, so zero biases and unit gains cannot hide a layout bug. */
export function perturbedParams(c: ModelConfig, seed: number, scale = 0.3): Float32Array {
  const p = initParams(c, seed);
  const r = rng(seed * 7919 + 1);
  for (let i = 0; i < p.length; i++) p[i]! += scale * (2 * r() - 1);
  return p;
}

/** X uniform in [-1, 1], 0/1 labels, magnitudes in [-2, 2] (both Huber branches). */
export function randomData(c: ModelConfig, n: number, seed: number): { X: Float32Array; ySign: Float32Array; yMag: Float32Array } {
  const r = rng(seed);
  const X = Float32Array.from({ length: n * c.seq_len * c.n_features }, () => 2 * r() - 1);
  const ySign = Float32Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1));
  const yMag = Float32Array.from({ length: n }, () => 4 * r() - 2);
  return { X, ySign, yMag };
}

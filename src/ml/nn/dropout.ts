/**
 * Dropout's mask (docs/nn-engine.md, "Dropout"): inverted dropout whose every element is a
 * counter-based hash of (step key, site, sample, row, column) rather than a draw from a
 * sequential PRNG stream. A sample's mask is then the same whichever chunk, thread or kernel
 * build computes it, so 1, 2 or 3 threads and the native and wasm builds keep giving the same
 * bits. This is the TypeScript twin of native/nn/dropout.c: the TensorFlow.js reference, the
 * float64 test implementation and the tests build their masks here.
 *
 * Sites (which dropout of a model a mask belongs to): recurrent layer l's output is site l;
 * transformer layer l's attention output is site 2l, its feed-forward output site 2l + 1.
 */

/** Where a training step's masks come from: the step's key and the batch position of the first sample. */
export interface DropoutMask {
  /** dropoutKey(seed, epoch, step): 31 bits (a kernel integer argument). */
  readonly key: number;
  /** Batch position of the first sample given (a chunk starting at sample c·32 of its batch passes c·32). */
  readonly first: number;
}

/** lowbias32 (C. Wellons' 32-bit integer finalizer), as nn_mix32 in native/nn/dropout.c. */
export function mix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** One level of the key chain: mix32(h + v·0x9e3779b9 mod 2^32) (nn_chain). */
export function chain(h: number, v: number): number {
  return mix32((h + Math.imul(v >>> 0, 0x9e3779b9)) >>> 0);
}

/** The key of one training step (epoch 1-based, step = the batch's index within its epoch): 31 bits. */
export function dropoutKey(seed: number, epoch: number, step: number): number {
  return chain(chain(mix32(seed >>> 0), epoch), step) >>> 1;
}

/** The float32 factor kept activations are multiplied by: 1/(1 − p), rounded once. */
export function dropoutScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

/** The shape of one masked tensor [B, T, W]: row b is batch position first + b, time index t0 + t. */
export interface MaskShape {
  readonly B: number;
  readonly T: number;
  readonly W: number;
  /** Time index of t = 0 (T − 1 when only the last step is masked). */
  readonly t0?: number;
}

/**
 * The multipliers m (scale or 0) of site `site` for a [B, T, W] tensor, as the dropout kernel
 * applies them (y = x·m): u = (h >>> 8)·2^-24 from the element's hash, kept when u ≥ p (p as float32).
 */
export function dropoutMultipliers(p: number, mask: DropoutMask, site: number, shape: MaskShape): Float32Array {
  const { B, T, W } = shape;
  const t0 = shape.t0 ?? 0;
  const pf = Math.fround(p);
  const scale = dropoutScale(pf);
  const m = new Float32Array(B * T * W);
  const hs = chain(mask.key, site);
  for (let b = 0; b < B; b++) {
    const hb = chain(hs, mask.first + b);
    for (let t = 0; t < T; t++) {
      const ht = chain(hb, t0 + t);
      const at = (b * T + t) * W;
      for (let j = 0; j < W; j++) m[at + j] = (chain(ht, j) >>> 8) * 2 ** -24 >= pf ? scale : 0;
    }
  }
  return m;
}

/** A config's dropout rate (0 when absent). */
export function dropoutRate(c: { readonly dropout?: number }): number {
  return c.dropout ?? 0;
}

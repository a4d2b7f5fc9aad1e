/**
 * mulberry32: the one seeded PRNG of the project (initial weights, epoch shuffles, bootstrap
 * resamples, sweep draws), so every seeded draw is a pure function of its seed on every platform (only
 * Math.imul and integer ops). Returns uniforms in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

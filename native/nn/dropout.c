/*
 * Inverted dropout with a counter-based mask (argument list in nn.h). Each mask element is a
 * hash of (key, site, sample, row, column), never a draw from a sequential PRNG stream, so a
 * sample's mask does not depend on which chunk, thread or build computes it: 1, 2 or 3 threads
 * and the native and wasm builds give the same bits. src/ml/nn/dropout.ts is the same hash in
 * TypeScript (the TensorFlow.js reference and the tests build their masks with it).
 */
#include "nn.h"

#include <stddef.h>

/* lowbias32 (C. Wellons' 32-bit integer finalizer): every input bit reaches every output bit. */
static inline uint32_t nn_mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

/* One level of the key chain: mix(h + v·φ) (φ = 2^32/golden ratio; unsigned, wraps mod 2^32). */
static inline uint32_t nn_chain(uint32_t h, uint32_t v) { return nn_mix32(h + v * 0x9e3779b9u); }

void nn_dropout(float *base, const int32_t *ia, const float *fa) {
  const float *x = base + ia[0];
  float *y = base + ia[1];
  const ptrdiff_t B = ia[2], T = ia[3], W = ia[4];
  const uint32_t key = (uint32_t)ia[5], site = (uint32_t)ia[6], first = (uint32_t)ia[7], t0 = (uint32_t)ia[8];
  const float p = fa[0], scale = fa[1];
  const uint32_t hs = nn_chain(key, site);
  for (ptrdiff_t b = 0; b < B; b++) {
    const uint32_t hb = nn_chain(hs, first + (uint32_t)b);
    for (ptrdiff_t t = 0; t < T; t++) {
      const uint32_t ht = nn_chain(hb, t0 + (uint32_t)t);
      const ptrdiff_t at = (b * T + t) * W;
      for (ptrdiff_t j = 0; j < W; j++) {
        /* u in [0, 1) with 24 bits, exact in float; keep when u >= p. */
        const float u = (float)(nn_chain(ht, (uint32_t)j) >> 8) * 0x1p-24f;
        y[at + j] = x[at + j] * (u >= p ? scale : 0.0f);
      }
    }
  }
}

/*
 * LSTM over one chunk, Keras semantics (argument lists and cache layout in nn.h).
 *
 * Forward: one GEMM gives x·kernel + bias for every (b, t) row, straight into the cache's gate
 * rows; then each step adds h_{t-1}·recurrent into that step's rows (strided GEMM, no copies)
 * and applies the gates in place. Backward: the gate gradients dz of every step go to scratch;
 * only dh_{t-1} = dz_t·recurrentᵀ is in the recurrence (against a transposed copy of the
 * recurrent kernel, so the GEMM reads rows). The weight gradients are large GEMMs after the
 * loop, summed in a fixed (b, t) order.
 */
#include "nn.h"
#include "nn_gemm.h"
#include "nn_math.h"
#include "recurrent.h"

#include <stddef.h>

/*
 * The gates of one (b, t) row, in place: z[4H] pre-activations → i, f, g, o; then c, tanh(c), h.
 * restrict (and one call per row) lets the compilers vectorise across j; `first` (t = 0,
 * c_{-1} = 0) is a constant at each call site, so cprev is not read then.
 */
static inline void cell_fwd(ptrdiff_t H, float *restrict z, const float *restrict cprev, float *restrict c,
                            float *restrict tc, float *restrict h, const int first) {
  for (ptrdiff_t j = 0; j < 2 * H; j++) z[j] = nn_sigmoidf(z[j]);
  for (ptrdiff_t j = 2 * H; j < 3 * H; j++) z[j] = nn_tanhf(z[j]);
  for (ptrdiff_t j = 3 * H; j < 4 * H; j++) z[j] = nn_sigmoidf(z[j]);
  /* Three simple loops, not one: clang's cost model declines to vectorise the fused one for wasm. */
  for (ptrdiff_t j = 0; j < H; j++) c[j] = (first ? 0.0f : z[H + j] * cprev[j]) + z[j] * z[2 * H + j];
  for (ptrdiff_t j = 0; j < H; j++) tc[j] = nn_tanhf(c[j]);
  for (ptrdiff_t j = 0; j < H; j++) h[j] = z[3 * H + j] * tc[j];
}

/* Gate gradients d[4H] of one (b, t) row from the activations a, tanh(c) and the carries dh, dc (updated). */
static inline void cell_bwd(ptrdiff_t H, const float *restrict a, const float *restrict tc, const float *restrict cprev,
                            const float *restrict dht, float *restrict d, float *restrict dh, float *restrict dc, const int first) {
  for (ptrdiff_t j = 0; j < H; j++) {
    const float ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j], tj = tc[j];
    const float dhj = dht[j] + dh[j];
    const float dcj = dc[j] + dhj * og * (1.0f - tj * tj);
    const float cp = first ? 0.0f : cprev[j];
    d[j] = dcj * gg * ig * (1.0f - ig);
    d[H + j] = dcj * cp * fg * (1.0f - fg);
    d[2 * H + j] = dcj * ig * (1.0f - gg * gg);
    d[3 * H + j] = dhj * tj * og * (1.0f - og);
    dc[j] = dcj * fg;
  }
}

void nn_lstm_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *kern = base + ia[1], *rec = base + ia[2], *bias = base + ia[3];
  float *hs = base + ia[4], *gates = base + ia[5];
  const ptrdiff_t B = ia[6], T = ia[7], I = ia[8], H = ia[9], G = 4 * H;
  float *cs = gates + B * T * G, *tcs = cs + B * T * H;
  nn_gemm(B * T, G, I, x, I, 1, kern, G, 1, gates, G, 0, bias);
  for (ptrdiff_t t = 0; t < T; t++) {
    if (t > 0) nn_gemm(B, G, H, hs + (t - 1) * H, T * H, 1, rec, G, 1, gates + t * G, T * G, 1, 0);
    for (ptrdiff_t b = 0; b < B; b++) {
      const ptrdiff_t row = (b * T + t) * H;
      if (t > 0) cell_fwd(H, gates + (b * T + t) * G, cs + row - H, cs + row, tcs + row, hs + row, 0);
      else cell_fwd(H, gates + (b * T + t) * G, cs, cs + row, tcs + row, hs + row, 1);
    }
  }
}

void nn_lstm_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *kern = base + ia[1], *rec = base + ia[2], *hs = base + ia[3];
  const float *gates = base + ia[4], *dhs = base + ia[5];
  float *dkern = base + ia[6], *drec = base + ia[7], *dbias = base + ia[8];
  float *dx = ia[9] >= 0 ? base + ia[9] : 0, *dz = base + ia[10];
  const ptrdiff_t B = ia[11], T = ia[12], I = ia[13], H = ia[14], G = 4 * H;
  const float *cs = gates + B * T * G, *tcs = cs + B * T * H;
  float *rt = dz + B * T * G, *dh = rt + G * H, *dc = dh + B * H;
  nn_rec_transpose(H, G, rec, rt);
  for (ptrdiff_t i = 0; i < 2 * B * H; i++) dh[i] = 0.0f; /* dh and dc carries */
  for (ptrdiff_t t = T - 1; t >= 0; t--) {
    for (ptrdiff_t b = 0; b < B; b++) {
      const ptrdiff_t row = (b * T + t) * H;
      const float *a = gates + (b * T + t) * G;
      float *d = dz + (b * T + t) * G;
      if (t > 0) cell_bwd(H, a, tcs + row, cs + row - H, dhs + row, d, dh + b * H, dc + b * H, 0);
      else cell_bwd(H, a, tcs + row, cs, dhs + row, d, dh + b * H, dc + b * H, 1);
    }
    if (t > 0) nn_gemm(B, H, G, dz + t * G, T * G, 1, rt, H, 1, dh, H, 0, 0); /* dh_{t-1} = dz_t·recᵀ */
  }
  for (ptrdiff_t n = 0; n < B * T; n++)
    for (ptrdiff_t g = 0; g < G; g++) dbias[g] += dz[n * G + g];
  nn_rec_weight_grads(B, T, I, H, G, x, kern, hs, dz, dz, dkern, drec, dx);
}

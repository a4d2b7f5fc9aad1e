/*
 * GRU over one chunk, Keras reset_after = true (argument lists and cache layout in nn.h).
 *
 * Forward: x·kernel + b_in for every row goes into the cache's activation rows; each step then
 * ADDS h_{t-1}·R + b_rec to the z and r blocks in place (strided GEMM) and WRITES the h block
 * hz_h = h_{t-1}·R_h + b_rec,h to its own cache rows, because ĥ needs it apart: ĥ = tanh(xz_h +
 * r⊙hz_h). Backward: d(xz) and d(hz) of every step go to scratch; the recurrence carries
 * dh_{t-1} = dh_t⊙z + d(hz)_t·Rᵀ; weight gradients are GEMMs after the loop, in (b, t) order.
 */
#include "nn.h"
#include "nn_gemm.h"
#include "nn_math.h"
#include "recurrent.h"

#include <stddef.h>

/*
 * One (b, t) row, in place: a[3H] = xz (+ hz for the z and r blocks) → z, r, ĥ; then h.
 * restrict and a constant `first` (t = 0, h_{-1} = 0) let the compilers vectorise across j.
 */
static inline void cell_fwd(ptrdiff_t H, float *restrict a, const float *restrict q, const float *restrict hprev,
                            float *restrict h, const int first) {
  for (ptrdiff_t j = 0; j < 2 * H; j++) a[j] = nn_sigmoidf(a[j]);
  /* Simple loops, not one: clang's cost model declines to vectorise the fused one for wasm. */
  for (ptrdiff_t j = 0; j < H; j++) a[2 * H + j] = a[2 * H + j] + a[H + j] * q[j];
  for (ptrdiff_t j = 2 * H; j < 3 * H; j++) a[j] = nn_tanhf(a[j]);
  for (ptrdiff_t j = 0; j < H; j++) h[j] = (first ? 0.0f : a[j] * hprev[j]) + (1.0f - a[j]) * a[2 * H + j];
}

/* d(xz), d(hz) of one row; dh holds the incoming carry and leaves with its direct part dh_t⊙z. */
static inline void cell_bwd(ptrdiff_t H, const float *restrict a, const float *restrict q, const float *restrict hprev,
                            const float *restrict dht, float *restrict dx, float *restrict dhz, float *restrict dh, const int first) {
  for (ptrdiff_t j = 0; j < H; j++) {
    const float z = a[j], r = a[H + j], hh = a[2 * H + j];
    const float dhj = dht[j] + dh[j];
    const float hp = first ? 0.0f : hprev[j];
    const float dah = dhj * (1.0f - z) * (1.0f - hh * hh);
    const float daz = dhj * (hp - hh) * z * (1.0f - z);
    const float dar = dah * q[j] * r * (1.0f - r);
    dx[j] = daz;
    dx[H + j] = dar;
    dx[2 * H + j] = dah;
    dhz[j] = daz;
    dhz[H + j] = dar;
    dhz[2 * H + j] = dah * r;
    dh[j] = dhj * z; /* the direct path; the caller's GEMM adds d(hz)·Rᵀ */
  }
}

void nn_gru_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *kern = base + ia[1], *rec = base + ia[2], *bias = base + ia[3];
  float *hs = base + ia[4], *act = base + ia[5];
  const ptrdiff_t B = ia[6], T = ia[7], I = ia[8], H = ia[9], G = 3 * H;
  float *hzh = act + B * T * G;
  const float *brec = bias + G;
  nn_gemm(B * T, G, I, x, I, 1, kern, G, 1, act, G, 0, bias);
  for (ptrdiff_t t = 0; t < T; t++) {
    if (t > 0) {
      const float *hp = hs + (t - 1) * H;
      nn_gemm(B, 2 * H, H, hp, T * H, 1, rec, G, 1, act + t * G, T * G, 1, brec);
      nn_gemm(B, H, H, hp, T * H, 1, rec + 2 * H, G, 1, hzh + t * H, T * H, 0, brec + 2 * H);
    } else
      for (ptrdiff_t b = 0; b < B; b++) { /* h_{-1} = 0: hz = b_rec */
        float *a = act + b * T * G, *q = hzh + b * T * H;
        for (ptrdiff_t j = 0; j < 2 * H; j++) a[j] += brec[j];
        for (ptrdiff_t j = 0; j < H; j++) q[j] = brec[2 * H + j];
      }
    for (ptrdiff_t b = 0; b < B; b++) {
      const ptrdiff_t row = (b * T + t) * H;
      if (t > 0) cell_fwd(H, act + (b * T + t) * G, hzh + row, hs + row - H, hs + row, 0);
      else cell_fwd(H, act + (b * T + t) * G, hzh + row, hs, hs + row, 1);
    }
  }
}

void nn_gru_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *kern = base + ia[1], *rec = base + ia[2], *hs = base + ia[3];
  const float *act = base + ia[4], *dhs = base + ia[5];
  float *dkern = base + ia[6], *drec = base + ia[7], *dbias = base + ia[8];
  float *dx = ia[9] >= 0 ? base + ia[9] : 0, *dxz = base + ia[10];
  const ptrdiff_t B = ia[11], T = ia[12], I = ia[13], H = ia[14], G = 3 * H;
  const float *hzh = act + B * T * G;
  float *dhz = dxz + B * T * G, *rt = dhz + B * T * G, *dh = rt + G * H;
  nn_rec_transpose(H, G, rec, rt);
  for (ptrdiff_t i = 0; i < B * H; i++) dh[i] = 0.0f;
  for (ptrdiff_t t = T - 1; t >= 0; t--) {
    for (ptrdiff_t b = 0; b < B; b++) {
      const ptrdiff_t row = (b * T + t) * H, at = (b * T + t) * G;
      if (t > 0) cell_bwd(H, act + at, hzh + row, hs + row - H, dhs + row, dxz + at, dhz + at, dh + b * H, 0);
      else cell_bwd(H, act + at, hzh + row, hs, dhs + row, dxz + at, dhz + at, dh + b * H, 1);
    }
    if (t > 0) nn_gemm(B, H, G, dhz + t * G, T * G, 1, rt, H, 1, dh, H, 1, 0);
  }
  for (ptrdiff_t n = 0; n < B * T; n++)
    for (ptrdiff_t g = 0; g < G; g++) {
      dbias[g] += dxz[n * G + g];
      dbias[G + g] += dhz[n * G + g];
    }
  nn_rec_weight_grads(B, T, I, H, G, x, kern, hs, dxz, dhz, dkern, drec, dx);
}

/* Dense layer kernels (argument lists in nn.h): both are nn_gemm calls with strides. */
#include "nn.h"
#include "nn_gemm.h"

void nn_dense_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const ptrdiff_t N = ia[4], I = ia[5], O = ia[6];
  nn_gemm(N, O, I, base + ia[0], I, 1, base + ia[1], O, 1, base + ia[3], O, 0, ia[2] >= 0 ? base + ia[2] : 0);
}

void nn_dense_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *w = base + ia[1], *dy = base + ia[2];
  const ptrdiff_t N = ia[6], I = ia[7], O = ia[8];
  nn_gemm(I, O, N, x, 1, I, dy, O, 1, base + ia[3], O, 1, 0); /* dw += xᵀ·dy */
  if (ia[4] >= 0) {                                             /* db += Σ_n dy[n], n in order */
    float *db = base + ia[4];
    for (ptrdiff_t n = 0; n < N; n++)
      for (ptrdiff_t o = 0; o < O; o++) db[o] += dy[n * O + o];
  }
  if (ia[5] >= 0) nn_gemm(N, I, O, dy, O, 1, w, 1, O, base + ia[5], I, 0, 0); /* dx = dy·wᵀ */
}

/* Small helpers the models need between layers (argument lists in nn.h). */
#include "nn.h"
#include "nn_math.h"

#include <stddef.h>

void nn_zero(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  float *x = base + ia[0];
  for (ptrdiff_t i = 0, n = ia[1]; i < n; i++) x[i] = 0.0f;
}

void nn_copy(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *src = base + ia[0];
  float *dst = base + ia[1];
  for (ptrdiff_t i = 0, n = ia[2]; i < n; i++) dst[i] = src[i];
}

void nn_axpy(float *base, const int32_t *ia, const float *fa) {
  const float *x = base + ia[0];
  float *y = base + ia[1];
  const float a = fa[0];
  for (ptrdiff_t i = 0, n = ia[2]; i < n; i++) y[i] += a * x[i];
}

void nn_add(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *a = base + ia[0], *b = base + ia[1];
  float *out = base + ia[2];
  for (ptrdiff_t i = 0, n = ia[3]; i < n; i++) out[i] = a[i] + b[i];
}

void nn_scale(float *base, const int32_t *ia, const float *fa) {
  float *x = base + ia[0];
  const float s = fa[0];
  for (ptrdiff_t i = 0, n = ia[1]; i < n; i++) x[i] *= s;
}

void nn_last_step_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *hs = base + ia[0];
  float *out = base + ia[1];
  const ptrdiff_t B = ia[2], T = ia[3], H = ia[4];
  for (ptrdiff_t b = 0; b < B; b++)
    for (ptrdiff_t j = 0; j < H; j++) out[b * H + j] = hs[(b * T + T - 1) * H + j];
}

void nn_last_step_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *dout = base + ia[0];
  float *dhs = base + ia[1];
  const ptrdiff_t B = ia[2], T = ia[3], H = ia[4];
  for (ptrdiff_t b = 0; b < B; b++)
    for (ptrdiff_t j = 0; j < H; j++) dhs[(b * T + T - 1) * H + j] += dout[b * H + j];
}

/* Test probe of nn_math.h (test/ml/kernel-contract.ts measures its accuracy through this). */
void nn_math_probe(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0];
  float *y = base + ia[1];
  const ptrdiff_t n = ia[2];
  switch (ia[3]) {
    case 0: for (ptrdiff_t i = 0; i < n; i++) y[i] = nn_expf(x[i]); break;
    case 1: for (ptrdiff_t i = 0; i < n; i++) y[i] = nn_tanhf(x[i]); break;
    case 2: for (ptrdiff_t i = 0; i < n; i++) y[i] = nn_sigmoidf(x[i]); break;
    case 3: for (ptrdiff_t i = 0; i < n; i++) y[i] = nn_logf(x[i]); break;
    case 4: for (ptrdiff_t i = 0; i < n; i++) y[i] = nn_log1pf(x[i]); break;
    default: break;
  }
}

/*
 * Loss kernels (argument lists in nn.h): the plain sum of the per-sample losses, accumulated
 * in double in index order (the caller divides by the batch), and the per-sample gradient
 * times `scale` (e.g. 1/B), written.
 */
#include "nn.h"
#include "nn_math.h"

#include <stddef.h>

void nn_bce_logits(float *base, const int32_t *ia, const float *fa) {
  const float *z = base + ia[0], *y = base + ia[1];
  float *dz = ia[2] >= 0 ? base + ia[2] : 0;
  const ptrdiff_t N = ia[4];
  const float scale = fa[0];
  double sum = 0;
  for (ptrdiff_t n = 0; n < N; n++) { /* max(z,0) − z·y + log(1 + e^−|z|): no overflow for any z */
    const float zn = z[n];
    sum += (double)((zn > 0.0f ? zn : 0.0f) - zn * y[n] + nn_log1pf(nn_expf(-nn_fabsf(zn))));
  }
  /* σ(z) − y as (1 − y)·σ(z) − y·σ(−z): no cancellation when σ(z) is near y (a confident, right
   * prediction), from e = e^−|z| ∈ (0, 1]: σ(|z|) = 1/(1 + e), σ(−|z|) = e·σ(|z|). */
  if (dz)
    for (ptrdiff_t n = 0; n < N; n++) {
      const float e = nn_expf(-nn_fabsf(z[n])), p = 1.0f / (1.0f + e), q = e * p;
      const int pos = z[n] >= 0.0f;
      dz[n] = scale * ((1.0f - y[n]) * (pos ? p : q) - y[n] * (pos ? q : p));
    }
  base[ia[3]] = (float)sum;
}

void nn_huber(float *base, const int32_t *ia, const float *fa) {
  const float *p = base + ia[0], *t = base + ia[1];
  float *dp = ia[2] >= 0 ? base + ia[2] : 0;
  const ptrdiff_t N = ia[4];
  const float scale = fa[0], delta = fa[1];
  double sum = 0;
  for (ptrdiff_t n = 0; n < N; n++) {
    const float d = p[n] - t[n], ad = nn_fabsf(d);
    sum += ad <= delta ? 0.5 * (double)d * (double)d : (double)delta * ((double)ad - 0.5 * (double)delta);
    if (dp) dp[n] = scale * (d > delta ? delta : d < -delta ? -delta : d);
  }
  base[ia[3]] = (float)sum;
}

void nn_mse(float *base, const int32_t *ia, const float *fa) {
  const float *p = base + ia[0], *t = base + ia[1];
  float *dp = ia[2] >= 0 ? base + ia[2] : 0;
  const ptrdiff_t N = ia[4];
  const float scale = fa[0];
  double sum = 0;
  for (ptrdiff_t n = 0; n < N; n++) {
    const float d = p[n] - t[n];
    sum += (double)d * (double)d;
    if (dp) dp[n] = scale * 2.0f * d;
  }
  base[ia[3]] = (float)sum;
}

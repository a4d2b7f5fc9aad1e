/* Adam (argument list in nn.h): bias corrections in double, the update in float. */
#include "nn.h"
#include "nn_math.h"

#include <stddef.h>

/* b^t for an integer t ≥ 0 by squaring (no libm pow in the wasm build). */
static double powi(double b, int32_t t) {
  double r = 1.0;
  for (; t > 0; t >>= 1, b *= b)
    if (t & 1) r *= b;
  return r;
}

void nn_adam_step(float *base, const int32_t *ia, const float *fa) {
  float *p = base + ia[0], *m = base + ia[2], *v = base + ia[3];
  const float *g = base + ia[1];
  const ptrdiff_t n = ia[4];
  const int32_t t = ia[5] < 1 ? 1 : ia[5];
  const float lr = fa[0], b1 = fa[1], b2 = fa[2], eps = fa[3], wd = fa[4];
  /* p −= lr/c1 · m / (√v/√c2 + eps), the same as lr·m̂/(√v̂ + eps) with m̂ = m/c1, v̂ = v/c2. */
  const float step = (float)((double)lr / (1.0 - powi(b1, t)));
  const float rsc2 = (float)(1.0 / __builtin_sqrt(1.0 - powi(b2, t)));
  const float decay = 1.0f - lr * wd;
  for (ptrdiff_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (nn_sqrtf(vi) * rsc2 + eps);
  }
}

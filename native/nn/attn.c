/*
 * Transformer kernels: LayerNorm, the multi-head attention core, ReLU, positional encodings
 * and mean pooling (argument lists in attn.h; semantics in docs/nn-engine.md).
 *
 * Attention's matrix products use the shared GEMM (nn_gemm.h). The other loops are
 * elementwise or axpys over a contiguous row (y[i] += a * x[i]), which vectorise without
 * reassociating any sum, so each element sees the same operations in the same order at every
 * SIMD width. Row sums are LANE_SUMs: eight partial sums in a written-out order, which
 * vectorise as they stand and break the add latency chain, and still give the same bits at
 * any SIMD width. With both builds at -ffp-contract=off (no fused multiply-add), the native
 * addon and the wasm module give the same bits (test/ml/kernels-attn.test.ts checks it).
 */
#include "attn.h"
#include "nn_gemm.h"
#include "nn_math.h"

#include <stddef.h>

/* y[i] += a * x[i] */
static inline void axpy(float *restrict y, float a, const float *restrict x, ptrdiff_t n) {
  for (ptrdiff_t i = 0; i < n; i++) y[i] += a * x[i];
}

/*
 * out = Σ_{i<n} EXPR (EXPR an expression of i) in a fixed order: lane l (of 8) sums the
 * i ≡ l (mod 8) terms of the whole blocks of 8 in i order, the lanes are added pairwise
 * ((0+1)+(2+3))+((4+5)+(6+7)), then the tail i order. The lanes are independent, so the
 * block loop vectorises without any reassociation by the compiler.
 */
#define LANE_SUM(out, n, EXPR)                                                                   \
  do {                                                                                           \
    float acc_[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};                            \
    ptrdiff_t b_ = 0;                                                                            \
    for (; b_ + 8 <= (n); b_ += 8)                                                               \
      for (ptrdiff_t l_ = 0; l_ < 8; l_++) {                                                     \
        const ptrdiff_t i = b_ + l_;                                                             \
        acc_[l_] += (EXPR);                                                                      \
      }                                                                                          \
    float tot_ = ((acc_[0] + acc_[1]) + (acc_[2] + acc_[3])) + ((acc_[4] + acc_[5]) + (acc_[6] + acc_[7])); \
    for (; b_ < (n); b_++) {                                                                     \
      const ptrdiff_t i = b_;                                                                    \
      tot_ += (EXPR);                                                                            \
    }                                                                                            \
    (out) = tot_;                                                                                \
  } while (0)

static inline void zero(float *y, ptrdiff_t n) {
  for (ptrdiff_t i = 0; i < n; i++) y[i] = 0.0f;
}

/* ---------------------------------------------------------------- LayerNorm */

void nn_layernorm_fwd(float *base, const int32_t *ia, const float *fa) {
  const float *x = base + ia[0], *gamma = base + ia[2], *beta = base + ia[3];
  float *y = base + ia[1], *mean = base + ia[4];
  const ptrdiff_t N = ia[5], D = ia[6];
  float *rstd = mean + N;
  const float eps = fa[0];
  for (ptrdiff_t n = 0; n < N; n++) {
    const float *xr = x + n * D;
    float *yr = y + n * D;
    float sx, v;
    LANE_SUM(sx, D, xr[i]);
    const float m = sx / (float)D;
    LANE_SUM(v, D, (xr[i] - m) * (xr[i] - m)); /* two passes: no cancellation from E[x²] − E[x]² */
    const float r = 1.0f / nn_sqrtf(v / (float)D + eps);
    mean[n] = m;
    rstd[n] = r;
    for (ptrdiff_t j = 0; j < D; j++) yr[j] = (xr[j] - m) * r * gamma[j] + beta[j];
  }
}

/*
 * With x̂ = (x − μ)·r and g = dy·γ: dx = r·(g − mean(g) − x̂·mean(g·x̂)).
 * An accumulate loop, two LANE_SUMs and a write loop, each of which vectorises; dx is written
 * last, element by element, so it may alias dy.
 */
void nn_layernorm_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0], *dy = base + ia[1], *gamma = base + ia[2], *mean = base + ia[3];
  float *dx = base + ia[4], *dgamma = base + ia[5], *dbeta = base + ia[6];
  const ptrdiff_t N = ia[7], D = ia[8];
  const float *rstd = mean + N;
  for (ptrdiff_t n = 0; n < N; n++) {
    const float *xr = x + n * D, *dyr = dy + n * D;
    float *dxr = dx + n * D;
    const float m = mean[n], r = rstd[n];
    for (ptrdiff_t j = 0; j < D; j++) {
      dgamma[j] += dyr[j] * ((xr[j] - m) * r);
      dbeta[j] += dyr[j];
    }
    float sg, sgx;
    LANE_SUM(sg, D, dyr[i] * gamma[i]);
    LANE_SUM(sgx, D, (dyr[i] * gamma[i]) * ((xr[i] - m) * r));
    const float mg = sg / (float)D, mgx = sgx / (float)D;
    for (ptrdiff_t j = 0; j < D; j++) dxr[j] = r * (dyr[j] * gamma[j] - mg - (xr[j] - m) * r * mgx);
  }
}

/* ---------------------------------------------------------------- attention */

/* p = softmax(p·scale), shifted by the row maximum (scale > 0). The exp loop is a function of
 * its own so that it vectorises (next to the other loops, clang 14 gave up on it). */
static __attribute__((noinline)) void exp_shift(float *restrict p, ptrdiff_t n, float mx, float scale) {
  for (ptrdiff_t s = 0; s < n; s++) p[s] = nn_expf((p[s] - mx) * scale);
}

static void softmax_row(float *restrict p, ptrdiff_t n, float scale) {
  float mx = p[0]; /* a maximum is exact in any order */
  for (ptrdiff_t s = 1; s < n; s++) mx = p[s] > mx ? p[s] : mx;
  exp_shift(p, n, mx, scale);
  float sum;
  LANE_SUM(sum, n, p[i]);
  const float inv = 1.0f / sum;
  for (ptrdiff_t s = 0; s < n; s++) p[s] *= inv;
}

/*
 * The products go through nn_gemm (nn_gemm.h), whose strides express the per-head column
 * slices and the transposes without copies, and whose sums run in k order whatever its
 * blocking. Per sample b and head j: S = Q_j K_jᵀ into P's block, a row softmax of S/√dh in
 * place, then O_j = P V_j.
 */
void nn_attention_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *q = base + ia[0], *k = base + ia[1], *v = base + ia[2];
  float *o = base + ia[3], *p = base + ia[4];
  const ptrdiff_t B = ia[6], L = ia[7], D = ia[8], H = ia[9], dh = D / H;
  const float scale = 1.0f / nn_sqrtf((float)dh);
  for (ptrdiff_t b = 0; b < B; b++) {
    for (ptrdiff_t j = 0; j < H; j++) {
      const ptrdiff_t off = b * L * D + j * dh;
      float *pb = p + (b * H + j) * L * L;
      nn_gemm(L, L, dh, q + off, D, 1, k + off, 1, D, pb, L, 0, 0);
      for (ptrdiff_t t = 0; t < L; t++) softmax_row(pb + t * L, L, scale);
      nn_gemm(L, dh, L, pb, L, 1, v + off, D, 1, o + off, D, 0, 0);
    }
  }
}

/*
 * With dP = dO Vᵀ and dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √dh: dV = Pᵀ dO, dQ = dS K, dK = dSᵀ Q.
 * dS is formed R = dh + 1 query rows at a time in the scratch (R·L ≤ L·dh + L floats); dK
 * accumulates over those blocks in row order, so each of its sums still runs in t order.
 */
void nn_attention_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *q = base + ia[0], *k = base + ia[1], *v = base + ia[2], *p = base + ia[3];
  const float *dout = base + ia[4];
  float *dq = base + ia[5], *dk = base + ia[6], *dv = base + ia[7], *ds = base + ia[8];
  const ptrdiff_t B = ia[9], L = ia[10], D = ia[11], H = ia[12], dh = D / H;
  const ptrdiff_t R = dh + 1 < L ? dh + 1 : L;
  const float scale = 1.0f / nn_sqrtf((float)dh);
  for (ptrdiff_t b = 0; b < B; b++) {
    for (ptrdiff_t j = 0; j < H; j++) {
      const ptrdiff_t off = b * L * D + j * dh;
      const float *pb = p + (b * H + j) * L * L;
      nn_gemm(L, dh, L, pb, 1, L, dout + off, D, 1, dv + off, D, 0, 0);
      for (ptrdiff_t t0 = 0; t0 < L; t0 += R) {
        const ptrdiff_t r = L - t0 < R ? L - t0 : R;
        nn_gemm(r, L, dh, dout + off + t0 * D, D, 1, v + off, 1, D, ds, L, 0, 0); /* dP rows */
        for (ptrdiff_t t = 0; t < r; t++) {
          const float *pr = pb + (t0 + t) * L;
          float *dr = ds + t * L;
          float dot;
          LANE_SUM(dot, L, pr[i] * dr[i]);
          for (ptrdiff_t s = 0; s < L; s++) dr[s] = pr[s] * (dr[s] - dot) * scale; /* now dS */
        }
        nn_gemm(r, dh, L, ds, L, 1, k + off, D, 1, dq + off + t0 * D, D, 0, 0);
        nn_gemm(L, dh, r, ds, 1, L, q + off + t0 * D, D, 1, dk + off, D, t0 > 0, 0);
      }
    }
  }
}

/* ---------------------------------------------------------------- ReLU */

void nn_relu_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0];
  float *y = base + ia[1];
  const ptrdiff_t n = ia[2];
  for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nn_relu_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *y = base + ia[0], *dy = base + ia[1];
  float *dx = base + ia[2];
  const ptrdiff_t n = ia[3];
  for (ptrdiff_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---------------------------------------------------------------- positions and pooling */

void nn_add_pos_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  float *x = base + ia[0];
  const float *p = base + ia[1];
  const ptrdiff_t B = ia[2], LD = (ptrdiff_t)ia[3] * ia[4];
  for (ptrdiff_t b = 0; b < B; b++) axpy(x + b * LD, 1.0f, p, LD);
}

void nn_add_pos_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *dx = base + ia[0];
  float *dp = base + ia[1];
  const ptrdiff_t B = ia[2], LD = (ptrdiff_t)ia[3] * ia[4];
  for (ptrdiff_t b = 0; b < B; b++) axpy(dp, 1.0f, dx + b * LD, LD);
}

void nn_mean_pool_fwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *x = base + ia[0];
  float *y = base + ia[1];
  const ptrdiff_t B = ia[2], L = ia[3], D = ia[4];
  for (ptrdiff_t b = 0; b < B; b++) {
    float *yr = y + b * D;
    zero(yr, D);
    for (ptrdiff_t t = 0; t < L; t++) axpy(yr, 1.0f, x + (b * L + t) * D, D);
    for (ptrdiff_t c = 0; c < D; c++) yr[c] /= (float)L;
  }
}

void nn_mean_pool_bwd(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  const float *dy = base + ia[0];
  float *dx = base + ia[1];
  const ptrdiff_t B = ia[2], L = ia[3], D = ia[4];
  for (ptrdiff_t b = 0; b < B; b++)
    for (ptrdiff_t t = 0; t < L; t++)
      for (ptrdiff_t c = 0; c < D; c++) dx[(b * L + t) * D + c] = dy[b * D + c] / (float)L;
}

/* ---------------------------------------------------------------- sinusoidal encoding */

/*
 * The encoding is a constant the TypeScript side, the tfjs reference and the ONNX export also
 * compute (with Math.sin in double). Computing it here in double (IEEE operations only, no
 * libm: the wasm build has none) and rounding once to float gives the same float32 values
 * except where the double lies within ~1e-16 of a float rounding boundary.
 */

/* e^x for |x| ≤ ~700: x = k·ln2 + r, |r| ≤ ln2/2, Taylor to degree 14 (error < 1e-17). */
static double pe_exp(double x) {
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double kd = x * 1.44269504088896338700e+00;
  const int64_t k = (int64_t)(kd < 0 ? kd - 0.5 : kd + 0.5);
  const double r = (x - (double)k * ln2_hi) - (double)k * ln2_lo;
  double s = 1.0;
  for (int i = 14; i >= 1; i--) s = 1.0 + s * r / (double)i;
  union { double d; uint64_t u; } two_k = { .u = (uint64_t)(k + 1023) << 52 };
  return s * two_k.d;
}

/* sin and cos of one angle a ≥ 0 (a < 2^19·π/2): Cody-Waite reduction by π/2 (fdlibm's
 * three-part constants, each product exact), then Taylor series on |r| ≤ π/4. */
static void pe_sincos(double a, double *sn, double *cs) {
  const double pio2_1 = 1.57079632673412561417e+00, pio2_2 = 6.07710050630396597660e-11,
               pio2_3 = 2.02226624871116645580e-21;
  const int64_t n = (int64_t)(a * 6.36619772367581382433e-01 + 0.5);
  const double r = ((a - (double)n * pio2_1) - (double)n * pio2_2) - (double)n * pio2_3;
  const double r2 = r * r;
  double s = 1.0, c = 1.0;
  for (int i = 17; i >= 3; i -= 2) s = 1.0 - s * r2 / ((double)i * (double)(i - 1));
  for (int i = 18; i >= 2; i -= 2) c = 1.0 - c * r2 / ((double)i * (double)(i - 1));
  s *= r;
  switch (n & 3) {
    case 0: *sn = s; *cs = c; break;
    case 1: *sn = c; *cs = -s; break;
    case 2: *sn = -s; *cs = -c; break;
    default: *sn = -c; *cs = s; break;
  }
}

void nn_sinusoid_pe(float *base, const int32_t *ia, const float *fa) {
  (void)fa;
  float *out = base + ia[0];
  const ptrdiff_t L = ia[1], D = ia[2];
  const double ln10000 = 9.21034037197618273607e+00;
  for (ptrdiff_t i2 = 0; i2 < D; i2 += 2) {
    const double div = pe_exp((double)i2 / (double)D * ln10000);
    for (ptrdiff_t t = 0; t < L; t++) {
      double sn, cs;
      pe_sincos((double)t / div, &sn, &cs);
      out[t * D + i2] = (float)sn;
      if (i2 + 1 < D) out[t * D + i2 + 1] = (float)cs;
    }
  }
}

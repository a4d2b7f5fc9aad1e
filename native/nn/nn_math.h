/*
 * Float math shared by every kernel of both builds (native addon and wasm).
 *
 * The wasm build links with -nostdlib: there is no libm. So exp, tanh, log, log1p and the
 * logistic sigmoid are written here once, as branch-free range reduction + polynomial (the
 * Cephes single-precision coefficients), and BOTH builds use them: the builds then differ
 * only where the native compiler fuses a multiply-add, not by two different libms.
 * Accuracy, worst over 2^20 points against float64 (test/ml/kernel-contract.ts checks a coarser
 * grid): exp 0.97 ulp on [-103, 88.7], log 0.74, log1p 1.2 on [0, 1], tanh 1.3, sigmoid 2.4
 * (in its far negative tail, where e^-x is large). Everything is `static inline` and select-based (no
 * branches on the data) so loops that call them vectorise. sqrt is the IEEE instruction
 * (correctly rounded on both targets; the native build compiles with -fno-math-errno).
 */
#ifndef NN_MATH_H
#define NN_MATH_H
#include <stdint.h>

/* Bit casts through a union (defined in C; gcc does not vectorise loops through memcpy punning). */
static inline uint32_t nn_f2u(float f) {
  union { float f; uint32_t u; } c = { .f = f };
  return c.u;
}

static inline float nn_u2f(uint32_t u) {
  union { uint32_t u; float f; } c = { .u = u };
  return c.f;
}

static inline float nn_fabsf(float x) { return nn_u2f(nn_f2u(x) & 0x7fffffffu); }

static inline float nn_sqrtf(float x) { return __builtin_sqrtf(x); }

/*
 * e^x. x = n·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, Cody-Waite), e^r by a degree-7
 * polynomial, then · 2^n applied as two power-of-two factors so n may span the whole float
 * exponent range (results down to the subnormals are rounded once, not flushed).
 * Returns +inf above 88.7228 and 0 below -103.98, as expf does.
 */
static inline float nn_expf(float x) {
  const float hi = 88.72283935546875f, lo = -103.972084f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc; /* n in [-150, 128]: both scale factors below stay normal */
  const float magic = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */
  const float tm = xc * 1.44269504088896341f + magic;
  const float nf = tm - magic;
  const float r = (xc - nf * 0.693359375f) + nf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + r + 1.0f;
  /* n from the bits of tm (its low mantissa bits hold n + 2^22): no float-to-int conversion,
   * which wasm SIMD lowers to a long saturating sequence. */
  const int32_t n = (int32_t)(nn_f2u(tm) - nn_f2u(magic));
  const int32_t n1 = n >> 1, n2 = n - n1; /* each in [-75, 64] */
  const float s1 = nn_u2f((uint32_t)(n1 + 127) << 23), s2 = nn_u2f((uint32_t)(n2 + 127) << 23);
  float res = (e * s1) * s2; /* e·s1 is exact; one rounding, into the subnormals if need be */
  res = x < lo ? 0.0f : res;
  res = x > hi ? nn_u2f(0x7f800000u) : res;
  return res;
}

/* Logistic sigmoid 1 / (1 + e^-x): tends to 0 (not NaN) as x → -∞ because e^-x → +inf. */
static inline float nn_sigmoidf(float x) { return 1.0f / (1.0f + nn_expf(-x)); }

/*
 * tanh: for |x| < 0.625 the odd polynomial x + x³·P(x²) (keeps relative accuracy near 0),
 * else sign(x)·(1 − 2/(e^{2|x|} + 1)), which tends to ±1 as e^{2|x|} → inf.
 */
static inline float nn_tanhf(float x) {
  const float ax = nn_fabsf(x);
  const float big = 1.0f - 2.0f / (nn_expf(2.0f * ax) + 1.0f);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float sbig = x < 0.0f ? -big : big;
  return ax < 0.625f ? small : sbig;
}

/*
 * Natural log for x > 0 (normal numbers): x = m·2^e with m in [√½, √2), log(m) = f − f²/2 +
 * f³·P(f) for f = m − 1, plus e·ln2 in two parts. log(0) = -inf; negative x gives NaN.
 */
static inline float nn_logf(float x) {
  const uint32_t u = nn_f2u(x);
  int32_t e = (int32_t)((u >> 23) & 0xffu) - 127;
  float m = nn_u2f((u & 0x007fffffu) | 0x3f800000u); /* [1, 2) */
  const int big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  const float f = m - 1.0f, z = f * f, ef = (float)e;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = p * f * z;
  y += -2.12194440e-4f * ef;
  y += -0.5f * z;
  float r = f + y + 0.693359375f * ef;
  r = x == 0.0f ? -nn_u2f(0x7f800000u) : r;
  r = x < 0.0f ? nn_u2f(0x7fc00000u) : r;
  r = x == nn_u2f(0x7f800000u) ? x : r;
  return r;
}

/* log(1 + u) for u > -1, accurate for tiny u: log(w) corrected by the rounding of w = 1 + u. */
static inline float nn_log1pf(float u) {
  const float w = 1.0f + u;
  return nn_logf(w) - ((w - 1.0f) - u) / w;
}

#endif

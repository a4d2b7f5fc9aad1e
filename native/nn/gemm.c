/*
 * nn_gemm (contract in nn_gemm.h): register-blocked matrix product for both builds.
 *
 * A micro-kernel keeps an MR × NR block of C in vector registers and, for each k, broadcasts
 * MR values of A against NR contiguous values of one row of B: the inner loop runs over the
 * contiguous N axis, with no horizontal sums, so every element's sum stays in k order at any
 * SIMD width. The width follows the target: AVX-512 (16 floats, NR = 64), AVX (8, NR = 16) or
 * 128-bit (wasm SIMD / SSE: 4, NR = 8). K is blocked by KC so the B panel in use stays in L1;
 * blocking only stores and reloads C between blocks (exact), so it does not change the sum.
 * Columns left over after the last whole vector are done by a scalar loop in the same order.
 */
#include "nn_gemm.h"

#if defined(__AVX512F__)
#define VW 16
#define NRV 4
#elif defined(__AVX__)
#define VW 8
#define NRV 2
#else
#define VW 4
#define NRV 2
#endif
#ifdef NN_NRV /* tuning experiments: -DNN_MR=.. -DNN_NRV=.. */
#undef NRV
#define NRV NN_NRV
#endif
#ifdef NN_MR
#define MR NN_MR
#else
#define MR 4
#endif
#define NR (VW * NRV)
#define KC 128

typedef float vf __attribute__((vector_size(VW * 4)));

enum { INIT_ZERO, INIT_BIAS, INIT_C };

static inline vf vld(const float *p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

static inline void vst(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }

/* C[mr, nrv·VW] (init per mode) += A[mr, kc]·B[kc, nrv·VW]; B rows rsb apart, contiguous. */
static inline __attribute__((always_inline)) void ukern(const int mr, const int nrv, ptrdiff_t kc,
                                                        const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                                        const float *B, ptrdiff_t rsb, float *C,
                                                        ptrdiff_t ldc, int mode, const float *bias) {
  vf acc[MR][NRV];
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nrv; v++)
      acc[r][v] = mode == INIT_C ? vld(C + r * ldc + v * VW) : mode == INIT_BIAS ? vld(bias + v * VW) : (vf){0};
  for (ptrdiff_t k = 0; k < kc; k++) {
    const float *b = B + k * rsb;
    vf bv[NRV];
    for (int v = 0; v < nrv; v++) bv[v] = vld(b + v * VW);
    for (int r = 0; r < mr; r++) {
      const float a = A[r * rsa + k * csa]; /* scalar · vector: a broadcast */
      for (int v = 0; v < nrv; v++) acc[r][v] += a * bv[v];
    }
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nrv; v++) vst(C + r * ldc + v * VW, acc[r][v]);
}

/* One kc-deep slab of whole vector columns (nrv of them) for all M rows. */
static void slab(int nrv, ptrdiff_t M, ptrdiff_t kc, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                 const float *B, ptrdiff_t rsb, float *C, ptrdiff_t ldc, int mode, const float *bias) {
  ptrdiff_t r = 0;
#define ROWS(mr)                                                                                 \
  switch (nrv) {                                                                                 \
    case 1: ukern(mr, 1, kc, A + r * rsa, rsa, csa, B, rsb, C + r * ldc, ldc, mode, bias); break; \
    case 2: ukern(mr, 2, kc, A + r * rsa, rsa, csa, B, rsb, C + r * ldc, ldc, mode, bias); break; \
    case 3: ukern(mr, 3 <= NRV ? 3 : 1, kc, A + r * rsa, rsa, csa, B, rsb, C + r * ldc, ldc, mode, bias); break; \
    default: ukern(mr, NRV, kc, A + r * rsa, rsa, csa, B, rsb, C + r * ldc, ldc, mode, bias); break; \
  }
  for (; r + MR <= M; r += MR) ROWS(MR)
  for (; r < M; r++) ROWS(1)
#undef ROWS
}

void nn_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
             const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t ldc, int accumulate,
             const float *bias) {
  if (M <= 0 || N <= 0) return;
  if (accumulate && bias) { /* init = C + bias, then the products: add the bias first */
    for (ptrdiff_t r = 0; r < M; r++)
      for (ptrdiff_t j = 0; j < N; j++) C[r * ldc + j] += bias[j];
    bias = 0;
  }
  const int mode0 = accumulate ? INIT_C : bias ? INIT_BIAS : INIT_ZERO;
  if (K <= 0) {
    if (!accumulate)
      for (ptrdiff_t r = 0; r < M; r++)
        for (ptrdiff_t j = 0; j < N; j++) C[r * ldc + j] = bias ? bias[j] : 0.0f;
    return;
  }
  const ptrdiff_t nv = N / VW * VW;
  float pack[KC * NR];
  for (ptrdiff_t j0 = 0; j0 < nv; j0 += NR) {
    const ptrdiff_t nc = nv - j0 < NR ? nv - j0 : NR;
    const int nrv = (int)(nc / VW);
    for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {
      const ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;
      const float *Bp = B + k0 * rsb + j0 * csb;
      ptrdiff_t rb = rsb;
      if (csb != 1) { /* transposed B: pack the kc × nc panel row-major */
        for (ptrdiff_t j = 0; j < nc; j++)
          for (ptrdiff_t k = 0; k < kc; k++) pack[k * NR + j] = Bp[k * rsb + j * csb];
        Bp = pack;
        rb = NR;
      }
      slab(nrv, M, kc, A + k0 * csa, rsa, csa, Bp, rb, C + j0, ldc, k0 > 0 ? INIT_C : mode0, bias ? bias + j0 : 0);
    }
  }
  for (ptrdiff_t j = nv; j < N; j++) /* scalar columns, same order of operations */
    for (ptrdiff_t r = 0; r < M; r++) {
      float s = accumulate ? C[r * ldc + j] : bias ? bias[j] : 0.0f;
      for (ptrdiff_t k = 0; k < K; k++) s += A[r * rsa + k * csa] * B[k * rsb + j * csb];
      C[r * ldc + j] = s;
    }
}

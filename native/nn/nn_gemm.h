/*
 * The one matrix product every core kernel uses (gemm.c), for kernels of other files too.
 *
 *   C(r, j) = init(r, j) + Σ_{k=0..K-1} A(r, k)·B(k, j)    for r < M, j < N
 *   A(r, k) = A[r·rsa + k·csa], B(k, j) = B[k·rsb + j·csb], C(r, j) = C[r·ldc + j]
 *   init = (accumulate ? C(r, j) : 0) + (bias ? bias[j] : 0)
 *
 * Strides express transposes without copies (Aᵀ: swap rsa and csa). The sum for each element
 * runs in k order starting from init, whatever the blocking or SIMD width, so results do not
 * depend on the shape of the call around an element. B with csb ≠ 1 is packed, a panel at a
 * time, into a stack buffer (≤ 64 KiB).
 */
#ifndef NN_GEMM_H
#define NN_GEMM_H
#include <stddef.h>

void nn_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
             const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t ldc, int accumulate,
             const float *bias);

#endif

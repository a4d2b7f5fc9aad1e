/* The parts of the LSTM and GRU backward passes they share: see recurrent.h. */
#include "recurrent.h"
#include "nn_gemm.h"

void nn_rec_transpose(ptrdiff_t H, ptrdiff_t G, const float *rec, float *rt) {
  for (ptrdiff_t m = 0; m < H; m++)
    for (ptrdiff_t g = 0; g < G; g++) rt[g * H + m] = rec[m * G + g];
}

void nn_rec_weight_grads(ptrdiff_t B, ptrdiff_t T, ptrdiff_t I, ptrdiff_t H, ptrdiff_t G, const float *x, const float *kern,
                         const float *hs, const float *dxg, const float *dhg, float *dkern, float *drec, float *dx) {
  nn_gemm(I, G, B * T, x, 1, I, dxg, G, 1, dkern, G, 1, 0); /* dkernel += xᵀ·dxg */
  for (ptrdiff_t b = 0; b < B && T > 1; b++) /* drecurrent += Σ_t h_{t-1}ᵀ·dhg_t */
    nn_gemm(H, G, T - 1, hs + b * T * H, 1, H, dhg + (b * T + 1) * G, G, 1, drec, G, 1, 0);
  if (dx) nn_gemm(B * T, I, G, dxg, G, 1, kern, 1, G, dx, I, 0, 0); /* dx = dxg·kernelᵀ */
}

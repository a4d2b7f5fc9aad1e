/*
 * What the LSTM and GRU backward passes share (native/nn/recurrent.c): the transposed copy of
 * the recurrent kernel the recurrence reads by rows, and the weight gradients summed after the
 * time loop. Same GEMM calls in the same order as before they were shared, so the results are
 * bit for bit those of the per-cell code (the kernel contract tests check it).
 */
#ifndef NN_RECURRENT_H
#define NN_RECURRENT_H

#include <stddef.h>

/* rt[g·H + m] = rec[m·G + g]: the H × G recurrent kernel transposed. */
void nn_rec_transpose(ptrdiff_t H, ptrdiff_t G, const float *rec, float *rt);

/*
 * The weight gradients of a recurrent layer over one chunk, from the gate gradients of the
 * input path (dxg, [B·T, G]) and of the recurrent path (dhg, [B·T, G]; the LSTM passes dz for
 * both): dkernel += xᵀ·dxg; drecurrent += Σ_t h_{t-1}ᵀ·dhg_t in (b, t) order; dx = dxg·kernelᵀ
 * when dx is not null. The biases differ between the cells and stay with them.
 */
void nn_rec_weight_grads(ptrdiff_t B, ptrdiff_t T, ptrdiff_t I, ptrdiff_t H, ptrdiff_t G, const float *x, const float *kern,
                         const float *hs, const float *dxg, const float *dhg, float *dkern, float *drec, float *dx);

#endif

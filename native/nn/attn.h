/*
 * Transformer kernels (attn.c): LayerNorm, multi-head attention core, ReLU, positional
 * encodings and mean pooling, forward and backward. Contract: docs/nn-engine.md.
 *
 * Calling convention (every kernel): void nn_<name>(float *base, const int32_t *ia, const float *fa).
 * Offsets in ia count floats from base; all tensors are float32, row-major, contiguous.
 * Parameter gradients (dgamma, dbeta, dP) are ACCUMULATED (+=); input gradients (dX, dQ, dK,
 * dV) are WRITTEN (overwritten), so the caller adds them into a residual stream itself (axpy).
 * Unless stated, an output region must not overlap an input region.
 * Kernels never allocate; scratch is an arena region the caller passes in.
 * Determinism: every floating-point operation runs in a fixed order that does not depend on
 * the SIMD width (no threads here, no reassociation, both builds at -ffp-contract=off), so a
 * repeated call and the native and wasm builds give the same bits.
 *
 * layernorm_fwd  ia = [x, y, gamma, beta, cache, N, D]   fa = [eps]
 *     x, y [N, D]; gamma, beta [D]; cache [2N] receives mean[N] then rstd[N] (biased variance).
 *     y = (x - mean) * rstd * gamma + beta. y may equal x (in place).
 * layernorm_bwd  ia = [x, dy, gamma, cache, dx, dgamma, dbeta, N, D]
 *     cache as written by layernorm_fwd for the same x. dgamma += Σ dy·x̂, dbeta += Σ dy;
 *     dx [N, D] written. dx may equal dy (in place).
 *
 * attention_fwd  ia = [q, k, v, o, p, scratch, B, L, D, h]
 *     q, k, v, o [B, L, D]; head j uses columns j·dh .. (j+1)·dh − 1, dh = D / h (D % h == 0).
 *     p [B, h, L, L] receives softmax(Q_j K_jᵀ / √dh) (the backward cache);
 *     o = concat_j P_j V_j. scratch: not read or written (the slot stays so callers need not change).
 * attention_bwd  ia = [q, k, v, p, dout, dq, dk, dv, scratch, B, L, D, h]
 *     p as written by attention_fwd; dout [B, L, D]; dq, dk, dv [B, L, D] written.
 *     scratch: L·dh + L floats (dS for dh + 1 query rows at a time).
 *
 * relu_fwd       ia = [x, y, n]           y = max(x, 0); y may equal x.
 * relu_bwd       ia = [y, dy, dx, n]      dx = dy where y > 0 else 0, written; y is the forward
 *                                         output (or its input: same mask). dx may equal dy.
 *
 * add_pos_fwd    ia = [x, p, B, L, D]     x[b] += p for every b (in place); p [L, D].
 * add_pos_bwd    ia = [dx, dp, B, L, D]   dp += Σ_b dx[b], summed in b order.
 *
 * mean_pool_fwd  ia = [x, y, B, L, D]     y[b] = Σ_t x[b, t] / L; x [B, L, D], y [B, D].
 * mean_pool_bwd  ia = [dy, dx, B, L, D]   dx[b, t] = dy[b] / L, written.
 *
 * sinusoid_pe    ia = [out, L, D]         out[t, 2i] = sin(t / 10000^(2i/D)),
 *                                         out[t, 2i+1] = cos(t / 10000^(2i/D)), written;
 *                                         computed in double and rounded once to float.
 */
#ifndef NN_ATTN_H
#define NN_ATTN_H
#include <stdint.h>

/* One declaration per line of kernels_attn.def. */
void nn_layernorm_fwd(float *base, const int32_t *ia, const float *fa);
void nn_layernorm_bwd(float *base, const int32_t *ia, const float *fa);
void nn_attention_fwd(float *base, const int32_t *ia, const float *fa);
void nn_attention_bwd(float *base, const int32_t *ia, const float *fa);
void nn_relu_fwd(float *base, const int32_t *ia, const float *fa);
void nn_relu_bwd(float *base, const int32_t *ia, const float *fa);
void nn_add_pos_fwd(float *base, const int32_t *ia, const float *fa);
void nn_add_pos_bwd(float *base, const int32_t *ia, const float *fa);
void nn_mean_pool_fwd(float *base, const int32_t *ia, const float *fa);
void nn_mean_pool_bwd(float *base, const int32_t *ia, const float *fa);
void nn_sinusoid_pe(float *base, const int32_t *ia, const float *fa);

#endif

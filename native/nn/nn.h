/*
 * Core kernels of the training engine (dense, LSTM, GRU, losses, Adam, helpers); contract in
 * docs/nn-engine.md, mirrored argument by argument in src/ml/nn/kernels.ts.
 *
 * Calling convention (every kernel): void nn_<name>(float *base, const int32_t *ia, const float *fa).
 * Offsets in ia count floats from base (the caller's arena); dims follow the offsets; fa holds
 * float scalars. Tensors are float32, row-major, contiguous. An offset of -1 means "absent"
 * where stated. Parameter gradients are ACCUMULATED (+=); input gradients (dX) and loss
 * gradients are WRITTEN. Outputs must not overlap inputs unless stated. Kernels never
 * allocate and keep no state; scratch is an arena region the caller passes in.
 * Determinism: each output element is computed by the same IEEE operations in the same order on
 * every call (sums run in index order, whatever the SIMD width), so a call repeated on the same
 * inputs gives the same bits. Both builds compile with -ffp-contract=off (no fused multiply-add:
 * measured, it bought no speed here) and share nn_math.h, so the native addon and the wasm
 * module give the same bits too (test/ml/kernels-native.test.ts checks it).
 *
 * dense_fwd   ia = [x, w, b, y, N, I, O]
 *     y[N,O] = x[N,I]·w[I,O] + b[O] (b = -1: no bias). y written.
 * dense_bwd   ia = [x, w, dy, dw, db, dx, N, I, O]
 *     dw[I,O] += xᵀ·dy; db[O] += Σ_n dy[n] (db = -1: none); dx[N,I] = dy·wᵀ WRITTEN (dx = -1: skip).
 *
 * lstm_fwd    ia = [x, kernel, recurrent, bias, hs, cache, B, T, I, H]
 *     x[B,T,I], kernel[I,4H], recurrent[H,4H], bias[4H], gate blocks i,f,c,o; h0 = c0 = 0.
 *     hs[B,T,H] written. cache: lstm_cache_floats(B,T,H) = 6·B·T·H floats, written:
 *     [B,T,4H] gate activations (i, f, g = tanh, o), then [B,T,H] cell states c_t, then [B,T,H] tanh(c_t).
 * lstm_bwd    ia = [x, kernel, recurrent, hs, cache, dhs, dkernel, drecurrent, dbias, dx, scratch, B, T, I, H]
 *     x, hs, cache as given to / written by lstm_fwd; dhs[B,T,H] = dLoss/dh_t for every t
 *     (zeros except t = T-1 for a top layer). dkernel, drecurrent, dbias accumulated;
 *     dx[B,T,I] WRITTEN (dx = -1: skip). scratch: lstm_bwd_scratch_floats(B,T,H) =
 *     4·B·T·H + 4·H·H + 2·B·H floats.
 *
 * gru_fwd     ia = [x, kernel, recurrent, bias, hs, cache, B, T, I, H]
 *     Keras reset_after: kernel[I,3H], recurrent[H,3H], bias[2,3H] (row 0 input, row 1
 *     recurrent), gate blocks z, r, h. hs[B,T,H] written. cache: gru_cache_floats(B,T,H) =
 *     4·B·T·H floats: [B,T,3H] activations (z, r, ĥ), then [B,T,H] hz_h = (h_{t-1}·R + b1)_h.
 * gru_bwd     ia = [x, kernel, recurrent, hs, cache, dhs, dkernel, drecurrent, dbias, dx, scratch, B, T, I, H]
 *     As lstm_bwd; dbias[2,3H] accumulated. scratch: gru_bwd_scratch_floats(B,T,H) =
 *     6·B·T·H + 3·H·H + B·H floats.
 *
 * bce_logits  ia = [z, y, dz, loss, N]      fa = [scale]
 *     loss[0] = Σ_n max(z,0) − z·y + log(1 + e^{−|z|}) (the plain sum, written; summed in
 *     double in n order); dz[n] = scale·(σ(z) − y) WRITTEN (dz = -1: skip). y holds 0/1 as floats.
 * huber       ia = [p, t, dp, loss, N]      fa = [scale, delta]
 *     d = p − t; loss[0] = Σ (|d| ≤ δ ? d²/2 : δ(|d| − δ/2)); dp = scale·clamp(d, −δ, δ) WRITTEN.
 * mse         ia = [p, t, dp, loss, N]      fa = [scale]
 *     loss[0] = Σ d²; dp = scale·2d WRITTEN (dp = -1: skip, for huber too).
 *
 * adam_step   ia = [p, g, m, v, n, t]       fa = [lr, beta1, beta2, eps, weight_decay]
 *     t ≥ 1 is the step count (bias correction). m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 *     p −= lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + eps)  (as TensorFlow.js and PyTorch);
 *     weight_decay ≠ 0 is decoupled (AdamW): p −= lr·wd·p first.
 *
 * zero        ia = [x, n]                   x[0..n) = 0
 * copy        ia = [src, dst, n]            dst = src (regions may not overlap)
 * axpy        ia = [x, y, n]   fa = [a]     y += a·x (in index order: chunk-gradient sums)
 * add         ia = [a, b, out, n]           out = a + b (out may equal a or b)
 * scale       ia = [x, n]      fa = [s]     x *= s
 * last_step_fwd ia = [hs, out, B, T, H]     out[b,:] = hs[b,T-1,:] (written)
 * last_step_bwd ia = [dout, dhs, B, T, H]   dhs[b,T-1,:] += dout[b,:] (other steps untouched)
 * dropout     ia = [x, y, B, T, W, key, site, first, t0]   fa = [p, scale]
 *     Inverted dropout on x[B,T,W]: y = x·m WRITTEN (y may equal x), m = scale (= 1/(1−p), passed
 *     in so every implementation multiplies by the same float) where u ≥ p, else 0, with
 *     u = (h >> 8)·2^-24 and h = chain(chain(chain(chain(key, site), first + b), t0 + t), j),
 *     chain(h, v) = lowbias32(h + v·0x9e3779b9) (dropout.c; src/ml/nn/dropout.ts is the same).
 *     key: the training step's (31 bits); site: which dropout of the model; first: the batch
 *     position of row b = 0, so a chunk of a batch gets that batch's mask; t0: the time index of
 *     t = 0 (T-1 when only the last step is given). The map is linear and diagonal, so the
 *     backward is the same call on dLoss/dy (dx = m·dy).
 * math_probe  ia = [x, y, n, fn]            y = f(x), f = exp, tanh, sigmoid, log, log1p for fn
 *                                           0..4 (nn_math.h, for its accuracy tests)
 */
#ifndef NN_H
#define NN_H
#include <stdint.h>

#define K(name) void nn_##name(float *base, const int32_t *ia, const float *fa);
#include "kernels_core.def"
#undef K

#endif

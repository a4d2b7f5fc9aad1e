// Float64 references of the transformer kernels (native/nn/attn.c, docs/nn-engine.md): plain
// loops in double, written from the contract rather than from the C, so a kernel test compares
// two independent derivations. Gradients are checked against central differences of these
// (finiteDiff in kernel-helpers.ts).

/** A flat float64 tensor. */
export type F64 = Float64Array;

/** LayerNorm over the last axis (biased variance) of x [N, D]. */
export function layerNorm64(x: F64, gamma: F64, beta: F64, N: number, D: number, eps: number): F64 {
  const st = layerNormStats64(x, N, D, eps);
  const y = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const m = st[n], r = st[N + n];
    for (let j = 0; j < D; j++) y[n * D + j] = (x[n * D + j] - m) * r * gamma[j] + beta[j];
  }
  return y;
}

/** The per-row mean and 1/σ that layernorm_fwd caches: [mean[N], rstd[N]]. */
export function layerNormStats64(x: F64, N: number, D: number, eps: number): F64 {
  const out = new Float64Array(2 * N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let j = 0; j < D; j++) m += x[n * D + j];
    m /= D;
    let v = 0;
    for (let j = 0; j < D; j++) v += (x[n * D + j] - m) ** 2;
    out[n] = m;
    out[N + n] = 1 / Math.sqrt(v / D + eps);
  }
  return out;
}

/**
 * Multi-head attention core of q, k, v [B, L, D] with h heads: O [B, L, D] (heads
 * concatenated) and P [B, h, L, L] = softmax(Q_j K_jᵀ / √dh) over all keys.
 */
export function attention64(q: F64, k: F64, v: F64, B: number, L: number, D: number, h: number): { o: F64; p: F64 } {
  const dh = D / h;
  const o = new Float64Array(B * L * D);
  const p = new Float64Array(B * h * L * L);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < h; j++) {
      const at = (t: number, c: number) => (b * L + t) * D + j * dh + c;
      for (let t = 0; t < L; t++) {
        const row = (b * h + j) * L * L + t * L;
        let mx = -Infinity;
        for (let s = 0; s < L; s++) {
          let d = 0;
          for (let c = 0; c < dh; c++) d += q[at(t, c)] * k[at(s, c)];
          p[row + s] = d / Math.sqrt(dh);
          mx = Math.max(mx, p[row + s]);
        }
        let sum = 0;
        for (let s = 0; s < L; s++) sum += (p[row + s] = Math.exp(p[row + s] - mx));
        for (let s = 0; s < L; s++) p[row + s] /= sum;
        for (let c = 0; c < dh; c++) {
          let acc = 0;
          for (let s = 0; s < L; s++) acc += p[row + s] * v[at(s, c)];
          o[at(t, c)] = acc;
        }
      }
    }
  }
  return { o, p };
}

/** max(x, 0) elementwise. */
export function relu64(x: F64): F64 {
  return x.map((a) => (a > 0 ? a : 0));
}

/** x [B, L, D] plus p [L, D] broadcast over the batch. */
export function addPos64(x: F64, p: F64, B: number, L: number, D: number): F64 {
  const y = new Float64Array(B * L * D);
  for (let i = 0; i < y.length; i++) y[i] = x[i] + p[i % (L * D)];
  return y;
}

/** Mean over L of x [B, L, D]: [B, D]. */
export function meanPool64(x: F64, B: number, L: number, D: number): F64 {
  const y = new Float64Array(B * D);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < L; t++) for (let c = 0; c < D; c++) y[b * D + c] += x[(b * L + t) * D + c] / L;
  return y;
}

/** The sinusoidal encoding [L, D] of docs/nn-engine.md, in double. */
export function sinusoid64(L: number, D: number): F64 {
  const pe = new Float64Array(L * D);
  for (let t = 0; t < L; t++)
    for (let c = 0; c < D; c++) {
      const angle = t / Math.pow(10000, (c - (c % 2)) / D);
      pe[t * D + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  return pe;
}

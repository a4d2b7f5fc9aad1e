/**
 * Float64 reference implementations of the core kernels (native/nn/nn.h), written as the
 * plainest loops: the contract tests hold each kernel's float32 output to these, and each
 * analytic backward here to central finite differences of its own forward.
 * Shapes are row-major, as in the kernels; gradients are returned fresh (not accumulated).
 */

type F = Float64Array;
type A = ArrayLike<number>;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** y[N,O] = x[N,I]·w[I,O] + b. */
export function denseFwd(x: A, w: A, b: A | null, N: number, I: number, O: number): F {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i]! * w[i * O + o]!;
      y[n * O + o] = s;
    }
  return y;
}

/** Gradients of Σ dy·y for denseFwd. */
export function denseBwd(x: A, w: A, dy: A, N: number, I: number, O: number): { dx: F; dw: F; db: F } {
  const dx = new Float64Array(N * I), dw = new Float64Array(I * O), db = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = dy[n * O + o]!;
      db[o] += g;
      for (let i = 0; i < I; i++) {
        dw[i * O + o] += x[n * I + i]! * g;
        dx[n * I + i] += g * w[i * O + o]!;
      }
    }
  return { dx, dw, db };
}

/** What the LSTM forward keeps for its backward (per b, t). */
export interface LstmTrace {
  hs: F; // [B,T,H]
  gates: F; // [B,T,4H] activations i, f, g, o
  cs: F; // [B,T,H]
}

/** Keras LSTM (gates i, f, c, o; sigmoid recurrent activation; h0 = c0 = 0) over x[B,T,I]. */
export function lstmFwd(x: A, k: A, r: A, bias: A, B: number, T: number, I: number, H: number): LstmTrace {
  const G = 4 * H;
  const hs = new Float64Array(B * T * H), gates = new Float64Array(B * T * G), cs = new Float64Array(B * T * H);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const z = new Float64Array(G);
      for (let j = 0; j < G; j++) {
        let s = bias[j]!;
        for (let i = 0; i < I; i++) s += x[(b * T + t) * I + i]! * k[i * G + j]!;
        if (t > 0) for (let m = 0; m < H; m++) s += hs[(b * T + t - 1) * H + m]! * r[m * G + j]!;
        z[j] = s;
      }
      for (let j = 0; j < H; j++) {
        const ig = sigmoid(z[j]!), fg = sigmoid(z[H + j]!), gg = Math.tanh(z[2 * H + j]!), og = sigmoid(z[3 * H + j]!);
        const cPrev = t > 0 ? cs[(b * T + t - 1) * H + j]! : 0;
        const c = fg * cPrev + ig * gg;
        const at = (b * T + t) * G;
        gates[at + j] = ig;
        gates[at + H + j] = fg;
        gates[at + 2 * H + j] = gg;
        gates[at + 3 * H + j] = og;
        cs[(b * T + t) * H + j] = c;
        hs[(b * T + t) * H + j] = og * Math.tanh(c);
      }
    }
  return { hs, gates, cs };
}

/** Gradients of Σ dhs·hs for lstmFwd (backpropagation through time). */
export function lstmBwd(x: A, k: A, r: A, tr: LstmTrace, dhs: A, B: number, T: number, I: number, H: number): { dx: F; dk: F; dr: F; db: F } {
  const G = 4 * H;
  const dx = new Float64Array(B * T * I), dk = new Float64Array(I * G), dr = new Float64Array(H * G), db = new Float64Array(G);
  for (let b = 0; b < B; b++) {
    const dhNext = new Float64Array(H), dcNext = new Float64Array(H);
    for (let t = T - 1; t >= 0; t--) {
      const at = (b * T + t) * G;
      const dz = new Float64Array(G);
      for (let j = 0; j < H; j++) {
        const ig = tr.gates[at + j]!, fg = tr.gates[at + H + j]!, gg = tr.gates[at + 2 * H + j]!, og = tr.gates[at + 3 * H + j]!;
        const c = tr.cs[(b * T + t) * H + j]!, tc = Math.tanh(c);
        const cPrev = t > 0 ? tr.cs[(b * T + t - 1) * H + j]! : 0;
        const dh = dhs[(b * T + t) * H + j]! + dhNext[j]!;
        const dc = dcNext[j]! + dh * og * (1 - tc * tc);
        dz[j] = dc * gg * ig * (1 - ig);
        dz[H + j] = dc * cPrev * fg * (1 - fg);
        dz[2 * H + j] = dc * ig * (1 - gg * gg);
        dz[3 * H + j] = dh * tc * og * (1 - og);
        dcNext[j] = dc * fg;
      }
      for (let g = 0; g < G; g++) {
        db[g] += dz[g]!;
        for (let i = 0; i < I; i++) {
          dk[i * G + g] += x[(b * T + t) * I + i]! * dz[g]!;
          dx[(b * T + t) * I + i] += dz[g]! * k[i * G + g]!;
        }
        if (t > 0) for (let m = 0; m < H; m++) dr[m * G + g] += tr.hs[(b * T + t - 1) * H + m]! * dz[g]!;
      }
      for (let m = 0; m < H; m++) {
        let s = 0;
        for (let g = 0; g < G; g++) s += dz[g]! * r[m * G + g]!;
        dhNext[m] = s;
      }
    }
  }
  return { dx, dk, dr, db };
}

/** What the GRU forward keeps for its backward. */
export interface GruTrace {
  hs: F; // [B,T,H]
  act: F; // [B,T,3H] z, r, ĥ
  hzh: F; // [B,T,H] (h_{t-1}·R + b1) of the h block
}

/** Keras GRU, reset_after = true (gates z, r, h; bias [2,3H]) over x[B,T,I]. */
export function gruFwd(x: A, k: A, r: A, bias: A, B: number, T: number, I: number, H: number): GruTrace {
  const G = 3 * H;
  const hs = new Float64Array(B * T * H), act = new Float64Array(B * T * G), hzh = new Float64Array(B * T * H);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const xz = new Float64Array(G), hz = new Float64Array(G);
      for (let j = 0; j < G; j++) {
        let s = bias[j]!;
        for (let i = 0; i < I; i++) s += x[(b * T + t) * I + i]! * k[i * G + j]!;
        xz[j] = s;
        let q = bias[G + j]!;
        if (t > 0) for (let m = 0; m < H; m++) q += hs[(b * T + t - 1) * H + m]! * r[m * G + j]!;
        hz[j] = q;
      }
      for (let j = 0; j < H; j++) {
        const z = sigmoid(xz[j]! + hz[j]!), rr = sigmoid(xz[H + j]! + hz[H + j]!);
        const hh = Math.tanh(xz[2 * H + j]! + rr * hz[2 * H + j]!);
        const hPrev = t > 0 ? hs[(b * T + t - 1) * H + j]! : 0;
        const at = (b * T + t) * G;
        act[at + j] = z;
        act[at + H + j] = rr;
        act[at + 2 * H + j] = hh;
        hzh[(b * T + t) * H + j] = hz[2 * H + j]!;
        hs[(b * T + t) * H + j] = z * hPrev + (1 - z) * hh;
      }
    }
  return { hs, act, hzh };
}

/** Gradients of Σ dhs·hs for gruFwd; db is [2,3H] like the bias. */
export function gruBwd(x: A, k: A, r: A, tr: GruTrace, dhs: A, B: number, T: number, I: number, H: number): { dx: F; dk: F; dr: F; db: F } {
  const G = 3 * H;
  const dx = new Float64Array(B * T * I), dk = new Float64Array(I * G), dr = new Float64Array(H * G), db = new Float64Array(2 * G);
  for (let b = 0; b < B; b++) {
    const dhNext = new Float64Array(H);
    for (let t = T - 1; t >= 0; t--) {
      const at = (b * T + t) * G;
      const dxz = new Float64Array(G), dhz = new Float64Array(G);
      const dhPrev = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        const z = tr.act[at + j]!, rr = tr.act[at + H + j]!, hh = tr.act[at + 2 * H + j]!;
        const hPrev = t > 0 ? tr.hs[(b * T + t - 1) * H + j]! : 0;
        const dh = dhs[(b * T + t) * H + j]! + dhNext[j]!;
        const dah = dh * (1 - z) * (1 - hh * hh);
        const daz = dh * (hPrev - hh) * z * (1 - z);
        const dar = dah * tr.hzh[(b * T + t) * H + j]! * rr * (1 - rr);
        dxz[j] = daz;
        dxz[H + j] = dar;
        dxz[2 * H + j] = dah;
        dhz[j] = daz;
        dhz[H + j] = dar;
        dhz[2 * H + j] = dah * rr;
        dhPrev[j] = dh * z;
      }
      for (let g = 0; g < G; g++) {
        db[g] += dxz[g]!;
        db[G + g] += dhz[g]!;
        for (let i = 0; i < I; i++) {
          dk[i * G + g] += x[(b * T + t) * I + i]! * dxz[g]!;
          dx[(b * T + t) * I + i] += dxz[g]! * k[i * G + g]!;
        }
        if (t > 0) for (let m = 0; m < H; m++) dr[m * G + g] += tr.hs[(b * T + t - 1) * H + m]! * dhz[g]!;
      }
      for (let m = 0; m < H; m++) {
        let s = dhPrev[m]!;
        for (let g = 0; g < G; g++) s += dhz[g]! * r[m * G + g]!;
        dhNext[m] = s;
      }
    }
  }
  return { dx, dk, dr, db };
}

/** Σ of the stable BCE on logits, and its gradient (unscaled). */
export function bce(z: A, y: A): { loss: number; dz: F } {
  let loss = 0;
  const dz = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) {
    const zi = z[i]!, yi = y[i]!;
    loss += Math.max(zi, 0) - zi * yi + Math.log1p(Math.exp(-Math.abs(zi)));
    dz[i] = sigmoid(zi) - yi;
  }
  return { loss, dz };
}

/** Σ Huber_δ(p − t) and its gradient (unscaled). */
export function huber(p: A, t: A, delta: number): { loss: number; dp: F } {
  let loss = 0;
  const dp = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const d = p[i]! - t[i]!;
    loss += Math.abs(d) <= delta ? 0.5 * d * d : delta * (Math.abs(d) - 0.5 * delta);
    dp[i] = Math.max(-delta, Math.min(delta, d));
  }
  return { loss, dp };
}

/** Σ (p − t)² and its gradient (unscaled). */
export function mse(p: A, t: A): { loss: number; dp: F } {
  let loss = 0;
  const dp = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const d = p[i]! - t[i]!;
    loss += d * d;
    dp[i] = 2 * d;
  }
  return { loss, dp };
}

/** One Adam step (PyTorch / TensorFlow.js form, decoupled weight decay), returning new p, m, v. */
export function adam(p: A, g: A, m: A, v: A, t: number, lr: number, b1: number, b2: number, eps: number, wd: number): { p: F; m: F; v: F } {
  const n = p.length;
  const P = new Float64Array(n), M = new Float64Array(n), V = new Float64Array(n);
  const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
  for (let i = 0; i < n; i++) {
    M[i] = b1 * m[i]! + (1 - b1) * g[i]!;
    V[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
    const p0 = p[i]! - lr * wd * p[i]!;
    P[i] = p0 - (lr * (M[i]! / c1)) / (Math.sqrt(V[i]! / c2) + eps);
  }
  return { p: P, m: M, v: V };
}

/** Inverted dropout with given multipliers m (0 or 1/(1 − p)): y = x·m; its gradient is m·dy. */
export function dropout(x: A, m: A): F {
  return Float64Array.from(x, (v, i) => v * m[i]!);
}

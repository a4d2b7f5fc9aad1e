/**
 * A float64 scalar-loop implementation of docs/nn-engine.md, written for the tests straight from
 * the formulas (no tensor library): it pins the TensorFlow.js reference to the documented
 * semantics, and its loss is smooth enough in float64 for central finite differences.
 */
import { paramLayout, sinusoidalPositions, type ModelConfig, type TransformerConfig } from "../../src/ml/nn/config.js";
import { dropoutMultipliers, dropoutRate, type DropoutMask } from "../../src/ml/nn/dropout.js";

/** Training mode's dropout multiplier of (site, time index t, unit j) for one sample, or null in evaluation mode. */
type Mult = ((site: number, t: number, j: number) => number) | null;

/** The multipliers of sample s (batch position mask.first + s) of a batch of n, [L, W] per site. */
function sampleMult(c: ModelConfig, mask: DropoutMask | undefined, s: number): Mult {
  const p = dropoutRate(c);
  if (!mask || p === 0) return null;
  const W = c.kind === "transformer" ? c.d_model : c.units;
  const L = c.seq_len;
  const cache = new Map<number, Float32Array>();
  return (site, t, j) => {
    let m = cache.get(site);
    if (!m) cache.set(site, (m = dropoutMultipliers(p, { key: mask.key, first: mask.first + s }, site, { B: 1, T: L, W })));
    return m[t * W + j]!;
  };
}

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** The named parameters of a flat vector, as float64 arrays. */
export function namedParams(c: ModelConfig, flat: ArrayLike<number>): Map<string, Float64Array> {
  const layout = paramLayout(c);
  const f = Float64Array.from(flat);
  return new Map(layout.specs.map((s) => [s.name, f.subarray(layout.offsets.get(s.name)!, layout.offsets.get(s.name)! + s.shape.reduce((a, b) => a * b, 1))]));
}

/** y [m, n] = x [m, k] · w [k, n] (+ b [n]). */
function mm(x: Float64Array, m: number, k: number, w: Float64Array, n: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = b ? b[j]! : 0;
      for (let q = 0; q < k; q++) s += x[i * k + q]! * w[q * n + j]!;
      y[i * n + j] = s;
    }
  }
  return y;
}

function layerNorm(x: Float64Array, L: number, D: number, g: Float64Array, b: Float64Array): Float64Array {
  const y = new Float64Array(L * D);
  for (let t = 0; t < L; t++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[t * D + d]!;
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[t * D + d]! - mean) ** 2;
    v /= D;
    for (let d = 0; d < D; d++) y[t * D + d] = ((x[t * D + d]! - mean) / Math.sqrt(v + 1e-5)) * g[d]! + b[d]!;
  }
  return y;
}

function recurrent(c: ModelConfig & { kind: "lstm" | "gru" }, p: Map<string, Float64Array>, x: Float64Array, mult: Mult): Float64Array {
  const L = c.seq_len;
  const H = c.units;
  let seq = x;
  let I = c.n_features;
  for (let l = 0; l < c.layers; l++) {
    const k = p.get(`${c.kind}${l}.kernel`)!;
    const rk = p.get(`${c.kind}${l}.recurrent_kernel`)!;
    const bias = p.get(`${c.kind}${l}.bias`)!;
    const out = new Float64Array(L * H);
    let h = new Float64Array(H);
    const cell = new Float64Array(H);
    for (let t = 0; t < L; t++) {
      const xt = seq.subarray(t * I, (t + 1) * I);
      const nh = new Float64Array(H);
      if (c.kind === "lstm") {
        const z = mm(xt, 1, I, k, 4 * H, bias);
        const r = mm(h, 1, H, rk, 4 * H);
        for (let j = 0; j < H; j++) {
          const ig = sig(z[j]! + r[j]!);
          const fg = sig(z[H + j]! + r[H + j]!);
          const gg = Math.tanh(z[2 * H + j]! + r[2 * H + j]!);
          const og = sig(z[3 * H + j]! + r[3 * H + j]!);
          cell[j] = fg * cell[j]! + ig * gg;
          nh[j] = og * Math.tanh(cell[j]!);
        }
      } else {
        const xz = mm(xt, 1, I, k, 3 * H, bias.subarray(0, 3 * H));
        const hz = mm(h, 1, H, rk, 3 * H, bias.subarray(3 * H));
        for (let j = 0; j < H; j++) {
          const z = sig(xz[j]! + hz[j]!);
          const r = sig(xz[H + j]! + hz[H + j]!);
          const hh = Math.tanh(xz[2 * H + j]! + r * hz[2 * H + j]!);
          nh[j] = z * h[j]! + (1 - z) * hh;
        }
      }
      h = nh;
      out.set(h, t * H);
    }
    // Dropout on the layer's output (every step; the heads read the top layer's last).
    if (mult) for (let t = 0; t < L; t++) for (let j = 0; j < H; j++) out[t * H + j]! *= mult(l, t, j);
    seq = out;
    I = H;
  }
  return seq.subarray((L - 1) * H);
}

function transformer(c: TransformerConfig, p: Map<string, Float64Array>, X: Float64Array, mult: Mult): Float64Array {
  const L = c.seq_len;
  const D = c.d_model;
  const dh = D / c.heads;
  let x = mm(X, L, c.n_features, p.get("proj.kernel")!, D, p.get("proj.bias")!);
  const pos = c.pos === "learned" ? p.get("pos.embedding")! : Float64Array.from(sinusoidalPositions(L, D));
  for (let i = 0; i < L * D; i++) x[i]! += pos[i]!;
  for (let l = 0; l < c.layers; l++) {
    const n = `enc${l}`;
    const g = (s: string) => p.get(`${n}.${s}`)!;
    const a = layerNorm(x, L, D, g("ln1.gamma"), g("ln1.beta"));
    const q = mm(a, L, D, g("attn.wq"), D, g("attn.bq"));
    const k = mm(a, L, D, g("attn.wk"), D, g("attn.bk"));
    const v = mm(a, L, D, g("attn.wv"), D, g("attn.bv"));
    const ctx = new Float64Array(L * D);
    for (let h = 0; h < c.heads; h++) {
      for (let i = 0; i < L; i++) {
        const s = new Float64Array(L);
        let mx = -Infinity;
        for (let j = 0; j < L; j++) {
          let d = 0;
          for (let e = 0; e < dh; e++) d += q[i * D + h * dh + e]! * k[j * D + h * dh + e]!;
          s[j] = d / Math.sqrt(dh);
          mx = Math.max(mx, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) sum += (s[j] = Math.exp(s[j]! - mx));
        for (let e = 0; e < dh; e++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += (s[j]! / sum) * v[j * D + h * dh + e]!;
          ctx[i * D + h * dh + e] = acc;
        }
      }
    }
    const att = mm(ctx, L, D, g("attn.wo"), D, g("attn.bo"));
    for (let i = 0; i < L * D; i++) x[i]! += att[i]! * (mult ? mult(2 * l, Math.floor(i / D), i % D) : 1);
    const b = layerNorm(x, L, D, g("ln2.gamma"), g("ln2.beta"));
    const hid = mm(b, L, D, g("ff1.kernel"), c.ff, g("ff1.bias")).map((u) => Math.max(u, 0));
    const ff = mm(hid, L, c.ff, g("ff2.kernel"), D, g("ff2.bias"));
    for (let i = 0; i < L * D; i++) x[i]! += ff[i]! * (mult ? mult(2 * l + 1, Math.floor(i / D), i % D) : 1);
  }
  x = layerNorm(x, L, D, p.get("final_ln.gamma")!, p.get("final_ln.beta")!);
  if (c.pool === "last") return x.subarray((L - 1) * D);
  const m = new Float64Array(D);
  for (let t = 0; t < L; t++) for (let d = 0; d < D; d++) m[d]! += x[t * D + d]! / L;
  return m;
}

/** Float64 forward pass over n samples of X [n, L, F]: logits and magnitudes (training mode's dropout with `mask`). */
export function forward64(c: ModelConfig, flat: ArrayLike<number>, X: ArrayLike<number>, n: number, mask?: DropoutMask): { sign: Float64Array; mag: Float64Array } {
  const p = namedParams(c, flat);
  const per = c.seq_len * c.n_features;
  const sign = new Float64Array(n);
  const mag = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const x = Float64Array.from(Array.prototype.slice.call(X, s * per, (s + 1) * per) as number[]);
    const mult = sampleMult(c, mask, s);
    const rep = c.kind === "transformer" ? transformer(c, p, x, mult) : recurrent(c, p, x, mult);
    const W = rep.length;
    sign[s] = mm(rep, 1, W, p.get("head_sign.kernel")!, 1, p.get("head_sign.bias")!)[0]!;
    if (c.magnitude) mag[s] = mm(rep, 1, W, p.get("head_mag.kernel")!, 1, p.get("head_mag.bias")!)[0]!;
  }
  return { sign, mag };
}

/** Float64 training loss (BCE on the logit + weight × Huber/MSE on the magnitude). */
export function loss64(c: ModelConfig, flat: ArrayLike<number>, X: ArrayLike<number>, ySign: ArrayLike<number>, yMag: ArrayLike<number> | null, kind: "huber" | "mse" = "huber", weight = 0.5, mask?: DropoutMask): number {
  const n = ySign.length;
  const { sign, mag } = forward64(c, flat, X, n, mask);
  let bce = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const z = sign[i]!;
    bce += Math.max(z, 0) - z * ySign[i]! + Math.log1p(Math.exp(-Math.abs(z)));
    if (c.magnitude) {
      const d = mag[i]! - yMag![i]!;
      m += kind === "mse" ? d * d : Math.abs(d) <= 1 ? 0.5 * d * d : Math.abs(d) - 0.5;
    }
  }
  return bce / n + (c.magnitude ? (weight * m) / n : 0);
}

/**
 * Power spectrum of a 512-sample real signal for the spectral low-frequency share (spec
 * section 5). A naive DFT costs 512*256 complex multiply-adds per window; this packs the real
 * signal into a 256-point complex FFT (radix-2, iterative, precomputed twiddles) and splits
 * the result, about 40x less work. Buffers are reused: one Spectrum512 per replay.
 */

const N = 512;
const M = N / 2; // complex FFT size
const LOG2M = 8;

/** Reusable 512-point real power spectrum. */
export class Spectrum512 {
  private readonly re = new Float64Array(M);
  private readonly im = new Float64Array(M);
  private readonly rev = new Uint16Array(M);
  private readonly cosM = new Float64Array(M / 2);
  private readonly sinM = new Float64Array(M / 2);
  private readonly cosN = new Float64Array(M + 1);
  private readonly sinN = new Float64Array(M + 1);
  /** |X_k|^2 for k = 0..256 after `compute`. */
  readonly power = new Float64Array(M + 1);

  constructor() {
    for (let i = 0; i < M; i++) {
      let r = 0;
      for (let b = 0; b < LOG2M; b++) if (i & (1 << b)) r |= 1 << (LOG2M - 1 - b);
      this.rev[i] = r;
    }
    for (let k = 0; k < M / 2; k++) {
      this.cosM[k] = Math.cos((2 * Math.PI * k) / M);
      this.sinM[k] = Math.sin((2 * Math.PI * k) / M);
    }
    for (let k = 0; k <= M; k++) {
      this.cosN[k] = Math.cos((2 * Math.PI * k) / N);
      this.sinN[k] = Math.sin((2 * Math.PI * k) / N);
    }
  }

  /** Fills `power` with |sum_t x_t e^{-2 pi i k t/512}|^2 for k = 0..256. */
  compute(x: ArrayLike<number>): Float64Array {
    const { re, im, rev, cosM, sinM, cosN, sinN, power } = this;
    for (let m = 0; m < M; m++) {
      const r = rev[m]!;
      re[r] = x[2 * m]!;
      im[r] = x[2 * m + 1]!;
    }
    for (let size = 2; size <= M; size <<= 1) {
      const half = size >> 1;
      const step = M / size;
      for (let start = 0; start < M; start += size) {
        for (let j = 0; j < half; j++) {
          const wr = cosM[j * step]!;
          const wi = -sinM[j * step]!;
          const a = start + j;
          const b = a + half;
          const br = re[b]!;
          const bi = im[b]!;
          const tr = wr * br - wi * bi;
          const ti = wr * bi + wi * br;
          re[b] = re[a]! - tr;
          im[b] = im[a]! - ti;
          re[a] = re[a]! + tr;
          im[a] = im[a]! + ti;
        }
      }
    }
    // Split Z (FFT of even + i*odd samples) into X_k = E_k + W^k O_k.
    for (let k = 0; k <= M; k++) {
      const kk = k === M ? 0 : k;
      const j = (M - k) % M;
      const zr = re[kk]!;
      const zi = im[kk]!;
      const cr = re[j]!;
      const ci = im[j]!;
      const er = (zr + cr) / 2;
      const ei = (zi - ci) / 2;
      const or = (zi + ci) / 2;
      const oi = -(zr - cr) / 2;
      const c = cosN[k]!;
      const s = sinN[k]!;
      const xr = er + c * or + s * oi;
      const xi = ei + c * oi - s * or;
      power[k] = xr * xr + xi * xi;
    }
    return power;
  }
}

/** Reference O(n^2) DFT power (tests only): |X_k|^2 for k = 0..n/2. */
export function naivePower(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const a = (-2 * Math.PI * k * t) / n;
      sr += x[t]! * Math.cos(a);
      si += x[t]! * Math.sin(a);
    }
    out[k] = sr * sr + si * si;
  }
  return out;
}

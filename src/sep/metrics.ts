/**
 * Structure metrics of a 512-bit window (spec section 5). Everything is computed from
 * unrounded intermediates; only the published values are rounded half-even to 6 decimals
 * (Python's round), and the signature is formatted from those published values.
 */
import { Spectrum512 } from "./fft.js";
import { formatFixed, roundHalfEven } from "./round.js";
import type { StructureMetrics } from "./types.js";

const N = 512;

/** Unrounded intermediates of one window. */
export interface RawMetrics {
  p1: number;
  entropy: number;
  coherence: number;
  rupture: number;
  tau1: number;
  tau4: number;
  tauSlope: number;
  domainWallSlope: number;
  spectralLowfShare: number;
  reynolds: number;
  halfLife: number;
  corrLength: number;
}

/** Binary entropy in bits (0 at p = 0 or 1). */
export function binaryEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/** Expands `count` bytes from `start` into bits, most significant bit first. */
export function unpackBits(bytes: Uint8Array, start: number, count: number, out: Uint8Array): Uint8Array {
  for (let i = 0; i < count; i++) {
    const b = bytes[start + i]!;
    const o = i * 8;
    out[o] = (b >> 7) & 1;
    out[o + 1] = (b >> 6) & 1;
    out[o + 2] = (b >> 5) & 1;
    out[o + 3] = (b >> 4) & 1;
    out[o + 4] = (b >> 3) & 1;
    out[o + 5] = (b >> 2) & 1;
    out[o + 6] = (b >> 1) & 1;
    out[o + 7] = b & 1;
  }
  return out;
}

/** Computes section-5 metrics of windows; holds reusable buffers (not thread-safe, one per replay). */
export class MetricsEngine {
  private readonly bits = new Uint8Array(N);
  private readonly x = new Float64Array(N);
  private readonly spectrum = new Spectrum512();

  /** Raw metrics of the 512 bits of 64 bytes starting at `start`. */
  raw(bytes: Uint8Array, start: number): RawMetrics {
    return this.rawBits(unpackBits(bytes, start, N / 8, this.bits));
  }

  /** Raw metrics of a 512-element 0/1 array. */
  rawBits(b: Uint8Array): RawMetrics {
    let ones = 0;
    let t1 = 0; // transitions with both bits in the first half (i = 1..255)
    let t2 = 0; // ... in the second half (i = 257..511)
    let tb = 0; // the boundary pair 255/256
    let same4 = 0;
    ones = b[0]!;
    for (let i = 1; i < N; i++) {
      const bi = b[i]!;
      ones += bi;
      if (bi !== b[i - 1]!) {
        if (i < 256) t1++;
        else if (i === 256) tb++;
        else t2++;
      }
      if (i >= 4 && bi === b[i - 4]!) same4++;
    }
    const T = t1 + t2 + tb;
    const p1 = ones / N;
    const H = binaryEntropy(p1);
    const rupture = T / (N - 1);
    const tau1 = (N - 1 - T) / (N - 1);
    const tau4 = same4 / (N - 4);
    const tauSlope = (tau4 - tau1) / 3;
    const domainWallSlope = t2 / 255 - t1 / 255;

    const x = this.x;
    for (let i = 0; i < N; i++) x[i] = b[i]! - p1;
    const P = this.spectrum.compute(x);
    let low = 0;
    let total = 0;
    for (let k = 1; k <= 256; k++) {
      total += P[k]!;
      if (k <= 64) low += P[k]!;
    }
    let share = total < 1e-12 ? 0 : low / total;
    share = Math.min(1, Math.max(0, share));

    const absDws = Math.abs(domainWallSlope);
    const absTs = Math.abs(tauSlope);
    return {
      p1,
      entropy: H,
      coherence: 1 - Math.min(H, 1),
      rupture,
      tau1,
      tau4,
      tauSlope,
      domainWallSlope,
      spectralLowfShare: share,
      reynolds: domainWallSlope === 0 ? 0 : rupture / Math.max(1e-6, absDws),
      halfLife: tauSlope === 0 ? 0 : Math.LN2 / Math.max(1e-6, absTs),
      corrLength: domainWallSlope === 0 ? 0 : 1 / Math.max(1e-6, absDws),
    };
  }
}

/** Signature from published (6-decimal) coherence, stability, entropy. */
export function signatureOf(coherence: number, stability: number, entropy: number): string {
  return `c${formatFixed(coherence, 3)}_s${formatFixed(stability, 3)}_e${formatFixed(entropy, 3)}`;
}

/** Published metrics: each rounded half-even to 6 decimals, plus the signature. */
export function publish(m: RawMetrics): StructureMetrics {
  const r = (x: number): number => roundHalfEven(x, 6);
  const coherence = r(m.coherence);
  const stability = r(1 - m.rupture);
  const entropy = r(m.entropy);
  const hazard = r(m.rupture);
  return {
    coherence,
    stability,
    entropy,
    hazard,
    rupture: hazard,
    coherence_tau_1: r(m.tau1),
    coherence_tau_4: r(m.tau4),
    coherence_tau_slope: r(m.tauSlope),
    domain_wall_ratio: hazard,
    domain_wall_slope: r(m.domainWallSlope),
    spectral_lowf_share: r(m.spectralLowfShare),
    reynolds_ratio: r(m.reynolds),
    temporal_half_life: r(m.halfLife),
    spatial_corr_length: r(m.corrLength),
    pinned_alignment: 1,
    signature: signatureOf(coherence, stability, entropy),
  };
}

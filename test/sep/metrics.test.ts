/**
 * Structure metrics on tiny hand cases, the FFT against a naive DFT, and invariants over
 * thousands of random windows.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MetricsEngine, publish, signatureOf, binaryEntropy } from "../../src/sep/metrics.js";
import { Spectrum512, naivePower } from "../../src/sep/fft.js";
import { formatFixed } from "../../src/sep/round.js";
import { rng } from "./helpers.js";

const eng = new MetricsEngine();
const bitsOf = (f: (i: number) => number): Uint8Array => Uint8Array.from({ length: 512 }, (_, i) => f(i));

test("all zeros: no entropy, full coherence, no transitions, empty spectrum", () => {
  const m = eng.rawBits(bitsOf(() => 0));
  const p = publish(m);
  assert.is(p.entropy, 0);
  assert.is(p.coherence, 1);
  assert.is(p.hazard, 0);
  assert.is(p.stability, 1);
  assert.is(p.coherence_tau_1, 1);
  assert.is(p.coherence_tau_4, 1);
  assert.is(p.coherence_tau_slope, 0);
  assert.is(p.spectral_lowf_share, 0); // total power < 1e-12
  assert.is(p.reynolds_ratio, 0);
  assert.is(p.temporal_half_life, 0);
  assert.is(p.spatial_corr_length, 0);
  assert.is(p.pinned_alignment, 1);
  assert.is(p.signature, "c1.000_s1.000_e0.000");
});

test("alternating bits: every pair is a transition, tau4 = 1, all power at Nyquist", () => {
  const p = publish(eng.rawBits(bitsOf((i) => i & 1)));
  assert.is(p.hazard, 1);
  assert.is(p.rupture, 1);
  assert.is(p.domain_wall_ratio, 1);
  assert.is(p.stability, 0);
  assert.is(p.coherence_tau_1, 0);
  assert.is(p.coherence_tau_4, 1);
  assert.is(p.coherence_tau_slope, 0.333333);
  assert.is(p.temporal_half_life, 2.079442); // ln 2 / (1/3), from the unrounded slope
  assert.is(p.domain_wall_slope, 0); // 255 transitions in each half
  assert.is(p.reynolds_ratio, 0);
  assert.is(p.entropy, 1);
  assert.is(p.coherence, 0);
  assert.is(p.spectral_lowf_share, 0);
});

test("half ones then half zeros: the boundary pair belongs to neither half", () => {
  const m = eng.rawBits(bitsOf((i) => (i < 256 ? 1 : 0)));
  assert.is(m.rupture, 1 / 511);
  assert.is(m.domainWallSlope, 0);
  assert.is(m.corrLength, 0);
  // Square wave: power at odd harmonics only; compare with an independent DFT.
  const x = Float64Array.from({ length: 512 }, (_, i) => (i < 256 ? 0.5 : -0.5));
  const P = naivePower(x);
  let low = 0;
  let tot = 0;
  for (let k = 1; k <= 256; k++) {
    tot += P[k]!;
    if (k <= 64) low += P[k]!;
  }
  assert.ok(Math.abs(m.spectralLowfShare - low / tot) < 1e-12);
  assert.ok(m.spectralLowfShare > 0.9);
});

test("domain wall slope: transitions only in the second half give +T2/255", () => {
  // Bits 300..309 alternate (10 transitions inside the second half, 1 more into 310's 0).
  const m = eng.rawBits(bitsOf((i) => (i >= 300 && i < 310 ? (i & 1) : 0)));
  const T2 = 10; // 300 is 0 = 299, so transitions at 301..309 (9) and back to 0 at 310 (bit 309 = 1)
  assert.is(m.domainWallSlope, T2 / 255);
  assert.is(m.rupture, T2 / 511);
  assert.is(publish(m).spatial_corr_length, 25.5);
  assert.is(publish(m).reynolds_ratio, Math.round(((10 / 511) / (10 / 255)) * 1e6) / 1e6);
});

test("one bit set: entropy of p = 1/512 and its signature", () => {
  const m = eng.rawBits(bitsOf((i) => (i === 100 ? 1 : 0)));
  const p = 1 / 512;
  assert.is(m.entropy, binaryEntropy(p));
  assert.ok(Math.abs(m.entropy - -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p))) < 1e-15);
  const pub = publish(m);
  assert.is(pub.signature, signatureOf(pub.coherence, pub.stability, pub.entropy));
  assert.is(pub.hazard, Math.round((2 / 511) * 1e6) / 1e6);
});

test("FFT power equals a naive DFT on random signals", () => {
  const r = rng(11);
  const s = new Spectrum512();
  for (let trial = 0; trial < 20; trial++) {
    const x = Float64Array.from({ length: 512 }, () => (r() < 0.5 ? 1 : 0) - 0.5);
    const a = s.compute(x);
    const b = naivePower(x);
    for (let k = 0; k <= 256; k++) assert.ok(Math.abs(a[k]! - b[k]!) < 1e-8 * Math.max(1, b[k]!), `k=${k}: ${a[k]} vs ${b[k]}`);
  }
});

test("invariants over 5000 random windows", () => {
  const r = rng(3);
  const bytes = new Uint8Array(64);
  for (let w = 0; w < 5000; w++) {
    // Mix densities so low- and high-entropy windows both appear.
    const density = r();
    for (let i = 0; i < 64; i++) {
      let b = 0;
      for (let j = 0; j < 8; j++) b = (b << 1) | (r() < density ? 1 : 0);
      bytes[i] = b;
    }
    const p = publish(eng.raw(bytes, 0));
    const k = p.hazard * 511;
    assert.ok(Math.abs(k - Math.round(k)) <= 511 * 5e-7 + 1e-9, `hazard*511 = ${k}`);
    assert.ok(Math.abs(p.coherence + p.entropy - 1) <= 1.000001e-6, `coherence+entropy = ${p.coherence + p.entropy}`);
    assert.ok(Math.abs(p.stability + p.hazard - 1) <= 1.000001e-6, `stability+hazard = ${p.stability + p.hazard}`);
    assert.is(p.rupture, p.hazard);
    assert.is(p.domain_wall_ratio, p.hazard);
    assert.is(p.coherence_tau_1, p.stability);
    assert.ok(p.spectral_lowf_share >= 0 && p.spectral_lowf_share <= 1);
    assert.is(p.signature, `c${formatFixed(p.coherence, 3)}_s${formatFixed(p.stability, 3)}_e${formatFixed(p.entropy, 3)}`);
    for (const v of Object.values(p)) if (typeof v === "number") assert.is(Number(v.toFixed(6)), v);
  }
});

test.run();

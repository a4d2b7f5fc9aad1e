/**
 * The contract of the core kernels (native/nn/nn.h), parametrised by backend: run by
 * kernels-native.test.ts and kernels-wasm.test.ts. For every kernel:
 * - the forward equals the float64 reference (test/ml/reference64.ts) to float32 rounding;
 * - every gradient equals the reference's analytic gradient (tight), which itself equals
 *   central finite differences of the reference forward (so the reference is checked too),
 *   and finite differences of the kernel's own forward (loose: float32);
 * - accumulate / write / skip (-1) semantics as documented;
 * - the same call twice gives the same bits; and (defineAgreement) the native and wasm builds
 *   give the same bits.
 */
import { readFileSync } from "node:fs";
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import { gruBwdScratchFloats, gruCacheFloats, lstmBwdScratchFloats, lstmCacheFloats, type Arena, type KernelBackend } from "../../src/ml/nn/kernels.js";
import { dropoutKey, dropoutMultipliers, dropoutScale } from "../../src/ml/nn/dropout.js";
import * as ref from "./reference64.js";
import { assertClose, bits, dot, finiteDiff, get, pick, put, randomSource, room, sampleIndexes } from "./kernel-helpers.js";

/** Float32 forward vs float64 reference. */
export const TOL_FWD = 2e-5;
/** Kernel gradient vs the float64 analytic gradient. */
export const TOL_GRAD = 2e-5;
/** Float64 analytic gradient vs float64 finite differences. */
export const TOL_FD64 = 1e-6;
/** Kernel gradient vs finite differences of the kernel's own float32 forward. */
export const TOL_FD32 = 3e-3;

/** Defines the contract cases on `suite`; with `make` null every case is a skip (backend absent). */
export function defineKernelContract(suite: Test, label: string, make: (() => KernelBackend) | null): void {
  let backend: KernelBackend | undefined;
  const kb = () => (backend ??= make!());
  const add = (name: string, fn: (k: KernelBackend) => void) => {
    if (make) suite(`${label}: ${name}`, () => fn(kb()));
    else suite.skip(`${label}: ${name}`);
  };
  for (const c of CASES) add(c.name, c.run);
}

interface Case {
  name: string;
  run(k: KernelBackend): void;
}

const CASES: Case[] = [];
const kase = (name: string, run: (k: KernelBackend) => void) => CASES.push({ name, run });

/** Fresh arena big enough for a test. */
const arenaOf = (k: KernelBackend, n = 1 << 20): Arena => k.arena(n);

// ------------------------------------------------------------------ dense

/** Shapes around the GEMM's blocking: odd sizes, vector tails, more than one K block. */
const DENSE_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 19],
  [9, 33, 70],
  [5, 300, 17],
  [13, 16, 256],
];

kase("dense_fwd equals the float64 reference (with and without bias)", (k) => {
  const rnd = randomSource(11);
  for (const [N, I, O] of DENSE_SHAPES) {
    const a = arenaOf(k);
    const x = rnd(N * I), w = rnd(I * O), b = rnd(O);
    const ox = put(a, x), ow = put(a, w), ob = put(a, b), oy = room(a, N * O), oy2 = room(a, N * O);
    a.k.denseFwd(ox, ow, ob, oy, N, I, O);
    a.k.denseFwd(ox, ow, -1, oy2, N, I, O);
    assertClose(get(a, oy, N * O), ref.denseFwd(x, w, b, N, I, O), TOL_FWD, `dense_fwd ${N}x${I}x${O}`);
    assertClose(get(a, oy2, N * O), ref.denseFwd(x, w, null, N, I, O), TOL_FWD, `dense_fwd no bias ${N}x${I}x${O}`);
  }
});

kase("dense_bwd: dw, db accumulate, dx is written, gradients match the reference and finite differences", (k) => {
  const rnd = randomSource(12);
  for (const [N, I, O] of DENSE_SHAPES) {
    const a = arenaOf(k);
    const x = rnd(N * I), w = rnd(I * O), b = rnd(O), dy = rnd(N * O);
    const dw0 = rnd(I * O), db0 = rnd(O);
    const ox = put(a, x), ow = put(a, w), ody = put(a, dy), odw = put(a, dw0), odb = put(a, db0), odx = room(a, N * I);
    a.k.denseBwd(ox, ow, ody, odw, odb, odx, N, I, O);
    const g = ref.denseBwd(x, w, dy, N, I, O);
    const what = `dense_bwd ${N}x${I}x${O}`;
    assertClose(get(a, odw, I * O), g.dw.map((v, i) => v + dw0[i]!), TOL_GRAD, `${what} dw (accumulated)`);
    assertClose(get(a, odb, O), g.db.map((v, i) => v + db0[i]!), TOL_GRAD, `${what} db (accumulated)`);
    assertClose(get(a, odx, N * I), g.dx, TOL_GRAD, `${what} dx (written)`);
    // The reference's gradient is the derivative of Σ dy·y (checked on a sample of elements).
    const lossX = (xx: Float64Array) => dot(dy, ref.denseFwd(xx, w, b, N, I, O));
    const lossW = (ww: Float64Array) => dot(dy, ref.denseFwd(x, ww, b, N, I, O));
    const lossB = (bb: Float64Array) => dot(dy, ref.denseFwd(x, w, bb, N, I, O));
    const ix = sampleIndexes(N * I, 12), iw = sampleIndexes(I * O, 12), ib = sampleIndexes(O, 6);
    assertClose(pick(g.dx, ix), finiteDiff(lossX, Float64Array.from(x), 1e-5, ix), TOL_FD64, `${what} reference dx vs fd`);
    assertClose(pick(g.dw, iw), finiteDiff(lossW, Float64Array.from(w), 1e-5, iw), TOL_FD64, `${what} reference dw vs fd`);
    assertClose(pick(g.db, ib), finiteDiff(lossB, Float64Array.from(b), 1e-5, ib), TOL_FD64, `${what} reference db vs fd`);
    // And of the kernel's own forward, in float32.
    const oy = room(a, N * O), ob = put(a, b);
    const kernelLoss = (at: number) => (v: Float64Array) => {
      a.f32.set(v, at);
      a.k.denseFwd(ox, ow, ob, oy, N, I, O);
      return dot(dy, get(a, oy, N * O));
    };
    assertClose(pick(get(a, odx, N * I), ix), finiteDiff(kernelLoss(ox), Float64Array.from(x), 1e-2, ix), TOL_FD32, `${what} dx vs fd of the kernel`);
    a.f32.set(x, ox);
    assertClose(pick(g.dw, iw), finiteDiff(kernelLoss(ow), Float64Array.from(w), 1e-2, iw), TOL_FD32, `${what} dw vs fd of the kernel`);
  }
});

kase("dense_bwd with db and dx absent (-1) touches neither", (k) => {
  const rnd = randomSource(13);
  const [N, I, O] = [6, 10, 20];
  const a = arenaOf(k);
  const x = rnd(N * I), w = rnd(I * O), dy = rnd(N * O);
  const ox = put(a, x), ow = put(a, w), ody = put(a, dy), odw = room(a, I * O, 0);
  const sentinel = room(a, 64, 7); // right after dw: must stay 7
  a.k.denseBwd(ox, ow, ody, odw, -1, -1, N, I, O);
  assertClose(get(a, odw, I * O), ref.denseBwd(x, w, dy, N, I, O).dw, TOL_GRAD, "dw");
  assert.ok(get(a, sentinel, 64).every((v) => v === 7), "nothing written past dw");
});

// ------------------------------------------------------------------ helpers

kase("zero, copy, axpy, add, scale", (k) => {
  const rnd = randomSource(14);
  const n = 37;
  const a = arenaOf(k);
  const x = rnd(n), y = rnd(n);
  const ox = put(a, x), oy = put(a, y), oz = room(a, n), ow = room(a, n);
  a.k.copy(ox, oz, n);
  assert.equal(Array.from(get(a, oz, n)), Array.from(x), "copy");
  a.k.axpy(ox, oy, n, 0.5);
  assertClose(get(a, oy, n), y.map((v, i) => Math.fround(v + Math.fround(0.5 * x[i]!))), 1e-7, "axpy");
  a.k.add(ox, oz, ow, n);
  assertClose(get(a, ow, n), x.map((v) => 2 * v), 0, "add");
  a.k.add(ow, ox, ow, n);
  assertClose(get(a, ow, n), x.map((v) => 3 * v), 1e-7, "add in place");
  a.k.scale(ow, n, 2);
  assertClose(get(a, ow, n), x.map((v) => 6 * v), 1e-7, "scale");
  a.k.zero(ow, n);
  assert.ok(get(a, ow, n).every((v) => v === 0), "zero");
});

kase("last_step_fwd takes t = T-1; last_step_bwd adds into that step only", (k) => {
  const rnd = randomSource(15);
  const [B, T, H] = [3, 5, 7];
  const a = arenaOf(k);
  const hs = rnd(B * T * H), dout = rnd(B * H), dhs0 = rnd(B * T * H);
  const ohs = put(a, hs), oout = room(a, B * H), odout = put(a, dout), odhs = put(a, dhs0);
  a.k.lastStepFwd(ohs, oout, B, T, H);
  a.k.lastStepBwd(odout, odhs, B, T, H);
  const out = get(a, oout, B * H), dhs = get(a, odhs, B * T * H);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let j = 0; j < H; j++) {
        const i = (b * T + t) * H + j;
        if (t === T - 1) {
          assert.is(out[b * H + j], hs[i]);
          assert.is(dhs[i], Math.fround(dhs0[i]! + dout[b * H + j]!));
        } else assert.is(dhs[i], dhs0[i]);
      }
});

// ------------------------------------------------------------------ dropout

/** Runs the dropout kernel on x [B,T,W] out of place; returns y (as float64). */
function runDropout(k: KernelBackend, x: ArrayLike<number>, B: number, T: number, W: number, key: number, site: number, first: number, t0: number, p: number): Float64Array {
  const a = arenaOf(k);
  const ox = put(a, x), oy = room(a, B * T * W);
  a.k.dropout(ox, oy, B, T, W, key, site, first, t0, p, dropoutScale(Math.fround(p)));
  return get(a, oy, B * T * W);
}

kase("dropout: y = x·m with src/ml/nn/dropout.ts's multipliers (in place too); the backward is the same call; the float64 reference and finite differences agree", (k) => {
  const rnd = randomSource(17);
  const [B, T, W] = [5, 7, 19];
  const key = dropoutKey(3, 2, 9);
  for (const p of [0.1, 0.5, 0.9]) {
    const x = rnd(B * T * W), dy = rnd(B * T * W);
    const m = dropoutMultipliers(p, { key, first: 4 }, 2, { B, T, W, t0: 0 });
    const y = runDropout(k, x, B, T, W, key, 2, 4, 0, p);
    // Exactly x·m in float32 (one multiplication per element).
    assert.equal(Array.from(y), Array.from(x, (v, i) => Math.fround(v * m[i]!)), `p ${p}: y = x·m`);
    assertClose(y, ref.dropout(x, m), TOL_FWD, `p ${p}: float64 reference`);
    assert.ok(m.every((v) => v === 0 || v === Math.fround(1 / (1 - Math.fround(p)))), "multipliers are 0 or 1/(1-p)");
    // In place, and the backward (dx = m·dy) is the same call on the gradient.
    const a = arenaOf(k);
    const od = put(a, dy);
    a.k.dropout(od, od, B, T, W, key, 2, 4, 0, p, dropoutScale(Math.fround(p)));
    const dx = get(a, od, B * T * W);
    assert.equal(Array.from(dx), Array.from(dy, (v, i) => Math.fround(v * m[i]!)), `p ${p}: in place / backward`);
    // d(Σ dy·y)/dx = m·dy: finite differences of the reference (exact: the map is linear).
    const idx = sampleIndexes(B * T * W, 12);
    assertClose(pick(dx, idx), finiteDiff((v) => dot(dy, ref.dropout(v, m)), Float64Array.from(x), 1e-3, idx), TOL_FD32, `p ${p}: backward vs finite differences`);
  }
});

kase("dropout: the zeroed fraction is about p; the mask depends on key, site, batch position and time index only", (k) => {
  const [B, T, W] = [32, 16, 64];
  const x = new Float64Array(B * T * W).fill(1);
  for (const p of [0.1, 0.3, 0.5]) {
    const y = runDropout(k, x, B, T, W, dropoutKey(7, 1, 0), 0, 0, 0, p);
    const zero = y.filter((v) => v === 0).length / y.length;
    // 32768 draws: the standard error is at most 0.003.
    assert.ok(Math.abs(zero - p) < 0.015, `p ${p}: zeroed fraction ${zero}`);
    const kept = y.filter((v) => v !== 0);
    assert.ok(kept.every((v) => v === Math.fround(1 / (1 - Math.fround(p)))), "kept values are scaled by 1/(1-p)");
  }
  const key = dropoutKey(7, 1, 0);
  const whole = runDropout(k, x, B, T, W, key, 1, 0, 0, 0.5);
  // A chunk of the batch (rows 9..20, first = 9) gets exactly those rows of the whole batch's mask.
  const part = runDropout(k, x.subarray(0, 12 * T * W), 12, T, W, key, 1, 9, 0, 0.5);
  assert.equal(Array.from(part), Array.from(whole.subarray(9 * T * W, 21 * T * W)), "chunk = the batch's rows");
  // The last step alone (T = 1, t0 = T − 1) gets the last step's mask.
  const last = runDropout(k, x.subarray(0, B * W), B, 1, W, key, 1, 0, T - 1, 0.5);
  for (let b = 0; b < B; b++)
    assert.equal(Array.from(last.subarray(b * W, (b + 1) * W)), Array.from(whole.subarray((b * T + T - 1) * W, (b * T + T) * W)), `row ${b}: last step`);
  // Another key or another site: another mask.
  const differs = (y: Float64Array) => y.some((v, i) => v !== whole[i]);
  assert.ok(differs(runDropout(k, x, B, T, W, dropoutKey(7, 1, 1), 1, 0, 0, 0.5)), "next step: new mask");
  assert.ok(differs(runDropout(k, x, B, T, W, key, 2, 0, 0, 0.5)), "another site: new mask");
});

// ------------------------------------------------------------------ LSTM and GRU

type Rnn = "lstm" | "gru";
/** Shapes: odd sizes with scalar column tails, and H = 16 (4H = 64: one whole GEMM panel). */
const RNN_SHAPES: [number, number, number, number][] = [
  [3, 5, 4, 6],
  [2, 4, 3, 16],
];

interface RnnRun {
  hs: Float64Array;
  cache: Float64Array;
  dk: Float64Array;
  dr: Float64Array;
  db: Float64Array;
  dx: Float64Array;
}

/** Sizes of one recurrent kind. */
function rnnSizes(kind: Rnn, B: number, T: number, I: number, H: number) {
  const G = (kind === "lstm" ? 4 : 3) * H;
  return {
    G,
    bias: kind === "lstm" ? G : 2 * G,
    cache: kind === "lstm" ? lstmCacheFloats(B, T, H) : gruCacheFloats(B, T, H),
    scratch: kind === "lstm" ? lstmBwdScratchFloats(B, T, H) : gruBwdScratchFloats(B, T, H),
  };
}

/** Random inputs of one recurrent case (weights in ±0.5 so the gates are not saturated). */
function rnnInputs(kind: Rnn, seed: number, B: number, T: number, I: number, H: number) {
  const r = randomSource(seed);
  const s = rnnSizes(kind, B, T, I, H);
  return {
    x: r(B * T * I), k: r(I * s.G, -0.5, 0.5), rec: r(H * s.G, -0.5, 0.5), bias: r(s.bias, -0.5, 0.5),
    dhs: r(B * T * H), dk0: r(I * s.G), dr0: r(H * s.G), db0: r(s.bias),
  };
}

/** Forward then backward of one recurrent kind on a fresh arena; gradients start from dk0, dr0, db0. */
function runRnn(k: KernelBackend, kind: Rnn, inp: ReturnType<typeof rnnInputs>, B: number, T: number, I: number, H: number, withDx = true): RnnRun {
  const s = rnnSizes(kind, B, T, I, H);
  const a = arenaOf(k, 4 * s.scratch + (1 << 16));
  const ox = put(a, inp.x), ok = put(a, inp.k), or = put(a, inp.rec), ob = put(a, inp.bias);
  const ohs = room(a, B * T * H), oc = room(a, s.cache), odhs = put(a, inp.dhs);
  const odk = put(a, inp.dk0), odr = put(a, inp.dr0), odb = put(a, inp.db0), odx = room(a, B * T * I), osc = room(a, s.scratch);
  const fwd = kind === "lstm" ? a.k.lstmFwd : a.k.gruFwd;
  const bwd = kind === "lstm" ? a.k.lstmBwd : a.k.gruBwd;
  fwd(ox, ok, or, ob, ohs, oc, B, T, I, H);
  bwd(ox, ok, or, ohs, oc, odhs, odk, odr, odb, withDx ? odx : -1, osc, B, T, I, H);
  return {
    hs: get(a, ohs, B * T * H), cache: get(a, oc, s.cache),
    dk: get(a, odk, I * s.G), dr: get(a, odr, H * s.G), db: get(a, odb, s.bias), dx: get(a, odx, B * T * I),
  };
}

/** Σ dhs·hs of the kernel's forward with one input replaced (float64 sum of float32 outputs). */
function kernelRnnLoss(k: KernelBackend, kind: Rnn, inp: ReturnType<typeof rnnInputs>, B: number, T: number, I: number, H: number, which: "x" | "k" | "rec" | "bias") {
  const s = rnnSizes(kind, B, T, I, H);
  const a = arenaOf(k, s.cache + (1 << 16));
  const ox = put(a, inp.x), ok = put(a, inp.k), or = put(a, inp.rec), ob = put(a, inp.bias);
  const ohs = room(a, B * T * H), oc = room(a, s.cache);
  const at = { x: ox, k: ok, rec: or, bias: ob }[which];
  const fwd = kind === "lstm" ? a.k.lstmFwd : a.k.gruFwd;
  return (v: Float64Array) => {
    a.f32.set(v, at);
    fwd(ox, ok, or, ob, ohs, oc, B, T, I, H);
    return dot(inp.dhs, get(a, ohs, B * T * H));
  };
}

for (const kind of ["lstm", "gru"] as const) {
  const refFwd = (x: ArrayLike<number>, kk: ArrayLike<number>, r: ArrayLike<number>, b: ArrayLike<number>, B: number, T: number, I: number, H: number) =>
    kind === "lstm" ? ref.lstmFwd(x, kk, r, b, B, T, I, H) : ref.gruFwd(x, kk, r, b, B, T, I, H);

  kase(`${kind}_fwd: hidden states and cache equal the float64 reference`, (k) => {
    RNN_SHAPES.forEach(([B, T, I, H], n) => {
      const inp = rnnInputs(kind, 30 + n, B, T, I, H);
      const got = runRnn(k, kind, inp, B, T, I, H);
      const what = `${kind} ${B}x${T}x${I}x${H}`;
      if (kind === "lstm") {
        const tr = ref.lstmFwd(inp.x, inp.k, inp.rec, inp.bias, B, T, I, H);
        const G = 4 * H, n1 = B * T * G, n2 = B * T * H;
        assertClose(got.hs, tr.hs, TOL_FWD, `${what} hs`);
        assertClose(got.cache.subarray(0, n1), tr.gates, TOL_FWD, `${what} cached gates`);
        assertClose(got.cache.subarray(n1, n1 + n2), tr.cs, TOL_FWD, `${what} cached cells`);
        assertClose(got.cache.subarray(n1 + n2), tr.cs.map(Math.tanh), TOL_FWD, `${what} cached tanh(c)`);
      } else {
        const tr = ref.gruFwd(inp.x, inp.k, inp.rec, inp.bias, B, T, I, H);
        const n1 = B * T * 3 * H;
        assertClose(got.hs, tr.hs, TOL_FWD, `${what} hs`);
        assertClose(got.cache.subarray(0, n1), tr.act, TOL_FWD, `${what} cached activations`);
        assertClose(got.cache.subarray(n1), tr.hzh, TOL_FWD, `${what} cached hz_h`);
      }
    });
  });

  kase(`${kind}_bwd: weight gradients accumulate, dx is written; all match the reference and finite differences`, (k) => {
    RNN_SHAPES.forEach(([B, T, I, H], n) => {
      const inp = rnnInputs(kind, 40 + n, B, T, I, H);
      const got = runRnn(k, kind, inp, B, T, I, H);
      const tr = refFwd(inp.x, inp.k, inp.rec, inp.bias, B, T, I, H);
      const g = kind === "lstm"
        ? ref.lstmBwd(inp.x, inp.k, inp.rec, tr as ref.LstmTrace, inp.dhs, B, T, I, H)
        : ref.gruBwd(inp.x, inp.k, inp.rec, tr as ref.GruTrace, inp.dhs, B, T, I, H);
      const what = `${kind} ${B}x${T}x${I}x${H}`;
      assertClose(got.dk, g.dk.map((v, i) => v + inp.dk0[i]!), TOL_GRAD, `${what} dkernel (accumulated)`);
      assertClose(got.dr, g.dr.map((v, i) => v + inp.dr0[i]!), TOL_GRAD, `${what} drecurrent (accumulated)`);
      assertClose(got.db, g.db.map((v, i) => v + inp.db0[i]!), TOL_GRAD, `${what} dbias (accumulated)`);
      assertClose(got.dx, g.dx, TOL_GRAD, `${what} dx (written)`);
      const grads = { x: g.dx, k: g.dk, rec: g.dr, bias: g.db };
      const kernelGrads = { x: got.dx, k: got.dk.map((v, i) => v - inp.dk0[i]!), rec: got.dr.map((v, i) => v - inp.dr0[i]!), bias: got.db.map((v, i) => v - inp.db0[i]!) };
      for (const which of ["x", "k", "rec", "bias"] as const) {
        const idx = sampleIndexes(inp[which].length, 10, n + 1);
        const refLoss = (v: Float64Array) => {
          const args = { ...inp, [which]: v };
          return dot(inp.dhs, refFwd(args.x, args.k, args.rec, args.bias, B, T, I, H).hs);
        };
        assertClose(pick(grads[which], idx), finiteDiff(refLoss, Float64Array.from(inp[which]), 1e-5, idx), TOL_FD64, `${what} reference d${which} vs fd`);
        const kLoss = kernelRnnLoss(k, kind, inp, B, T, I, H, which);
        assertClose(pick(kernelGrads[which], idx), finiteDiff(kLoss, Float64Array.from(inp[which]), 1e-2, idx), TOL_FD32, `${what} d${which} vs fd of the kernel`);
      }
      const noDx = runRnn(k, kind, inp, B, T, I, H, false);
      assert.ok(noDx.dx.every(Number.isNaN), `${what}: dx = -1 writes nothing`);
      assert.equal(Array.from(noDx.dk), Array.from(got.dk), `${what}: dx = -1 changes no weight gradient`);
    });
  });
}

// ------------------------------------------------------------------ losses and Adam

kase("bce_logits: stable loss sum and scaled gradient, also at |z| = 100", (k) => {
  const r = randomSource(50);
  const z = Float64Array.from([...r(40, -8, 8), 100, -100, 30, -30, 0]);
  const y = Float64Array.from(z, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
  const a = arenaOf(k);
  const oz = put(a, z), oy = put(a, y), odz = room(a, z.length), ol = room(a, 1);
  a.k.bceLogits(oz, oy, odz, ol, z.length, 0.25);
  const e = ref.bce(z, y);
  assertClose([a.f32[ol]!], [e.loss], 1e-6, "bce loss");
  assertClose(get(a, odz, z.length), e.dz.map((v) => 0.25 * v), 1e-6, "bce dz");
  const idx = sampleIndexes(40, 10);
  assertClose(pick(e.dz, idx), finiteDiff((v) => ref.bce(v, y).loss, Float64Array.from(z), 1e-5, idx), TOL_FD64, "reference dz vs fd");
  const odz2 = room(a, z.length);
  a.k.bceLogits(oz, oy, -1, ol, z.length, 0.25);
  assert.ok(get(a, odz2, z.length).every(Number.isNaN), "dz = -1: nothing written");
});

kase("huber and mse: loss sums and scaled gradients", (k) => {
  const r = randomSource(51);
  const p = r(50, -3, 3), t = r(50, -3, 3);
  const a = arenaOf(k);
  const op = put(a, p), ot = put(a, t), odp = room(a, 50), ol = room(a, 1);
  for (const delta of [1, 0.5]) {
    a.k.huber(op, ot, odp, ol, 50, 0.1, delta);
    const e = ref.huber(p, t, delta);
    assertClose([a.f32[ol]!], [e.loss], 1e-6, `huber loss δ=${delta}`);
    assertClose(get(a, odp, 50), e.dp.map((v) => 0.1 * v), 1e-6, `huber dp δ=${delta}`);
    const idx = sampleIndexes(50, 20).filter((i) => Math.abs(Math.abs(p[i]! - t[i]!) - delta) > 1e-3); // off the kink
    assertClose(pick(e.dp, idx), finiteDiff((v) => ref.huber(v, t, delta).loss, Float64Array.from(p), 1e-6, idx), TOL_FD64, `reference huber vs fd δ=${delta}`);
  }
  a.k.mse(op, ot, odp, ol, 50, 0.1);
  const e = ref.mse(p, t);
  assertClose([a.f32[ol]!], [e.loss], 1e-6, "mse loss");
  assertClose(get(a, odp, 50), e.dp.map((v) => 0.1 * v), 1e-6, "mse dp");
  assertClose(e.dp, finiteDiff((v) => ref.mse(v, t).loss, Float64Array.from(p), 1e-6), TOL_FD64, "reference mse vs fd");
});

kase("adam_step: three steps equal the reference (with and without decoupled weight decay)", (k) => {
  const r = randomSource(52);
  const n = 41;
  for (const wd of [0, 0.01]) {
    const a = arenaOf(k);
    let p: Float64Array = r(n), m = new Float64Array(n) as Float64Array, v = new Float64Array(n) as Float64Array;
    const op = put(a, p), og = room(a, n), om = put(a, m), ov = put(a, v);
    for (let t = 1; t <= 3; t++) {
      const g = r(n);
      a.f32.set(g, og);
      a.k.adamStep(op, og, om, ov, n, t, 1e-2, 0.9, 0.999, 1e-8, wd);
      ({ p, m, v } = ref.adam(p, g, m, v, t, Math.fround(1e-2), Math.fround(0.9), Math.fround(0.999), Math.fround(1e-8), Math.fround(wd)));
      assertClose(get(a, op, n), p, 1e-6, `adam p step ${t} wd ${wd}`);
      assertClose(get(a, om, n), m, 1e-6, `adam m step ${t}`);
      assertClose(get(a, ov, n), v, 1e-5, `adam v step ${t}`);
      p = get(a, op, n); m = get(a, om, n); v = get(a, ov, n); // continue from the kernel's floats
    }
  }
});

// ------------------------------------------------------------------ nn_math.h

/** Distance in float32 ulps between a float32 result and the exact value. */
function ulps(actual: number, exact: number): number {
  if (actual === exact) return 0;
  if (!Number.isFinite(exact) || !Number.isFinite(actual)) return Infinity;
  const m = Math.abs(exact);
  const ulp = m < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(m)) - 23);
  return Math.abs(actual - exact) / ulp;
}

const MATH: [string, number, (x: number) => number, number, number, number][] = [
  // name, fn id, exact, lo, hi, max ulps
  ["exp", 0, Math.exp, -87, 88.7, 2],
  ["tanh", 1, Math.tanh, -9, 9, 3],
  ["sigmoid", 2, (x) => 1 / (1 + Math.exp(-x)), -30, 30, 3],
  ["log", 3, Math.log, 1e-30, 1e30, 2],
  ["log1p", 4, Math.log1p, 0, 1, 2],
];

kase("nn_math.h: exp, tanh, sigmoid, log, log1p within a few float32 ulps, and their limits", (k) => {
  const a = arenaOf(k);
  const n = 4000;
  for (const [name, fn, exact, lo, hi, tol] of MATH) {
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const u = i / (n - 1);
      xs[i] = Math.fround(name === "log" ? Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))) : lo + u * (hi - lo));
    }
    if (name === "tanh") xs.set([1e-8, -3e-5, 0.6249, 0.6251, -0.625], 0);
    const ox = put(a, xs), oy = room(a, n);
    a.call("math_probe", [ox, oy, n, fn]);
    const ys = get(a, oy, n);
    let worst = 0, at = 0;
    for (let i = 0; i < n; i++) {
      const e = ulps(ys[i]!, exact(xs[i]!));
      if (!(e <= worst)) (worst = e), (at = i);
    }
    assert.ok(worst <= tol, `${name}: ${worst.toFixed(2)} ulps at x = ${xs[at]} (${ys[at]} vs ${exact(xs[at]!)})`);
    a.reset(ox);
  }
  const special = Float64Array.from([-200, 100, -100, 50, -50, 0, -88.5, -100]);
  const ox = put(a, special), oy = room(a, 8);
  const run = (fn: number) => (a.call("math_probe", [ox, oy, 8, fn]), get(a, oy, 8));
  const e = run(0);
  assert.equal([e[0], e[1], e[5]], [0, Infinity, 1], "exp limits");
  assert.ok(ulps(e[6]!, Math.exp(-88.5)) <= 2 && e[6]! > 0, "exp into the subnormals");
  const s = run(2);
  assert.ok(s[2]! >= 0 && s[2]! < 1e-40 && s[1] === 1, "sigmoid limits, no NaN");
  const t = run(1);
  assert.equal([t[3], t[4], t[5]], [1, -1, 0], "tanh limits");
  const l = run(3);
  assert.ok(l[5] === -Infinity && Number.isNaN(l[0]!), "log(0) = -inf, log(<0) = NaN");
});

// ------------------------------------------------------------------ determinism

kase("the same calls twice give the same bits (dense)", (k) => {
  const [N, I, O] = [33, 80, 96];
  const once = () => {
    const r = randomSource(16);
    const a = arenaOf(k);
    const ox = put(a, r(N * I)), ow = put(a, r(I * O)), ob = put(a, r(O)), ody = put(a, r(N * O));
    const oy = room(a, N * O), odw = room(a, I * O, 0), odb = room(a, O, 0), odx = room(a, N * I);
    a.k.denseFwd(ox, ow, ob, oy, N, I, O);
    a.k.denseBwd(ox, ow, ody, odw, odb, odx, N, I, O);
    return [bits(a, oy, N * O), bits(a, odw, I * O), bits(a, odb, O), bits(a, odx, N * I)];
  };
  const first = once(), again = once();
  for (let i = 0; i < first.length; i++) assert.equal(Array.from(again[i]!), Array.from(first[i]!), `output ${i}`);
});

// ------------------------------------------------------------------ arena and dispatch

/** Every kernel of native/nn/kernels_core.def. */
const CORE_KERNELS = ["dense_fwd", "dense_bwd", "lstm_fwd", "lstm_bwd", "gru_fwd", "gru_bwd", "bce_logits", "huber", "mse", "adam_step",
  "zero", "copy", "axpy", "add", "scale", "last_step_fwd", "last_step_bwd", "math_probe", "dropout"];

/** K(name) lines of native/nn/kernels_core.def then kernels_attn.def: dispatch.c's table order. */
function defKernels(): string[] {
  const dir = new URL("../../../native/nn/", import.meta.url);
  return ["kernels_core.def", "kernels_attn.def"].flatMap((f) =>
    [...readFileSync(new URL(f, dir), "utf8").matchAll(/^K\((\w+)\)/gm)].map((m) => m[1]!));
}

kase("the build lists exactly the kernels of the .def files, in order (a stale native/nn.wasm shows here)", (k) => {
  assert.equal([...k.names], defKernels());
});

kase("typed wrappers refuse regions outside the arena and bad dims, naming the argument", (k) => {
  const a = k.arena(1000);
  assert.throws(() => a.k.denseFwd(0, 100, -1, 990, 2, 5, 10), /kernel dense_fwd: y \[990, 1010\) is outside the arena of 1000 floats/);
  assert.throws(() => a.k.lstmFwd(0, 0, 0, 0, 0, 0, 20, 3, 4, 5), /kernel lstm_fwd: cache \[0, 1800\)/);
  assert.throws(() => a.k.zero(0, 1.5), /kernel zero: ia\[1\] = 1.5/);
  assert.throws(() => a.k.copy(-2, 0, 1), /kernel copy: ia\[0\] = -2/);
  a.f32.fill(1, 0, 20);
  a.k.denseFwd(0, 10, -1, 20, 2, 5, 2); // b = -1 is absent, not a region
  assert.equal(Array.from(a.f32.subarray(20, 24)), [5, 5, 5, 5]);
});

kase("arena: 16-float aligned allocations, overflow and unknown kernels are typed errors", (k) => {
  const a = k.arena(100);
  assert.is(a.alloc(3), 0);
  assert.is(a.alloc(1), 16);
  const m = a.mark();
  assert.is(a.alloc(20), 32);
  a.reset(m);
  assert.is(a.alloc(1), 32);
  assert.throws(() => a.alloc(100), /arena full/);
  assert.throws(() => a.call("no_such_kernel", []), /no kernel "no_such_kernel"/);
  for (const name of CORE_KERNELS)
    assert.ok(k.names.includes(name), `kernel ${name} listed`);
});

// ------------------------------------------------------------------ native vs wasm

/**
 * The two builds compile the same C with -ffp-contract=off (no fused multiply-adds) and only
 * IEEE operations in a fixed order, so they must give the same bits; the tolerance only sizes
 * the error reported when they do not.
 */
export const TOL_BUILDS = 1e-5;

interface Scenario {
  name: string;
  /** Runs some kernels on fresh inputs from a fixed seed; returns every output. */
  run(k: KernelBackend): Float64Array[];
}

const SCENARIOS: Scenario[] = [];
const scenario = (name: string, run: (k: KernelBackend) => Float64Array[]) => SCENARIOS.push({ name, run });

/** Defines, on `suite`, that both builds give bit-identical outputs; skipped when `make` is null. */
export function defineAgreement(suite: Test, make: (() => [KernelBackend, KernelBackend]) | null): void {
  let pair: [KernelBackend, KernelBackend] | undefined;
  for (const s of SCENARIOS) {
    const name = `native and wasm agree to the bit: ${s.name}`;
    if (!make) {
      suite.skip(name);
      continue;
    }
    suite(name, () => {
      const [p, q] = (pair ??= make());
      const a = s.run(p), b = s.run(q);
      assert.is(a.length, b.length);
      a.forEach((out, i) => {
        assertClose(out, b[i]!, TOL_BUILDS, `${s.name} output ${i}`);
        const differ = out.filter((v, j) => !Object.is(v, b[i]![j])).length;
        assert.is(differ, 0, `${s.name} output ${i}: ${differ} of ${out.length} elements differ in their last bits`);
      });
    });
  }
}

scenario("dense_fwd and dense_bwd, 256x80 · 80x256", (k) => {
  const [N, I, O] = [256, 80, 256];
  const r = randomSource(21);
  const a = arenaOf(k);
  const ox = put(a, r(N * I)), ow = put(a, r(I * O)), ob = put(a, r(O)), ody = put(a, r(N * O));
  const oy = room(a, N * O), odw = room(a, I * O, 0), odb = room(a, O, 0), odx = room(a, N * I);
  a.k.denseFwd(ox, ow, ob, oy, N, I, O);
  a.k.denseBwd(ox, ow, ody, odw, odb, odx, N, I, O);
  return [get(a, oy, N * O), get(a, odw, I * O), get(a, odb, O), get(a, odx, N * I)];
});

for (const kind of ["lstm", "gru"] as const)
  scenario(`${kind}_fwd and ${kind}_bwd, B=4 T=16 I=16 H=64`, (k) => {
    const [B, T, I, H] = [4, 16, 16, 64];
    const run = runRnn(k, kind, rnnInputs(kind, 60, B, T, I, H), B, T, I, H);
    return [run.hs, run.cache, run.dk, run.dr, run.db, run.dx];
  });

scenario("dropout at p = 0.3 on [64, 16, 64], out of place and in place", (k) => {
  const [B, T, W] = [64, 16, 64];
  const r = randomSource(63);
  const a = arenaOf(k);
  const ox = put(a, r(B * T * W)), oy = room(a, B * T * W), key = dropoutKey(11, 3, 5);
  a.k.dropout(ox, oy, B, T, W, key, 3, 32, 0, 0.3, dropoutScale(Math.fround(0.3)));
  a.k.dropout(ox, ox, B, T, W, key, 4, 0, 0, 0.3, dropoutScale(Math.fround(0.3)));
  return [get(a, oy, B * T * W), get(a, ox, B * T * W)];
});

scenario("losses and three Adam steps", (k) => {
  const r = randomSource(61);
  const n = 300;
  const a = arenaOf(k);
  const z = put(a, r(n, -6, 6)), y = put(a, r(n).map((v) => (v > 0 ? 1 : 0))), t = put(a, r(n, -2, 2));
  const dz = room(a, n), dh = room(a, n), dm = room(a, n), l = room(a, 4);
  a.k.bceLogits(z, y, dz, l, n, 1 / n);
  a.k.huber(z, t, dh, l + 1, n, 1 / n, 1);
  a.k.mse(z, t, dm, l + 2, n, 1 / n);
  const p = put(a, r(n)), m = room(a, n, 0), v = room(a, n, 0);
  for (let s = 1; s <= 3; s++) a.k.adamStep(p, dz, m, v, n, s, 1e-3, 0.9, 0.999, 1e-8, 0.01);
  return [get(a, dz, n), get(a, dh, n), get(a, dm, n), get(a, l, 3), get(a, p, n), get(a, m, n), get(a, v, n)];
});

kase("the same calls twice give the same bits (LSTM, GRU)", (k) => {
  for (const kind of ["lstm", "gru"] as const) {
    const [B, T, I, H] = [5, 7, 9, 20];
    const once = () => {
      const run = runRnn(k, kind, rnnInputs(kind, 62, B, T, I, H), B, T, I, H);
      return [run.hs, run.cache, run.dk, run.dr, run.db, run.dx].map((x) => Array.from(new Uint32Array(Float32Array.from(x).buffer)));
    };
    const first = once(), again = once();
    first.forEach((x, i) => assert.equal(again[i], x, `${kind} output ${i}`));
  }
});

// ------------------------------------------------------------------ worker threads

/**
 * Defines, on `suite`, that two worker threads each loading `backend` (their own module copy,
 * backend and arena, at the same time) compute the same bits as this thread.
 */
export function defineWorkers(suite: Test, backend: "native" | "wasm", available: boolean): void {
  const name = `${backend}: two worker threads load their own kernels and get this thread's bits`;
  if (!available) return void suite.skip(name);
  suite(name, async () => {
    const { Worker } = await import("node:worker_threads");
    const kernelsUrl = new URL("../../src/ml/nn/kernels.js", import.meta.url).href;
    const helpersUrl = new URL("./kernel-helpers.js", import.meta.url).href;
    const job = async (kernels: string, helpers: string, kind: string): Promise<number[]> => {
      const { loadKernels } = await import(kernels);
      const { put, randomSource, room, bits } = await import(helpers);
      const r = randomSource(70);
      const a = loadKernels(kind).arena(1 << 18);
      const [N, I, O] = [40, 30, 50];
      const x = put(a, r(N * I)), w = put(a, r(I * O)), b = put(a, r(O)), y = room(a, N * O);
      a.k.denseFwd(x, w, b, y, N, I, O);
      return Array.from(bits(a, y, N * O) as Uint32Array);
    };
    const src = `const { parentPort, workerData } = require("node:worker_threads");
      (${job.toString()})(workerData.k, workerData.h, workerData.kind).then((v) => parentPort.postMessage(v));`;
    const run = () =>
      new Promise<number[]>((resolve, reject) => {
        const w = new Worker(src, { eval: true, workerData: { k: kernelsUrl, h: helpersUrl, kind: backend } });
        w.once("message", (v: number[]) => {
          resolve(v);
          void w.terminate();
        });
        w.once("error", reject);
      });
    const here = await job(kernelsUrl, helpersUrl, backend);
    const [one, two] = await Promise.all([run(), run()]);
    assert.equal(one, here, "worker 1");
    assert.equal(two, here, "worker 2");
  });
}

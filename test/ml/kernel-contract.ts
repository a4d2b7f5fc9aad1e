/**
 * The contract of the core kernels (native/nn/nn.h), parametrised by backend: run by
 * kernels-native.test.ts and kernels-wasm.test.ts. For every kernel:
 * - the forward equals the float64 reference (test/ml/reference64.ts) to float32 rounding;
 * - every gradient equals the reference's analytic gradient (tight), which itself equals
 *   central finite differences of the reference forward (so the reference is checked too),
 *   and finite differences of the kernel's own forward (loose: float32);
 * - accumulate / write / skip (-1) semantics as documented;
 * - the same call twice gives the same bits.
 */
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import type { Arena, KernelBackend } from "../../src/ml/nn/kernels.js";
import * as ref from "./reference64.js";
import { assertClose, bits, dot, finiteDiff, get, pick, put, randomSource, room, sampleIndexes } from "./kernel-helpers.js";

/** Float32 forward vs float64 reference. */
export const TOL_FWD = 2e-5;
/** Kernel gradient vs the float64 analytic gradient. */
export const TOL_GRAD = 1e-4;
/** Float64 analytic gradient vs float64 finite differences. */
export const TOL_FD64 = 1e-6;
/** Kernel gradient vs finite differences of the kernel's own float32 forward. */
export const TOL_FD32 = 2e-2;

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
  for (const name of ["dense_fwd", "dense_bwd", "zero", "copy", "axpy", "add", "scale", "last_step_fwd", "last_step_bwd"])
    assert.ok(k.names.includes(name), `kernel ${name} listed`);
});

// ------------------------------------------------------------------ native vs wasm

/** Tolerance between the two builds (they differ only by fused multiply-adds). */
export const TOL_BUILDS = 1e-5;

interface Scenario {
  name: string;
  /** Runs some kernels on fresh inputs from a fixed seed; returns every output. */
  run(k: KernelBackend): Float64Array[];
}

const SCENARIOS: Scenario[] = [];
const scenario = (name: string, run: (k: KernelBackend) => Float64Array[]) => SCENARIOS.push({ name, run });

/** Defines, on `suite`, that both builds give the same outputs within TOL_BUILDS; skipped when `make` is null. */
export function defineAgreement(suite: Test, make: (() => [KernelBackend, KernelBackend]) | null): void {
  let pair: [KernelBackend, KernelBackend] | undefined;
  for (const s of SCENARIOS) {
    const name = `native and wasm agree: ${s.name}`;
    if (!make) {
      suite.skip(name);
      continue;
    }
    suite(name, () => {
      const [p, q] = (pair ??= make());
      const a = s.run(p), b = s.run(q);
      assert.is(a.length, b.length);
      a.forEach((out, i) => assertClose(out, b[i]!, TOL_BUILDS, `${s.name} output ${i}`));
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

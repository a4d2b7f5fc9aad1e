/**
 * The transformer kernels (native/nn/attn.c, argument lists in native/nn/attn.h) on every
 * build present (native skipped when not built, wasm always):
 * - each forward equals its float64 reference (reference64-attn.ts) to float32 rounding;
 * - each gradient equals central finite differences of the float64 reference forward;
 * - parameter gradients accumulate, input gradients are written (outputs start as NaN or
 *   as random values, so a kernel that forgets either shows), documented in-place uses work,
 *   and nothing is written past the documented scratch;
 * - a repeated call gives the same bits, and so do the native and wasm builds (both compile
 *   without fused multiply-adds and every sum runs in a fixed order at any SIMD width).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sinusoidalPositions } from "../../src/ml/nn/config.js";
import { loadKernels, nativeKernelsAvailable, type Arena, type KernelBackend } from "../../src/ml/nn/kernels.js";
import { TOL_FWD, TOL_GRAD } from "./kernel-contract.js";
import { assertClose, bits, defineBackendCases, dot, finiteDiff, get, put, randomSource, relError, room, sampleIndexes, type KernelCase } from "./kernel-helpers.js";
import * as ref from "./reference64-attn.js";

/** Step of the float64 central differences (their error is far below TOL_GRAD). */
const H64 = 1e-5;
/** Elements probed per gradient tensor (finite differences of the whole reference are slow). */
const PROBES = 24;
const EPS = 1e-5;

const arenaOf = (k: KernelBackend): Arena => k.arena(1 << 20);

/** Kernel gradient `actual` at the probed indexes (by default PROBES spread ones) vs finite differences of loss at x. */
function checkGrad(actual: Float64Array, loss: (x: Float64Array) => number, x: Float64Array, what: string, idx = sampleIndexes(x.length, PROBES)): void {
  const fd = finiteDiff(loss, Float64Array.from(x), H64, idx);
  assertClose(Float64Array.from(idx, (i) => actual[i]!), fd, TOL_GRAD, `${what} vs finite differences of the float64 reference`);
}

/** n floats of NaN directly followed by 16 guard floats of 7 (alloc pads to 16, so a separate room would leave a gap). */
function guarded(a: Arena, n: number): number {
  const at = room(a, n + 16, 7);
  a.f32.fill(Number.NaN, at, at + n);
  return at;
}

/** Asserts the 16 guard floats after a guarded(a, n) region are untouched. */
function assertGuard(a: Arena, at: number, n: number, what: string): void {
  assert.ok(get(a, at + n, 16).every((v) => v === 7), `${what}: nothing written past its ${n} floats`);
}

// ------------------------------------------------------------------ cases

const CASES: KernelCase[] = [];
const kase = (name: string, run: (k: KernelBackend) => void) => CASES.push({ name, run });

/** [N, D]: one row, vector tails (33), the model's width (64). */
const LN_SHAPES: [number, number][] = [[1, 8], [5, 33], [4, 64]];

kase("layernorm_fwd equals the reference and caches mean and 1/σ; in place gives the same", (k) => {
  const rnd = randomSource(21);
  for (const [N, D] of LN_SHAPES) {
    const a = arenaOf(k);
    const x = rnd(N * D, -2, 3), gamma = rnd(D), beta = rnd(D);
    const ox = put(a, x), oy = guarded(a, N * D), og = put(a, gamma), ob = put(a, beta), oc = guarded(a, 2 * N);
    a.call("layernorm_fwd", [ox, oy, og, ob, oc, N, D], [EPS]);
    const what = `layernorm_fwd ${N}x${D}`;
    assertClose(get(a, oy, N * D), ref.layerNorm64(x, gamma, beta, N, D, EPS), TOL_FWD, what);
    assertClose(get(a, oc, 2 * N), ref.layerNormStats64(x, N, D, EPS), TOL_FWD, `${what} cache`);
    assertGuard(a, oy, N * D, `${what} y`);
    assertGuard(a, oc, 2 * N, `${what} cache`);
    const y = bits(a, oy, N * D);
    a.call("layernorm_fwd", [ox, ox, og, ob, oc, N, D], [EPS]);
    assert.equal(Array.from(bits(a, ox, N * D)), Array.from(y), `${what} in place`);
  }
});

kase("layernorm_bwd: dgamma, dbeta accumulate, dx is written (also in place over dy), all match finite differences", (k) => {
  const rnd = randomSource(22);
  for (const [N, D] of LN_SHAPES) {
    const a = arenaOf(k);
    const x = rnd(N * D, -2, 3), gamma = rnd(D), beta = rnd(D), dy = rnd(N * D), dg0 = rnd(D), db0 = rnd(D);
    const ox = put(a, x), oy = room(a, N * D), og = put(a, gamma), ob = put(a, beta), oc = room(a, 2 * N);
    const ody = put(a, dy), odx = room(a, N * D), odg = put(a, dg0), odb = put(a, db0);
    a.call("layernorm_fwd", [ox, oy, og, ob, oc, N, D], [EPS]);
    a.call("layernorm_bwd", [ox, ody, og, oc, odx, odg, odb, N, D]);
    const what = `layernorm_bwd ${N}x${D}`;
    const dg = get(a, odg, D).map((v, i) => v - dg0[i]!), db = get(a, odb, D).map((v, i) => v - db0[i]!);
    checkGrad(get(a, odx, N * D), (xx) => dot(dy, ref.layerNorm64(xx, gamma, beta, N, D, EPS)), x, `${what} dx`);
    checkGrad(dg, (gg) => dot(dy, ref.layerNorm64(x, gg, beta, N, D, EPS)), gamma, `${what} dgamma (accumulated)`);
    checkGrad(db, (bb) => dot(dy, ref.layerNorm64(x, gamma, bb, N, D, EPS)), beta, `${what} dbeta (accumulated)`);
    const dx = bits(a, odx, N * D);
    a.call("layernorm_bwd", [ox, ody, og, oc, ody, odg, odb, N, D]);
    assert.equal(Array.from(bits(a, ody, N * D)), Array.from(dx), `${what} dx in place over dy`);
  }
});

/** [B, L, D, h]: one token, odd L (vector tails), dh = 3, dh = 16 with L = 17. */
const ATTN_SHAPES: [number, number, number, number][] = [[1, 1, 4, 1], [2, 5, 8, 2], [2, 7, 9, 3], [2, 17, 64, 4]];
const attnScratch = (L: number, D: number, h: number) => L * (D / h) + L;

/** q, k, v on one arena (k scaled up so some softmax rows are peaked). */
function attnInputs(a: Arena, rnd: ReturnType<typeof randomSource>, B: number, L: number, D: number) {
  const q = rnd(B * L * D, -2, 2), kk = rnd(B * L * D, -3, 3), v = rnd(B * L * D);
  return { q, k: kk, v, oq: put(a, q), ok: put(a, kk), ov: put(a, v) };
}

kase("attention_fwd equals the reference (output and cached probabilities), scratch respected", (k) => {
  const rnd = randomSource(23);
  for (const [B, L, D, h] of ATTN_SHAPES) {
    const a = arenaOf(k);
    const { q, k: kk, v, oq, ok, ov } = attnInputs(a, rnd, B, L, D);
    const oo = guarded(a, B * L * D), op = guarded(a, B * h * L * L), os = guarded(a, L * (D / h));
    a.call("attention_fwd", [oq, ok, ov, oo, op, os, B, L, D, h]);
    const r = ref.attention64(q, kk, v, B, L, D, h);
    const what = `attention_fwd B${B} L${L} D${D} h${h}`;
    assertClose(get(a, oo, B * L * D), r.o, TOL_FWD, what);
    assertClose(get(a, op, B * h * L * L), r.p, TOL_FWD, `${what} P`);
    assertGuard(a, oo, B * L * D, `${what} O`);
    assertGuard(a, op, B * h * L * L, `${what} P`);
    assertGuard(a, os, L * (D / h), `${what} scratch (L·dh)`);
  }
});

kase("attention_fwd is stable for large scores (no overflow in the softmax)", (k) => {
  const rnd = randomSource(24);
  const [B, L, D, h] = [1, 6, 8, 2];
  const a = arenaOf(k);
  const q = rnd(B * L * D, -40, 40), kk = rnd(B * L * D, -40, 40), v = rnd(B * L * D);
  const oo = room(a, B * L * D), op = room(a, B * h * L * L), os = room(a, attnScratch(L, D, h));
  a.call("attention_fwd", [put(a, q), put(a, kk), put(a, v), oo, op, os, B, L, D, h]);
  const r = ref.attention64(q, kk, v, B, L, D, h);
  assertClose(get(a, oo, B * L * D), r.o, 1e-4, "attention_fwd with scores ~ 1e3");
  assertClose(get(a, op, B * h * L * L), r.p, 1e-4, "attention_fwd P with scores ~ 1e3");
});

kase("attention_bwd: dq, dk, dv are written and match finite differences; scratch respected", (k) => {
  const rnd = randomSource(25);
  for (const [B, L, D, h] of ATTN_SHAPES) {
    const a = arenaOf(k);
    const { q, k: kk, v, oq, ok, ov } = attnInputs(a, rnd, B, L, D);
    const dout = rnd(B * L * D);
    const n = B * L * D;
    const oo = room(a, n), op = room(a, B * h * L * L), os = guarded(a, attnScratch(L, D, h));
    const odo = put(a, dout), odq = guarded(a, n), odk = guarded(a, n), odv = guarded(a, n);
    a.call("attention_fwd", [oq, ok, ov, oo, op, os, B, L, D, h]);
    a.call("attention_bwd", [oq, ok, ov, op, odo, odq, odk, odv, os, B, L, D, h]);
    const what = `attention_bwd B${B} L${L} D${D} h${h}`;
    assertGuard(a, os, attnScratch(L, D, h), `${what} scratch (L·dh + L)`);
    for (const [at, name] of [[odq, "dq"], [odk, "dk"], [odv, "dv"]] as const) assertGuard(a, at, n, `${what} ${name}`);
    const o = (qq: Float64Array, k2: Float64Array, vv: Float64Array) => dot(dout, ref.attention64(qq, k2, vv, B, L, D, h).o);
    checkGrad(get(a, odq, n), (x) => o(x, kk, v), q, `${what} dq`);
    checkGrad(get(a, odk, n), (x) => o(q, x, v), kk, `${what} dk`);
    checkGrad(get(a, odv, n), (x) => o(q, kk, x), v, `${what} dv`);
    // Written, not accumulated: a second call gives the same values.
    const first = [bits(a, odq, n), bits(a, odk, n), bits(a, odv, n)];
    a.call("attention_bwd", [oq, ok, ov, op, odo, odq, odk, odv, os, B, L, D, h]);
    const again = [bits(a, odq, n), bits(a, odk, n), bits(a, odv, n)];
    for (let i = 0; i < 3; i++) assert.equal(Array.from(again[i]!), Array.from(first[i]!), `${what} output ${i} written`);
  }
});

kase("relu_fwd / relu_bwd: max(x, 0), gradient masked by the output (in place too)", (k) => {
  const rnd = randomSource(26);
  const n = 37;
  const a = arenaOf(k);
  const x = rnd(n);
  x[3] = 0;
  x[4] = -0;
  const dy = rnd(n);
  const ox = put(a, x), oy = room(a, n), ody = put(a, dy), odx = room(a, n);
  a.call("relu_fwd", [ox, oy, n]);
  assert.equal(Array.from(get(a, oy, n)), Array.from(ref.relu64(x)), "relu_fwd");
  a.call("relu_bwd", [oy, ody, odx, n]);
  const dx = get(a, odx, n);
  assert.equal(Array.from(dx), Array.from(dy, (g, i) => (x[i]! > 0 ? g : 0)), "relu_bwd (gradient 0 at x = 0)");
  const smooth = sampleIndexes(n, PROBES).filter((i) => x[i] !== 0); // no derivative at the kink
  checkGrad(dx, (xx) => dot(dy, ref.relu64(xx)), x, "relu_bwd dx", smooth);
  a.call("relu_fwd", [ox, ox, n]);
  a.call("relu_bwd", [ox, ody, ody, n]);
  assert.equal(Array.from(get(a, ox, n)), Array.from(get(a, oy, n)), "relu_fwd in place");
  assert.equal(Array.from(get(a, ody, n)), Array.from(dx), "relu_bwd in place");
});

kase("add_pos_fwd adds P to every sample; add_pos_bwd accumulates Σ_b dX into dP", (k) => {
  const rnd = randomSource(27);
  const [B, L, D] = [3, 5, 7];
  const a = arenaOf(k);
  const x = rnd(B * L * D), p = rnd(L * D), dx = rnd(B * L * D), dp0 = rnd(L * D);
  const ox = put(a, x), op = put(a, p), odx = put(a, dx), odp = put(a, dp0);
  a.call("add_pos_fwd", [ox, op, B, L, D]);
  assert.equal(Array.from(get(a, ox, B * L * D)), Array.from(x, (v, i) => Math.fround(v + p[i % (L * D)]!)), "add_pos_fwd");
  assertClose(get(a, ox, B * L * D), ref.addPos64(x, p, B, L, D), TOL_FWD, "add_pos_fwd vs reference");
  a.call("add_pos_bwd", [odx, odp, B, L, D]);
  const dp = get(a, odp, L * D).map((v, i) => v - dp0[i]!);
  checkGrad(dp, (pp) => dot(dx, ref.addPos64(x, pp, B, L, D)), p, "add_pos_bwd dP (accumulated)");
});

kase("mean_pool_fwd averages over L; mean_pool_bwd writes dy / L to every step", (k) => {
  const rnd = randomSource(28);
  for (const [B, L, D] of [[1, 1, 3], [3, 9, 17]] as const) {
    const a = arenaOf(k);
    const x = rnd(B * L * D), dy = rnd(B * D);
    const ox = put(a, x), oy = room(a, B * D), ody = put(a, dy), odx = room(a, B * L * D);
    a.call("mean_pool_fwd", [ox, oy, B, L, D]);
    a.call("mean_pool_bwd", [ody, odx, B, L, D]);
    assertClose(get(a, oy, B * D), ref.meanPool64(x, B, L, D), TOL_FWD, `mean_pool_fwd ${B}x${L}x${D}`);
    checkGrad(get(a, odx, B * L * D), (xx) => dot(dy, ref.meanPool64(xx, B, L, D)), x, `mean_pool_bwd ${B}x${L}x${D} dx`);
  }
});

kase("sinusoid_pe is the double-precision encoding rounded once (as config.ts computes it)", (k) => {
  for (const [L, D] of [[1, 2], [7, 5], [512, 64]] as const) {
    const a = arenaOf(k);
    const out = room(a, L * D);
    a.call("sinusoid_pe", [out, L, D]);
    const got = get(a, out, L * D), exact = ref.sinusoid64(L, D), ts = sinusoidalPositions(L, D);
    let differ = 0;
    for (let i = 0; i < L * D; i++) {
      // Within half a float ulp of the double value (plus a hair for the double's own error).
      const e = exact[i]!, ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(e) || 2 ** -126)) - 23), 2 ** -149);
      assert.ok(Math.abs(got[i]! - e) <= 0.5 * ulp * (1 + 1e-6), `sinusoid_pe ${L}x${D} element ${i}: ${got[i]} vs ${e}`);
      if (got[i] !== ts[i]) differ++;
    }
    // Both round a double within ~1e-16 of the true value: they may differ only at a float tie.
    assert.ok(differ <= Math.ceil(L * D * 1e-3), `sinusoid_pe ${L}x${D}: ${differ} elements differ from sinusoidalPositions`);
  }
});

// ------------------------------------------------------------------ determinism and agreement

/** Every kernel once, fixed inputs: the outputs by name (for bit-identity and backend agreement). */
function runAll(k: KernelBackend, reuse?: Arena): Map<string, Uint32Array> {
  const rnd = randomSource(29);
  const [B, L, D, h] = [3, 19, 24, 4];
  const N = B * L, n = N * D;
  const a = reuse ?? arenaOf(k);
  a.reset(0);
  const out = new Map<string, Uint32Array>();
  const x = put(a, rnd(n)), gam = put(a, rnd(D)), bet = put(a, rnd(D)), dy = put(a, rnd(n));
  const y = room(a, n), cache = room(a, 2 * N), dx = room(a, n), dg = room(a, D, 0), db = room(a, D, 0);
  a.call("layernorm_fwd", [x, y, gam, bet, cache, N, D], [EPS]);
  a.call("layernorm_bwd", [x, dy, gam, cache, dx, dg, db, N, D]);
  out.set("layernorm_fwd y", bits(a, y, n)).set("layernorm_fwd cache", bits(a, cache, 2 * N));
  out.set("layernorm_bwd dx", bits(a, dx, n)).set("layernorm_bwd dgamma", bits(a, dg, D)).set("layernorm_bwd dbeta", bits(a, db, D));
  const q = put(a, rnd(n, -2, 2)), kk = put(a, rnd(n, -2, 2)), v = put(a, rnd(n));
  const o = room(a, n), p = room(a, B * h * L * L), s = room(a, attnScratch(L, D, h));
  const dq = room(a, n), dk = room(a, n), dv = room(a, n);
  a.call("attention_fwd", [q, kk, v, o, p, s, B, L, D, h]);
  a.call("attention_bwd", [q, kk, v, p, dy, dq, dk, dv, s, B, L, D, h]);
  out.set("attention_fwd o", bits(a, o, n)).set("attention_fwd P", bits(a, p, B * h * L * L));
  out.set("attention_bwd dq", bits(a, dq, n)).set("attention_bwd dk", bits(a, dk, n)).set("attention_bwd dv", bits(a, dv, n));
  const r = room(a, n), dr = room(a, n);
  a.call("relu_fwd", [x, r, n]);
  a.call("relu_bwd", [r, dy, dr, n]);
  out.set("relu_fwd", bits(a, r, n)).set("relu_bwd", bits(a, dr, n));
  const pos = put(a, rnd(L * D)), dpos = room(a, L * D, 0);
  a.call("add_pos_fwd", [y, pos, B, L, D]);
  a.call("add_pos_bwd", [dy, dpos, B, L, D]);
  out.set("add_pos_fwd", bits(a, y, n)).set("add_pos_bwd", bits(a, dpos, L * D));
  const pool = room(a, B * D), dpool = room(a, n);
  a.call("mean_pool_fwd", [x, pool, B, L, D]);
  a.call("mean_pool_bwd", [gam, dpool, 1, L, D]);
  out.set("mean_pool_fwd", bits(a, pool, B * D)).set("mean_pool_bwd", bits(a, dpool, L * D));
  const pe = room(a, L * D);
  a.call("sinusoid_pe", [pe, L, D]);
  out.set("sinusoid_pe", bits(a, pe, L * D));
  return out;
}

kase("every transformer kernel gives the same bits on a repeated call (same arena and a fresh one)", (k) => {
  const a = arenaOf(k);
  const first = runAll(k, a), again = runAll(k, a), fresh = runAll(k);
  for (const [name, b] of first) {
    assert.equal(Array.from(again.get(name)!), Array.from(b), `${name}: repeated on the same arena`);
    assert.equal(Array.from(fresh.get(name)!), Array.from(b), `${name}: on a fresh arena`);
  }
});

// ------------------------------------------------------------------ run

defineBackendCases(test, CASES);

const agree = nativeKernelsAvailable() ? test : test.skip;
agree("native and wasm transformer kernels give the same bits", () => {
  const nat = runAll(loadKernels("native")), wasm = runAll(loadKernels("wasm"));
  const f = (u: Uint32Array) => Float64Array.from(new Float32Array(u.buffer, u.byteOffset, u.length));
  for (const [name, b] of nat) {
    const w = wasm.get(name)!;
    const differ = b.reduce((n, x, i) => n + (x === w[i] ? 0 : 1), 0);
    const err = relError(f(b), f(w)); // how far apart, when they are
    assert.is(differ, 0, `${name}: ${differ} of ${b.length} elements differ between native and wasm (relative error ${err.toExponential(2)})`);
  }
});

test.run();

/**
 * Helpers of the kernel contract tests (test/ml/kernel-contract.ts and the attention kernels'
 * tests): seeded random tensors, moving data in and out of an arena, tolerance checks and a
 * central finite-difference gradient of a float64 function.
 */
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import { loadKernels, nativeKernelsAvailable, type Arena, type KernelBackend } from "../../src/ml/nn/kernels.js";
import { prng } from "../helpers/prng.js";

/** A seeded source of uniform values in [lo, hi), rounded to float32 (so float64 references see the kernel's exact inputs). */
export function randomSource(seed: number): (n: number, lo?: number, hi?: number) => Float64Array {
  const r = prng(seed);
  return (n, lo = -1, hi = 1) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * r());
    return out;
  };
}

/** Allocates room for `data` in the arena, copies it there, returns the offset. */
export function put(arena: Arena, data: ArrayLike<number>): number {
  const at = arena.alloc(data.length);
  arena.f32.set(data, at);
  return at;
}

/** Allocates n floats filled with `value` (NaN by default: a kernel that forgets to write them shows). */
export function room(arena: Arena, n: number, value = Number.NaN): number {
  const at = arena.alloc(n);
  arena.f32.fill(value, at, at + n);
  return at;
}

/** n floats of the arena at `at`, as float64. */
export function get(arena: Arena, at: number, n: number): Float64Array {
  return Float64Array.from(arena.f32.subarray(at, at + n));
}

/** The raw bits of n floats at `at` (for bit-identity checks). */
export function bits(arena: Arena, at: number, n: number): Uint32Array {
  return Uint32Array.from(new Uint32Array(arena.f32.buffer, arena.f32.byteOffset + 4 * at, n));
}

/** Largest |x|. */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/**
 * Worst error of `actual` against `expected`, relative to |expected_i| + floor, where floor is
 * 1e-2·max|expected| (elements near zero are held to the tensor's scale, not their own).
 */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  const floor = 1e-2 * maxAbs(expected) + 1e-30;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (Math.abs(expected[i]!) + floor);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** Asserts relError(actual, expected) ≤ tol, naming `what` and the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  const err = relError(actual, expected);
  if (err <= tol) return;
  const floor = 1e-2 * maxAbs(expected) + 1e-30;
  let at = 0;
  for (let i = 0, w = -1; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (Math.abs(expected[i]!) + floor);
    if (!(e <= w)) (w = Number.isNaN(e) ? Infinity : e), (at = i);
  }
  assert.unreachable(`${what}: relative error ${err.toExponential(2)} > ${tol} (element ${at}: ${actual[at]} vs ${expected[at]})`);
}

/**
 * Central finite differences of a scalar function f at x, for the indexes `idx` (all when
 * omitted): (f(x + h·e_i) − f(x − h·e_i)) / 2h. x is restored after each probe.
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h: number, idx?: readonly number[]): Float64Array {
  const which = idx ?? Array.from(x, (_, i) => i);
  const out = new Float64Array(which.length);
  which.forEach((i, k) => {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const up = f(x);
    x[i] = x0 - h;
    const down = f(x);
    x[i] = x0;
    out[k] = (up - down) / (2 * h);
  });
  return out;
}

/** Up to n distinct indexes in [0, len), spread deterministically (all when len ≤ n). */
export function sampleIndexes(len: number, n: number, seed = 1): number[] {
  if (len <= n) return Array.from({ length: len }, (_, i) => i);
  const r = prng(seed);
  const s = new Set<number>();
  while (s.size < n) s.add(Math.floor(r() * len));
  return [...s].sort((a, b) => a - b);
}

/** Σ w_i·y_i in float64: the scalar "loss" whose gradient w.r.t. y is w (projects a backward check to one number). */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += w[i]! * y[i]!;
  return s;
}

/** The elements of x at idx. */
export function pick(x: ArrayLike<number>, idx: readonly number[]): Float64Array {
  return Float64Array.from(idx, (i) => x[i]!);
}

/** One backend-independent kernel check. */
export interface KernelCase {
  readonly name: string;
  run(k: KernelBackend): void | Promise<void>;
}

/**
 * Registers every case on `suite` once per backend ("native: name", "wasm: name"); the native
 * ones are test.skip, with one SKIP line, when the addon is not built.
 */
export function defineBackendCases(suite: Test, cases: readonly KernelCase[]): void {
  const native = nativeKernelsAvailable();
  if (!native) process.stdout.write("SKIP native kernels not built (scripts/build-native.mjs): wasm only\n");
  for (const kind of ["native", "wasm"] as const) {
    let backend: KernelBackend | undefined;
    for (const c of cases) {
      const name = `${kind}: ${c.name}`;
      if (kind === "native" && !native) suite.skip(name);
      else suite(name, () => c.run((backend ??= loadKernels(kind))));
    }
  }
}

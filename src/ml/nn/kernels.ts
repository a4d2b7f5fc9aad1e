/**
 * The training engine's kernels (native/nn/, contract in docs/nn-engine.md) behind one
 * interface, from either build of the same C sources:
 *
 * - "native": native/build/Release/nn.node (N-API, built by `prepare` with -march=native);
 * - "wasm":   native/nn.wasm (WebAssembly SIMD, committed; scripts/build-wasm.mjs).
 *
 * A kernel reads and writes one Arena, a Float32Array of fixed capacity; its arguments are
 * float offsets into that arena plus dims (`ia`) and float scalars (`fa`). On wasm the arena
 * IS the module's linear memory: every arena gets its own wasm instance, grown once to its
 * capacity, so its `f32` view never detaches. Nothing here is shared mutable state: a worker
 * thread that loads this module gets its own copy (the only module-level values are the
 * loaded addon and the compiled wasm module, both immutable), and its own arenas.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** The two builds of the kernels. */
export type KernelBackendKind = "native" | "wasm";

/** Compiled addon and wasm module, relative to dist/src/ml/nn/. */
const NATIVE = "../../../../native/build/Release/nn.node";
const WASM = "../../../../native/nn.wasm";
/** The install's own wasm build (`prepare` with clang), preferred over the committed one: a tracked file is never rewritten. */
const WASM_LOCAL = "../../../../native/build/nn.wasm";

/** The kernels cannot be loaded or called as asked (names the file or the kernel). */
export class KernelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KernelError";
  }
}

/** One build of the kernels, loaded; arenas are made from it. */
export interface KernelBackend {
  readonly backend: KernelBackendKind;
  /** Kernel names in id order (dispatch.c's table). */
  readonly names: readonly string[];
  /** A new, zero-filled arena of `capacity` floats. */
  arena(capacity: number): Arena;
}

/** Fixed-capacity float memory the kernels work on, with a bump allocator. */
export interface Arena {
  readonly backend: KernelBackendKind;
  /** The whole arena (valid for the arena's life). Kernel offsets index this array. */
  readonly f32: Float32Array;
  readonly capacity: number;
  /** Reserves n floats; returns their offset, a multiple of 16 (64-byte aligned). */
  alloc(n: number): number;
  /** The current allocation top, to pass to reset() later. */
  mark(): number;
  /** Frees everything allocated after `mark` (contents stay as they are). */
  reset(mark: number): void;
  /** Runs kernel `name` with integer arguments `ia` and float scalars `fa`, unchecked (see validateCall). */
  call(name: string, ia: ArrayLike<number>, fa?: ArrayLike<number>): void;
  /** Typed wrappers of the core kernels (one per kernel, arguments as in native/nn/nn.h), each call checked by validateCall. */
  readonly k: CoreKernels;
  /** Drops the arena's memory (wasm: its instance). The arena must not be used afterwards. */
  dispose(): void;
}

/** Most integer / float arguments any kernel takes (the call scratch sizes). */
const MAX_IA = 64;
const MAX_FA = 16;

/** Loads the kernels: "native" or "wasm" exactly (KernelError when absent), "auto" = native when its addon loads, else wasm. */
export function loadKernels(pref: KernelBackendKind | "auto" = "auto"): KernelBackend {
  if (pref === "native") return nativeBackend();
  if (pref === "wasm") return wasmBackend();
  if (pref !== "auto") throw new KernelError(`loadKernels: unknown backend "${String(pref)}" (native, wasm or auto)`);
  return nativeAddon() ? nativeBackend() : wasmBackend();
}

/** Whether the native addon is built and loads here (DAGBUILD_NO_NATIVE=1 hides it). */
export function nativeKernelsAvailable(): boolean {
  return nativeAddon() !== null;
}

// ------------------------------------------------------------------ native

interface NativeAddon {
  names(): string[];
  call(id: number, arena: Float32Array, ia: Int32Array, fa: Float32Array): void;
  misalignment(a: Float32Array): number;
}

let addon: NativeAddon | null | undefined; // per thread: each worker loads its own module instance

function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.DAGBUILD_NO_NATIVE === "1") return addon;
  try {
    addon = createRequire(import.meta.url)(NATIVE) as NativeAddon;
  } catch {
    addon = null; // not built (no compiler at install): the wasm build
  }
  return addon;
}

function nativeBackend(): KernelBackend {
  const a = nativeAddon();
  if (!a) throw new KernelError(`native kernels not built: ${fileURLToPath(new URL(NATIVE, import.meta.url))} (run scripts/build-native.mjs, or use the wasm backend)`);
  const names = a.names();
  const ids = idMap(names);
  return {
    backend: "native",
    names,
    arena(capacity) {
      checkCapacity(capacity, 2 ** 32);
      // Start on a 64-byte boundary (ArrayBuffers are only 16-byte aligned): offsets that are
      // multiples of 16 floats are then cache-line aligned, and AVX-512 loads run at full speed.
      const whole = new Float32Array(capacity + 16);
      const skip = a.misalignment(whole);
      const f32 = whole.subarray(skip, skip + capacity);
      const iaBuf = new Int32Array(MAX_IA);
      const faBuf = new Float32Array(MAX_FA);
      return makeArena("native", f32, (name, ia, fa) => {
        const id = kernelId(ids, name);
        const i = ia instanceof Int32Array ? ia : fill(iaBuf, ia, name, "ia");
        const f = fa instanceof Float32Array ? fa : fill(faBuf, fa ?? [], name, "fa");
        a.call(id, f32, i, f);
      }, () => undefined);
    },
  };
}

// ------------------------------------------------------------------ wasm

interface WasmExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  nn_kernel_count(): number;
  nn_kernel_name(i: number): number;
  nn_call(id: number, base: number, ia: number, fa: number): number;
}

let wasmModule: WebAssembly.Module | undefined; // compiled once per thread; immutable

function wasmBackend(): KernelBackend {
  if (!wasmModule) {
    const local = fileURLToPath(new URL(WASM_LOCAL, import.meta.url));
    const file = existsSync(local) ? local : fileURLToPath(new URL(WASM, import.meta.url));
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new KernelError(`wasm kernels missing: ${file} (${(e as Error).message}); rebuild with scripts/build-wasm.mjs`);
    }
    wasmModule = new WebAssembly.Module(Uint8Array.from(bytes));
  }
  const module = wasmModule;
  const names = wasmNames(instantiate(module));
  const ids = idMap(names);
  return {
    backend: "wasm",
    names,
    arena(capacity) {
      const ex = instantiate(module);
      // Layout after the module's data and stack: ia scratch, fa scratch, then the arena.
      const iaPtr = align(Number(ex.__heap_base.value), 64);
      const faPtr = iaPtr + 4 * MAX_IA;
      const arenaPtr = align(faPtr + 4 * MAX_FA, 64);
      checkCapacity(capacity, Math.floor((2 ** 32 - arenaPtr) / 4));
      const need = Math.ceil((arenaPtr + 4 * capacity) / 65536);
      const have = ex.memory.buffer.byteLength / 65536;
      try {
        if (need > have) ex.memory.grow(need - have);
      } catch (e) {
        throw new KernelError(`wasm arena of ${capacity} floats: memory could not grow to ${need} pages (${(e as Error).message})`);
      }
      const buf = ex.memory.buffer;
      const f32 = new Float32Array(buf, arenaPtr, capacity);
      const iaBuf = new Int32Array(buf, iaPtr, MAX_IA);
      const faBuf = new Float32Array(buf, faPtr, MAX_FA);
      let live = true;
      return makeArena("wasm", f32, (name, ia, fa) => {
        if (!live) throw new KernelError(`wasm arena used after dispose() (kernel ${name})`);
        const id = kernelId(ids, name);
        fill(iaBuf, ia, name, "ia");
        fill(faBuf, fa ?? [], name, "fa");
        ex.nn_call(id, arenaPtr, iaPtr, faPtr);
      }, () => {
        live = false;
      });
    },
  };
}

function instantiate(module: WebAssembly.Module): WasmExports {
  return new WebAssembly.Instance(module, {}).exports as unknown as WasmExports;
}

function wasmNames(ex: WasmExports): string[] {
  const bytes = new Uint8Array(ex.memory.buffer);
  const out: string[] = [];
  for (let i = 0, n = ex.nn_kernel_count(); i < n; i++) {
    const p = ex.nn_kernel_name(i);
    let e = p;
    while (bytes[e] !== 0) e++;
    out.push(Buffer.from(bytes.subarray(p, e)).toString("latin1"));
  }
  return out;
}

// ------------------------------------------------------------------ shared

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function checkCapacity(capacity: number, max: number): void {
  if (!Number.isInteger(capacity) || capacity < 0 || capacity > max)
    throw new KernelError(`arena capacity must be an integer number of floats in [0, ${max}] (got ${capacity})`);
}

function idMap(names: readonly string[]): Map<string, number> {
  return new Map(names.map((n, i) => [n, i]));
}

function kernelId(ids: Map<string, number>, name: string): number {
  const id = ids.get(name);
  if (id === undefined) throw new KernelError(`no kernel "${name}" in this build (native/nn/kernels_*.def)`);
  return id;
}

function fill<T extends Int32Array | Float32Array>(buf: T, src: ArrayLike<number>, name: string, what: string): T {
  if (src.length > buf.length) throw new KernelError(`kernel ${name}: ${src.length} ${what} arguments (at most ${buf.length})`);
  for (let i = 0; i < src.length; i++) buf[i] = src[i]!;
  return buf;
}

function makeArena(
  backend: KernelBackendKind,
  f32: Float32Array,
  run: (name: string, ia: ArrayLike<number>, fa?: ArrayLike<number>) => void,
  drop: () => void,
): Arena {
  let top = 0;
  const arena: Arena = {
    backend,
    f32,
    capacity: f32.length,
    alloc(n) {
      if (!Number.isInteger(n) || n < 0) throw new KernelError(`arena alloc: size must be a non-negative integer (got ${n})`);
      const at = top;
      if (at + n > f32.length) throw new KernelError(`arena full: ${n} floats asked at offset ${at}, capacity ${f32.length}`);
      top = Math.min(align(at + n, 16), f32.length);
      return at;
    },
    mark: () => top,
    reset(mark) {
      if (!Number.isInteger(mark) || mark < 0 || mark > top) throw new KernelError(`arena reset: mark ${mark} outside [0, ${top}]`);
      top = mark;
    },
    call: run,
    k: undefined as unknown as CoreKernels,
    dispose: drop,
  };
  (arena as { k: CoreKernels }).k = coreKernels((name, ia, fa) => {
    validateCall(name, ia, f32.length);
    run(name, ia, fa);
  });
  return arena;
}

// ------------------------------------------------------------------ typed wrappers

/** Floats of lstm_fwd's cache: gate activations [B,T,4H], cells c_t [B,T,H], tanh(c_t) [B,T,H]. */
export const lstmCacheFloats = (B: number, T: number, H: number): number => 6 * B * T * H;
/** Floats of lstm_bwd's scratch: dz [B,T,4H], recurrentᵀ [4H,H], dh and dc carries [B,H] each. */
export const lstmBwdScratchFloats = (B: number, T: number, H: number): number => 4 * B * T * H + 4 * H * H + 2 * B * H;
/** Floats of gru_fwd's cache: activations z, r, ĥ [B,T,3H], hz_h [B,T,H]. */
export const gruCacheFloats = (B: number, T: number, H: number): number => 4 * B * T * H;
/** Floats of gru_bwd's scratch: d(xz) and d(hz) [B,T,3H] each, recurrentᵀ [3H,H], dh carry [B,H]. */
export const gruBwdScratchFloats = (B: number, T: number, H: number): number => 6 * B * T * H + 3 * H * H + B * H;

/** One arena region a kernel reads or writes: argument name, offset (-1 = absent), length in floats. */
export interface KernelRegion {
  readonly arg: string;
  readonly at: number;
  readonly len: number;
}

type RegionSpec = (ia: readonly number[]) => KernelRegion[];
const R = (arg: string, at: number, len: number): KernelRegion => ({ arg, at, len });

/** The regions of each core kernel, from its ia (native/nn/nn.h). */
const REGIONS: Record<string, RegionSpec> = {
  dense_fwd: ([x, w, b, y, N, I, O]) => [R("x", x!, N! * I!), R("w", w!, I! * O!), R("b", b!, O!), R("y", y!, N! * O!)],
  dense_bwd: ([x, w, dy, dw, db, dx, N, I, O]) => [
    R("x", x!, N! * I!), R("w", w!, I! * O!), R("dy", dy!, N! * O!), R("dw", dw!, I! * O!), R("db", db!, O!), R("dx", dx!, N! * I!),
  ],
  lstm_fwd: (ia) => rnnFwdRegions(ia, 4, 4, lstmCacheFloats),
  lstm_bwd: (ia) => rnnBwdRegions(ia, 4, 4, lstmCacheFloats, lstmBwdScratchFloats),
  gru_fwd: (ia) => rnnFwdRegions(ia, 3, 6, gruCacheFloats),
  gru_bwd: (ia) => rnnBwdRegions(ia, 3, 6, gruCacheFloats, gruBwdScratchFloats),
  bce_logits: lossRegions("z", "y", "dz"),
  huber: lossRegions("p", "t", "dp"),
  mse: lossRegions("p", "t", "dp"),
  adam_step: ([p, g, m, v, n]) => [R("p", p!, n!), R("g", g!, n!), R("m", m!, n!), R("v", v!, n!)],
  zero: ([x, n]) => [R("x", x!, n!)],
  copy: ([src, dst, n]) => [R("src", src!, n!), R("dst", dst!, n!)],
  axpy: ([x, y, n]) => [R("x", x!, n!), R("y", y!, n!)],
  add: ([a, b, out, n]) => [R("a", a!, n!), R("b", b!, n!), R("out", out!, n!)],
  scale: ([x, n]) => [R("x", x!, n!)],
  last_step_fwd: ([hs, out, B, T, H]) => [R("hs", hs!, B! * T! * H!), R("out", out!, B! * H!)],
  last_step_bwd: ([dout, dhs, B, T, H]) => [R("dout", dout!, B! * H!), R("dhs", dhs!, B! * T! * H!)],
  math_probe: ([x, y, n]) => [R("x", x!, n!), R("y", y!, n!)],
  dropout: ([x, y, B, T, W]) => [R("x", x!, B! * T! * W!), R("y", y!, B! * T! * W!)],
};

function rnnFwdRegions(ia: readonly number[], gates: number, biasPerH: number, cache: (B: number, T: number, H: number) => number): KernelRegion[] {
  const [x, k, r, b, hs, c, B, T, I, H] = ia;
  return [R("x", x!, B! * T! * I!), R("kernel", k!, I! * gates * H!), R("recurrent", r!, H! * gates * H!), R("bias", b!, biasPerH * H!),
    R("hs", hs!, B! * T! * H!), R("cache", c!, cache(B!, T!, H!))];
}

function rnnBwdRegions(ia: readonly number[], gates: number, biasPerH: number, cache: (B: number, T: number, H: number) => number, scratch: (B: number, T: number, H: number) => number): KernelRegion[] {
  const [x, k, r, hs, c, dhs, dk, dr, db, dx, sc, B, T, I, H] = ia;
  const G = gates * H!;
  return [R("x", x!, B! * T! * I!), R("kernel", k!, I! * G), R("recurrent", r!, H! * G), R("hs", hs!, B! * T! * H!), R("cache", c!, cache(B!, T!, H!)),
    R("dhs", dhs!, B! * T! * H!), R("dkernel", dk!, I! * G), R("drecurrent", dr!, H! * G), R("dbias", db!, biasPerH * H!),
    R("dx", dx!, B! * T! * I!), R("scratch", sc!, scratch(B!, T!, H!))];
}

function lossRegions(a: string, b: string, d: string): RegionSpec {
  return ([p, t, dp, loss, N]) => [R(a, p!, N!), R(b, t!, N!), R(d, dp!, N!), R("loss", loss!, 1)];
}

/**
 * Checks a core kernel's arguments against an arena of `capacity` floats: every dim a
 * non-negative integer, every present region (offset ≥ 0) inside the arena. Throws a
 * KernelError naming the kernel and the argument. Kernels themselves never check (a bad
 * offset corrupts memory), so callers that prepare calls validate them once with this; the
 * typed wrappers (Arena.k) check every call. Kernels without a region list (the transformer
 * kernels of kernels_attn.def) pass unchecked.
 */
export function validateCall(name: string, ia: ArrayLike<number>, capacity: number): void {
  const spec = REGIONS[name];
  if (!spec) return;
  for (let i = 0; i < ia.length; i++)
    if (!Number.isInteger(ia[i]) || ia[i]! < -1 || ia[i]! > 2 ** 31 - 1) throw new KernelError(`kernel ${name}: ia[${i}] = ${ia[i]} is not an offset or dim`);
  for (const { arg, at, len } of spec(Array.from(ia))) {
    if (!Number.isInteger(len) || len < 0) throw new KernelError(`kernel ${name}: ${arg} has a bad size ${len} (dims ${Array.from(ia).join(", ")})`);
    if (at === -1 || len === 0) continue;
    if (at < 0 || at + len > capacity) throw new KernelError(`kernel ${name}: ${arg} [${at}, ${at + len}) is outside the arena of ${capacity} floats`);
  }
}

/**
 * One method per core kernel; every pointer argument is a float offset into the arena, -1
 * where the kernel allows "absent". Parameter gradients accumulate (+=), dX and loss
 * gradients are written. See native/nn/nn.h for the full contract of each.
 */
export interface CoreKernels {
  /** y[N,O] = x[N,I]·w[I,O] + b (b = -1: none). */
  denseFwd(x: number, w: number, b: number, y: number, N: number, I: number, O: number): void;
  /** dw += xᵀ·dy; db += Σ dy (db = -1: none); dx = dy·wᵀ written (dx = -1: skip). */
  denseBwd(x: number, w: number, dy: number, dw: number, db: number, dx: number, N: number, I: number, O: number): void;
  /** LSTM (gates i,f,c,o) over x[B,T,I] → hs[B,T,H]; cache: lstmCacheFloats(B,T,H). */
  lstmFwd(x: number, kernel: number, recurrent: number, bias: number, hs: number, cache: number, B: number, T: number, I: number, H: number): void;
  /** Backward of lstmFwd from dhs[B,T,H]; dx[B,T,I] written (-1: skip); scratch: lstmBwdScratchFloats(B,T,H). */
  lstmBwd(x: number, kernel: number, recurrent: number, hs: number, cache: number, dhs: number, dkernel: number, drecurrent: number, dbias: number, dx: number, scratch: number, B: number, T: number, I: number, H: number): void;
  /** GRU (Keras reset_after; gates z,r,h; bias [2,3H]) over x[B,T,I] → hs[B,T,H]; cache: gruCacheFloats(B,T,H). */
  gruFwd(x: number, kernel: number, recurrent: number, bias: number, hs: number, cache: number, B: number, T: number, I: number, H: number): void;
  /** Backward of gruFwd; as lstmBwd, scratch: gruBwdScratchFloats(B,T,H). */
  gruBwd(x: number, kernel: number, recurrent: number, hs: number, cache: number, dhs: number, dkernel: number, drecurrent: number, dbias: number, dx: number, scratch: number, B: number, T: number, I: number, H: number): void;
  /** loss[0] = Σ BCE(z, y) (plain sum); dz = scale·(σ(z) − y) written (-1: skip). */
  bceLogits(z: number, y: number, dz: number, loss: number, N: number, scale: number): void;
  /** loss[0] = Σ Huber_δ(p − t); dp = scale·clamp(p − t, ±δ) written (-1: skip). */
  huber(p: number, t: number, dp: number, loss: number, N: number, scale: number, delta: number): void;
  /** loss[0] = Σ (p − t)²; dp = scale·2(p − t) written (-1: skip). */
  mse(p: number, t: number, dp: number, loss: number, N: number, scale: number): void;
  /** One Adam step (t ≥ 1, bias-corrected) on n floats; weightDecay is decoupled (AdamW). */
  adamStep(p: number, g: number, m: number, v: number, n: number, t: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay?: number): void;
  zero(x: number, n: number): void;
  copy(src: number, dst: number, n: number): void;
  /** y += a·x */
  axpy(x: number, y: number, n: number, a: number): void;
  /** out = a + b (out may be a or b) */
  add(a: number, b: number, out: number, n: number): void;
  /** x *= s */
  scale(x: number, n: number, s: number): void;
  /** out[B,H] = hs[:, T-1, :] */
  lastStepFwd(hs: number, out: number, B: number, T: number, H: number): void;
  /** dhs[:, T-1, :] += dout[B,H] */
  lastStepBwd(dout: number, dhs: number, B: number, T: number, H: number): void;
  /**
   * Inverted dropout y = x·m on [B,T,W] (y may be x; the backward is the same call on the
   * gradient): m = scale or 0 from the hash of (key, site, first + b, t0 + t, j) (src/ml/nn/dropout.ts).
   */
  dropout(x: number, y: number, B: number, T: number, W: number, key: number, site: number, first: number, t0: number, p: number, scale: number): void;
}

function coreKernels(run: (name: string, ia: ArrayLike<number>, fa?: ArrayLike<number>) => void): CoreKernels {
  return {
    denseFwd: (x, w, b, y, N, I, O) => run("dense_fwd", [x, w, b, y, N, I, O]),
    denseBwd: (x, w, dy, dw, db, dx, N, I, O) => run("dense_bwd", [x, w, dy, dw, db, dx, N, I, O]),
    lstmFwd: (x, k, r, b, hs, cache, B, T, I, H) => run("lstm_fwd", [x, k, r, b, hs, cache, B, T, I, H]),
    lstmBwd: (x, k, r, hs, cache, dhs, dk, dr, db, dx, s, B, T, I, H) => run("lstm_bwd", [x, k, r, hs, cache, dhs, dk, dr, db, dx, s, B, T, I, H]),
    gruFwd: (x, k, r, b, hs, cache, B, T, I, H) => run("gru_fwd", [x, k, r, b, hs, cache, B, T, I, H]),
    gruBwd: (x, k, r, hs, cache, dhs, dk, dr, db, dx, s, B, T, I, H) => run("gru_bwd", [x, k, r, hs, cache, dhs, dk, dr, db, dx, s, B, T, I, H]),
    bceLogits: (z, y, dz, loss, N, scale) => run("bce_logits", [z, y, dz, loss, N], [scale]),
    huber: (p, t, dp, loss, N, scale, delta) => run("huber", [p, t, dp, loss, N], [scale, delta]),
    mse: (p, t, dp, loss, N, scale) => run("mse", [p, t, dp, loss, N], [scale]),
    adamStep: (p, g, m, v, n, t, lr, b1, b2, eps, wd = 0) => run("adam_step", [p, g, m, v, n, t], [lr, b1, b2, eps, wd]),
    zero: (x, n) => run("zero", [x, n]),
    copy: (src, dst, n) => run("copy", [src, dst, n]),
    axpy: (x, y, n, a) => run("axpy", [x, y, n], [a]),
    add: (a, b, out, n) => run("add", [a, b, out, n]),
    scale: (x, n, s) => run("scale", [x, n], [s]),
    lastStepFwd: (hs, out, B, T, H) => run("last_step_fwd", [hs, out, B, T, H]),
    lastStepBwd: (dout, dhs, B, T, H) => run("last_step_bwd", [dout, dhs, B, T, H]),
    dropout: (x, y, B, T, W, key, site, first, t0, p, scale) => run("dropout", [x, y, B, T, W, key, site, first, t0], [p, scale]),
  };
}

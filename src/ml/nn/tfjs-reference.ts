/**
 * The TensorFlow.js reference implementation of every model in docs/nn-engine.md, written with
 * raw tf ops (matMul, sigmoid, tanh, softmax, ...) rather than tf.layers: the layers default to
 * a hard-sigmoid recurrent activation and keep their own weight layout, and the point of a
 * reference is that each line can be read against the contract. Our C engine is tested against
 * it (forward and gradients), the ONNX export is tested against it, and it is the GPU path:
 * when `@tensorflow/tfjs-node-gpu` can be imported, the same code trains there.
 *
 * Every function takes the `tf` namespace as an argument, so one module serves the cpu, wasm
 * and tfjs-node-gpu builds (they are different module instances with different backends).
 * Parameters travel as one flat Float32Array in `paramLayout(config)` order; gradients come
 * back in the same layout.
 */
import type * as TfNs from "@tensorflow/tfjs";
import { headWidth, paramLayout, paramView, sinusoidalPositions, type ModelConfig, type RecurrentConfig, type TransformerConfig } from "./config.js";
import { mulberry32 } from "../../engine/prng.js";
import { dropoutKey, dropoutMultipliers, dropoutRate, type DropoutMask, type MaskShape } from "./dropout.js";

/** The TensorFlow.js namespace (any build: @tensorflow/tfjs or @tensorflow/tfjs-node-gpu). */
export type Tf = typeof TfNs;
type Tensor = TfNs.Tensor;
type Tensor2D = TfNs.Tensor2D;
type Tensor3D = TfNs.Tensor3D;

/** Which backend to ask for: `auto` tries the GPU, then wasm, then the pure-JS cpu backend. */
export type TfjsPreference = "auto" | "gpu" | "wasm" | "cpu";

/** A loaded TensorFlow.js and the backend it runs on (recorded in metrics.json). */
export interface LoadedTfjs {
  readonly tf: Tf;
  /** "tensorflow" (tfjs-node-gpu), "wasm" or "cpu". */
  readonly backend: string;
  /** Why a preferred backend was not used, one line each (empty when the first choice worked). */
  readonly fallbacks: readonly string[];
}

/** Imports a module by a computed name, so tsc does not need it installed (optional deps). */
async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

/**
 * Loads TensorFlow.js on the best available backend. `gpu` and `auto` first try
 * `@tensorflow/tfjs-node-gpu` (an optional dependency: it is imported at run time only);
 * `auto` and `wasm` then try @tensorflow/tfjs-backend-wasm; everything ends at the cpu backend.
 * Never throws for a missing backend: `fallbacks` says what was tried and why it failed.
 */
export async function loadTfjs(pref: TfjsPreference = "auto"): Promise<LoadedTfjs> {
  const fallbacks: string[] = [];
  if (pref === "auto" || pref === "gpu") {
    try {
      const mod = (await importOptional("@tensorflow/tfjs-node-gpu")) as { ready?: unknown; default?: Tf };
      const tf = (typeof mod.ready === "function" ? mod : mod.default) as Tf;
      await tf.ready();
      return { tf, backend: tf.getBackend(), fallbacks };
    } catch (e) {
      fallbacks.push(`@tensorflow/tfjs-node-gpu: ${firstLine(e)}`);
    }
  }
  const tf = (await import("@tensorflow/tfjs")) as Tf;
  if (pref === "auto" || pref === "gpu" || pref === "wasm") {
    try {
      await import("@tensorflow/tfjs-backend-wasm");
      if (!(await tf.setBackend("wasm"))) throw new Error("setBackend('wasm') returned false");
      await tf.ready();
      return { tf, backend: tf.getBackend(), fallbacks };
    } catch (e) {
      fallbacks.push(`@tensorflow/tfjs-backend-wasm: ${firstLine(e)}`);
    }
  }
  await tf.setBackend("cpu");
  await tf.ready();
  // PROD silences the cpu backend's "install tfjs-node" banner on first use (it would land in
  // the progress display); it changes no numerics.
  tf.env().set("PROD", true);
  return { tf, backend: tf.getBackend(), fallbacks };
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0]!;
}

/** The loss settings (docs/nn-engine.md, "Losses"). */
export interface LossOptions {
  /** Huber (δ = 1) or mean squared error for the magnitude head. Default "huber". */
  readonly magnitudeLoss?: "huber" | "mse";
  /** The magnitude loss's weight in the total. Default 0.5. */
  readonly magnitudeWeight?: number;
  /** referenceLossAndGrads only: train mode with this dropout mask (configs with dropout); absent = evaluation mode. */
  readonly mask?: DropoutMask;
}

/** Named parameter tensors, keyed by paramSpecs names. */
export type ParamTensors = ReadonlyMap<string, Tensor>;

/** One tensor per paramSpec, in layout order (copies of the flat vector's slices). */
export function paramTensors(tf: Tf, config: ModelConfig, flat: Float32Array): Tensor[] {
  const layout = paramLayout(config);
  if (flat.length !== layout.total) throw new Error(`parameter vector has ${flat.length} floats; the ${config.kind} config needs ${layout.total}`);
  return layout.specs.map((s) => tf.tensor(paramView(layout, flat, s.name).slice(), [...s.shape]));
}

function byName(config: ModelConfig, tensors: readonly Tensor[]): ParamTensors {
  const specs = paramLayout(config).specs;
  return new Map(specs.map((s, i) => [s.name, tensors[i]!]));
}

function get(p: ParamTensors, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`model has no parameter "${name}"`);
  return t;
}

/** x [B, L, I] · W [I, K] + b → [B, L, K] (b broadcasts over B and L). */
function dense3(tf: Tf, x: Tensor3D, w: Tensor, b: Tensor | null): Tensor3D {
  const [B, L, I] = x.shape;
  const K = w.shape[1]!;
  let y = tf.matMul(tf.reshape(x, [B * L, I]), w as Tensor2D) as Tensor;
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [B, L, K]);
}

/**
 * [B, L, K] as L tensors [B, K]. One unstack rather than a slice per step: a slice's gradient
 * pads back to the full [B, L, K], so L slices would cost L full-size tensors in the backward pass.
 */
function steps(tf: Tf, z: Tensor3D): Tensor2D[] {
  return tf.unstack(z, 1) as Tensor2D[];
}

/** One LSTM layer over x [B, L, I]: the whole hidden sequence [B, L, H] and the last h. */
function lstmLayer(tf: Tf, x: Tensor3D, k: Tensor, rk: Tensor, bias: Tensor, H: number): { seq: Tensor3D; last: Tensor2D } {
  const [B, L] = x.shape;
  // The input projection of all steps in one matMul; only h·recurrent_kernel is sequential.
  const xz = steps(tf, dense3(tf, x, k, bias));
  let h = tf.zeros([B, H]) as Tensor2D;
  let c = tf.zeros([B, H]) as Tensor2D;
  const hs: Tensor2D[] = [];
  for (let t = 0; t < L; t++) {
    const z = tf.add(xz[t]!, tf.matMul(h, rk as Tensor2D));
    const [zi, zf, zc, zo] = tf.split(z, 4, 1); // gate order i, f, c, o
    const i = tf.sigmoid(zi!);
    const f = tf.sigmoid(zf!);
    const g = tf.tanh(zc!);
    const o = tf.sigmoid(zo!);
    c = tf.add(tf.mul(f, c), tf.mul(i, g)) as Tensor2D;
    h = tf.mul(o, tf.tanh(c)) as Tensor2D;
    hs.push(h);
  }
  return { seq: tf.stack(hs, 1) as Tensor3D, last: h };
}

/** One GRU layer (reset_after): the whole hidden sequence [B, L, H] and the last h. */
function gruLayer(tf: Tf, x: Tensor3D, k: Tensor, rk: Tensor, bias: Tensor, H: number): { seq: Tensor3D; last: Tensor2D } {
  const [B, L] = x.shape;
  const [bIn, bRec] = tf.unstack(bias, 0); // bias [2, 3H]: row 0 input, row 1 recurrent
  const xz = steps(tf, dense3(tf, x, k, bIn!));
  let h = tf.zeros([B, H]) as Tensor2D;
  const hs: Tensor2D[] = [];
  for (let t = 0; t < L; t++) {
    const hz = tf.add(tf.matMul(h, rk as Tensor2D), bRec!);
    const [xzz, xzr, xzh] = tf.split(xz[t]!, 3, 1); // gate order z, r, h
    const [hzz, hzr, hzh] = tf.split(hz, 3, 1);
    const z = tf.sigmoid(tf.add(xzz!, hzz!));
    const r = tf.sigmoid(tf.add(xzr!, hzr!));
    const hh = tf.tanh(tf.add(xzh!, tf.mul(r, hzh!)));
    h = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), hh)) as Tensor2D;
    hs.push(h);
  }
  return { seq: tf.stack(hs, 1) as Tensor3D, last: h };
}

/**
 * Training mode's dropout: t · m with the kernels' multipliers (src/ml/nn/dropout.ts) for `site`
 * over t's [B, T, W] (t0: the time index of its first row); t itself without a mask or a rate.
 */
function dropout<T extends Tensor>(tf: Tf, c: ModelConfig, mask: DropoutMask | undefined, t: T, site: number, shape: MaskShape): T {
  const p = dropoutRate(c);
  if (!mask || p === 0) return t;
  return tf.mul(t, tf.tensor(dropoutMultipliers(p, mask, site, shape), t.shape)) as T;
}

function recurrentBody(tf: Tf, c: RecurrentConfig, p: ParamTensors, x: Tensor3D, mask?: DropoutMask): Tensor2D {
  const [B, L] = x.shape;
  let seq = x;
  let last: Tensor2D | undefined;
  for (let l = 0; l < c.layers; l++) {
    const n = `${c.kind}${l}`;
    const layer = c.kind === "lstm" ? lstmLayer : gruLayer;
    ({ seq, last } = layer(tf, seq, get(p, `${n}.kernel`), get(p, `${n}.recurrent_kernel`), get(p, `${n}.bias`), c.units));
    // Between layers every step's output is masked; the top layer's last step feeds the heads.
    if (l < c.layers - 1) seq = dropout(tf, c, mask, seq, l, { B, T: L, W: c.units });
  }
  return dropout(tf, c, mask, last!, c.layers - 1, { B, T: 1, W: c.units, t0: L - 1 });
}

/** LayerNorm over the last axis, eps 1e-5, biased variance. */
function layerNorm(tf: Tf, x: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const d = tf.sub(x, mean);
  const variance = tf.mean(tf.square(d), axis, true);
  return tf.add(tf.mul(tf.div(d, tf.sqrt(tf.add(variance, 1e-5))), gamma), beta);
}

/** Multi-head self-attention on a [B, L, D] (no mask). */
function attention(tf: Tf, a: Tensor3D, p: ParamTensors, n: string, heads: number): Tensor3D {
  const [B, L, D] = a.shape;
  const dh = D / heads;
  // [B, L, D] → [B, heads, L, dh]: head h takes columns h·dh .. (h+1)·dh − 1.
  const split = (t: Tensor3D) => tf.transpose(tf.reshape(t, [B, L, heads, dh]), [0, 2, 1, 3]);
  const q = split(dense3(tf, a, get(p, `${n}.wq`), get(p, `${n}.bq`)));
  const k = split(dense3(tf, a, get(p, `${n}.wk`), get(p, `${n}.bk`)));
  const v = split(dense3(tf, a, get(p, `${n}.wv`), get(p, `${n}.bv`)));
  const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh));
  const ctx = tf.matMul(tf.softmax(scores, -1), v); // [B, heads, L, dh]
  const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B, L, D]) as Tensor3D;
  return dense3(tf, merged, get(p, `${n}.wo`), get(p, `${n}.bo`));
}

function transformerBody(tf: Tf, c: TransformerConfig, p: ParamTensors, X: Tensor3D, mask?: DropoutMask): Tensor2D {
  const [B, L] = X.shape;
  const D = c.d_model;
  let x = dense3(tf, X, get(p, "proj.kernel"), get(p, "proj.bias"));
  const pos = c.pos === "learned" ? get(p, "pos.embedding") : tf.tensor2d(sinusoidalPositions(L, D), [L, D]);
  x = tf.add(x, pos) as Tensor3D;
  for (let l = 0; l < c.layers; l++) {
    const n = `enc${l}`;
    const a = layerNorm(tf, x, get(p, `${n}.ln1.gamma`), get(p, `${n}.ln1.beta`)) as Tensor3D;
    const rows = { B, T: L, W: D };
    x = tf.add(x, dropout(tf, c, mask, attention(tf, a, p, `${n}.attn`, c.heads), 2 * l, rows)) as Tensor3D;
    const b = layerNorm(tf, x, get(p, `${n}.ln2.gamma`), get(p, `${n}.ln2.beta`)) as Tensor3D;
    const hidden = tf.relu(dense3(tf, b, get(p, `${n}.ff1.kernel`), get(p, `${n}.ff1.bias`))) as Tensor3D;
    x = tf.add(x, dropout(tf, c, mask, dense3(tf, hidden, get(p, `${n}.ff2.kernel`), get(p, `${n}.ff2.bias`)), 2 * l + 1, rows)) as Tensor3D;
  }
  x = layerNorm(tf, x, get(p, "final_ln.gamma"), get(p, "final_ln.beta")) as Tensor3D;
  return (c.pool === "last" ? tf.reshape(tf.slice(x, [0, L - 1, 0], [B, 1, D]), [B, D]) : tf.mean(x, 1)) as Tensor2D;
}

/**
 * The model as tf ops: the sign logit [B] and, with `magnitude`, the magnitude [B]. With `mask`
 * it runs in training mode (the config's dropout, the kernels' masks: x's row b is batch
 * position mask.first + b); without, in evaluation mode (dropout is the identity).
 */
export function forwardTensors(tf: Tf, config: ModelConfig, p: ParamTensors, x: Tensor3D, mask?: DropoutMask): { logit: Tensor; mag?: Tensor } {
  const rep = config.kind === "transformer" ? transformerBody(tf, config, p, x, mask) : recurrentBody(tf, config, p, x, mask);
  const B = x.shape[0];
  const head = (n: string) => tf.reshape(tf.add(tf.matMul(rep, get(p, `${n}.kernel`) as Tensor2D), get(p, `${n}.bias`)), [B]);
  const W = headWidth(config);
  if (rep.shape[1] !== W) throw new Error(`internal: head input has width ${rep.shape[1]}, expected ${W}`);
  return config.magnitude ? { logit: head("head_sign"), mag: head("head_mag") } : { logit: head("head_sign") };
}

/** The training loss (docs/nn-engine.md "Losses") as a scalar tensor. */
export function lossTensor(tf: Tf, config: ModelConfig, out: { logit: Tensor; mag?: Tensor }, ySign: Tensor, yMag: Tensor | null, opts: LossOptions = {}): TfNs.Scalar {
  const z = out.logit;
  // max(z,0) − z·y + log(1 + e^{−|z|}): the stable form of BCE on a logit.
  const bce = tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, ySign)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))));
  if (!config.magnitude) return bce as TfNs.Scalar;
  if (!out.mag || !yMag) throw new Error("a magnitude model needs magnitude targets (yMag)");
  const d = tf.sub(out.mag, yMag);
  const ad = tf.abs(d);
  // Huber, δ = 1: ½d² where |d| ≤ 1, |d| − ½ beyond; with q = min(|d|, 1) that is ½q² + |d| − q
  // (tf.where has no gradient through its condition in tfjs, min does).
  const q = tf.minimum(ad, 1);
  const per = (opts.magnitudeLoss ?? "huber") === "mse" ? tf.square(d) : tf.add(tf.mul(0.5, tf.square(q)), tf.sub(ad, q));
  return tf.add(bce, tf.mul(opts.magnitudeWeight ?? 0.5, tf.mean(per))) as TfNs.Scalar;
}

function checkInput(config: ModelConfig, X: Float32Array, n: number): void {
  const per = config.seq_len * config.n_features;
  if (X.length < n * per) throw new Error(`X has ${X.length} floats; ${n} samples of [${config.seq_len}, ${config.n_features}] need ${n * per}`);
}

/** The reference forward pass: X is [n, L, F] row-major; `sign` holds the logits. */
export function referenceForward(tf: Tf, config: ModelConfig, flatParams: Float32Array, X: Float32Array, n: number): { sign: Float32Array; mag?: Float32Array } {
  checkInput(config, X, n);
  return tf.tidy(() => {
    const p = byName(config, paramTensors(tf, config, flatParams));
    const x = tf.tensor3d(X.subarray(0, n * config.seq_len * config.n_features).slice(), [n, config.seq_len, config.n_features]);
    const out = forwardTensors(tf, config, p, x);
    const sign = out.logit.dataSync() as Float32Array;
    return out.mag ? { sign: Float32Array.from(sign), mag: Float32Array.from(out.mag.dataSync() as Float32Array) } : { sign: Float32Array.from(sign) };
  });
}

/**
 * The loss on one batch and its gradient with respect to every parameter, flat in
 * paramLayout order. ySign holds 0/1 labels; yMag the (scaled) magnitude targets when the
 * config has a magnitude head.
 */
export function referenceLossAndGrads(
  tf: Tf,
  config: ModelConfig,
  flatParams: Float32Array,
  X: Float32Array,
  ySign: Float32Array,
  yMag: Float32Array | null,
  opts: LossOptions = {},
): { loss: number; grads: Float32Array } {
  const n = ySign.length;
  checkInput(config, X, n);
  const layout = paramLayout(config);
  return tf.tidy(() => {
    const params = paramTensors(tf, config, flatParams);
    const x = tf.tensor3d(X.subarray(0, n * config.seq_len * config.n_features).slice(), [n, config.seq_len, config.n_features]);
    const ys = tf.tensor1d(ySign.slice());
    const ym = config.magnitude ? tf.tensor1d((yMag ?? new Float32Array(n)).subarray(0, n).slice()) : null;
    if (config.magnitude && !yMag) throw new Error("a magnitude model needs magnitude targets (yMag)");
    const f = (...ps: Tensor[]) => lossTensor(tf, config, forwardTensors(tf, config, byName(config, ps), x, opts.mask), ys, ym, opts);
    const { value, grads } = tf.valueAndGrads(f)(params);
    const flat = new Float32Array(layout.total);
    layout.specs.forEach((s, i) => flat.set(grads[i]!.dataSync() as Float32Array, layout.offsets.get(s.name)!));
    return { loss: value.dataSync()[0]!, grads: flat };
  });
}

/** A training set: X [n, L, F] row-major, sign labels 0/1 and (scaled) magnitude targets. */
export interface TrainData {
  readonly X: Float32Array;
  readonly ySign: Float32Array;
  readonly yMag?: Float32Array;
  readonly n: number;
}

/** Settings for referenceTrain. */
export interface ReferenceTrainOptions extends LossOptions {
  readonly epochs: number;
  readonly batchSize: number;
  /** Adam's learning rate (default 1e-3); β1 0.9, β2 0.999 as everywhere. */
  readonly learningRate?: number;
  /** Adam's ε (default 1e-8, as PyTorch; TensorFlow.js would default to 1e-7). */
  readonly epsilon?: number;
  /**
   * The trainer's seed: each epoch reshuffles one running order with mulberry32(seed ^ 0x5eed),
   * exactly as trainer.ts does, so both see the same batches. Omit to keep the data's order.
   */
  readonly shuffleSeed?: number;
  /** At most this many samples per epoch: the head of the epoch's order (as the trainer). */
  readonly maxTrainSamples?: number;
  /** Called after each epoch. */
  readonly onEpoch?: (e: { epoch: number; loss: number; seconds: number; samplesPerSec: number }) => void;
}

/** What referenceTrain returns. */
export interface ReferenceTrainResult {
  readonly params: Float32Array;
  /** Mean train loss per epoch (weighted by batch size). */
  readonly epochLosses: number[];
  readonly seconds: number;
  readonly samplesPerSec: number;
  readonly backend: string;
}


/** Fisher-Yates shuffle in place (the same draws as trainer.ts's shuffleInPlace). */
function shuffleInPlace(order: Uint32Array, rand: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
}

/**
 * Mini-batch Adam training with tf.train.adam: the benchmark peer and the GPU path. Batches are
 * consecutive runs of `batchSize` samples (the last one may be short) of the epoch's order: the
 * data's order, or with `shuffleSeed` the trainer's seeded shuffle (trainer.ts), so with the
 * same seed, batch size and initial parameters both engines take the same steps (a config with
 * dropout trains under the trainer's masks, keyed by shuffleSeed, 0 without). Magnitude
 * targets are used as given: pass yMag / magScale to match the trainer.
 */
export function referenceTrain(tf: Tf, config: ModelConfig, initial: Float32Array, data: TrainData, opts: ReferenceTrainOptions): ReferenceTrainResult {
  const per = config.seq_len * config.n_features;
  checkInput(config, data.X, data.n);
  if (config.magnitude && !data.yMag) throw new Error("a magnitude model needs magnitude targets (yMag)");
  const layout = paramLayout(config);
  const vars = paramTensors(tf, config, initial).map((t, i) => {
    const v = tf.variable(t, true, `p${i}_${layout.specs[i]!.name}`);
    t.dispose();
    return v;
  });
  const p = byName(config, vars);
  const opt = tf.train.adam(opts.learningRate ?? 1e-3, 0.9, 0.999, opts.epsilon ?? 1e-8);
  const epochLosses: number[] = [];
  const t0 = performance.now();
  const xb = new Float32Array(opts.batchSize * per);
  const sb = new Float32Array(opts.batchSize);
  const mb = new Float32Array(opts.batchSize);
  const order = new Uint32Array(data.n);
  for (let i = 0; i < data.n; i++) order[i] = i;
  const rand = opts.shuffleSeed === undefined ? null : mulberry32(opts.shuffleSeed ^ 0x5eed);
  const perEpoch = Math.min(data.n, opts.maxTrainSamples ?? Infinity);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const te = performance.now();
    if (rand) shuffleInPlace(order, rand);
    let sum = 0;
    for (let at = 0, step = 0; at < perEpoch; at += opts.batchSize, step++) {
      const b = Math.min(opts.batchSize, perEpoch - at);
      // The trainer's dropout masks: key of (seed, 1-based epoch, batch of the epoch).
      const mask = { key: dropoutKey(opts.shuffleSeed ?? 0, epoch + 1, step), first: 0 };
      for (let i = 0; i < b; i++) {
        const s = order[at + i]!;
        xb.set(data.X.subarray(s * per, (s + 1) * per), i * per);
        sb[i] = data.ySign[s]!;
        if (data.yMag) mb[i] = data.yMag[s]!;
      }
      const loss = tf.tidy(() => {
        const x = tf.tensor3d(xb.slice(0, b * per), [b, config.seq_len, config.n_features]);
        const ys = tf.tensor1d(sb.slice(0, b));
        const ym = config.magnitude ? tf.tensor1d(mb.slice(0, b)) : null;
        return opt.minimize(() => lossTensor(tf, config, forwardTensors(tf, config, p, x, mask), ys, ym, opts), true, vars)!;
      });
      sum += loss.dataSync()[0]! * b;
      loss.dispose();
    }
    epochLosses.push(sum / perEpoch);
    const seconds = (performance.now() - te) / 1000;
    opts.onEpoch?.({ epoch, loss: sum / perEpoch, seconds, samplesPerSec: perEpoch / seconds });
  }
  const seconds = (performance.now() - t0) / 1000;
  const params = new Float32Array(layout.total);
  layout.specs.forEach((s, i) => params.set(vars[i]!.dataSync() as Float32Array, layout.offsets.get(s.name)!));
  for (const v of vars) v.dispose();
  opt.dispose();
  return { params, epochLosses, seconds, samplesPerSec: (perEpoch * opts.epochs) / seconds, backend: tf.getBackend() };
}

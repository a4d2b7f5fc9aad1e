/**
 * The training loop of the CPU engine: Adam over seeded mini-batches, early stopping on
 * validation AUC with the best epoch's weights kept, and prediction. The heavy lifting is in
 * model.ts (the kernels, one chunk of samples at a time) and pool.ts (chunks spread over
 * worker threads, gradients summed in chunk order); this file only orders the work, so
 * everything it computes is a pure function of the data, the config and the seed, whatever
 * the thread count.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { rocAuc } from "../metrics.js";
import { mulberry32 } from "../../engine/prng.js";
import { configProblems, initParams, paramLayout, type ModelConfig } from "./config.js";
import { dropoutKey } from "./dropout.js";
import { createAdam, DEFAULT_CHUNK, type AdamState, type Backend } from "./model.js";
import { JOB_PREDICT, JOB_TRAIN, LOSS_SLOTS, TrainPool } from "./pool.js";

/** One split: X [n, L, F] row-major, sign labels 0/1, magnitude targets (raw units). */
export interface Split {
  readonly X: Float32Array;
  readonly ySign: Uint8Array;
  readonly yMag: Float32Array;
  readonly n: number;
}

/** The training and validation splits. */
export interface TrainData {
  readonly train: Split;
  readonly validation: Split;
}

/** One line of train_log.jsonl. */
export interface EpochLog {
  /** 1-based. */
  readonly epoch: number;
  /** Mean training loss over the epoch's samples (as computed during the updates). */
  readonly train_loss: number;
  /** Mean validation loss with the epoch's final weights. */
  readonly val_loss: number;
  readonly val_auc: number;
  /** Wall time of the epoch, validation included. */
  readonly seconds: number;
  /** Training samples per second of the epoch's update phase. */
  readonly samples_per_s: number;
}

/** Training settings. */
export interface TrainOptions {
  readonly seed: number;
  /** The most epochs to run. */
  readonly epochs: number;
  /** Mini-batch size (default 256). */
  readonly batch?: number;
  /** Adam's learning rate (default 1e-3; β1 0.9, β2 0.999, ε 1e-8). */
  readonly lr?: number;
  /** Stop after this many epochs without a better validation AUC (default: never stop early). */
  readonly patience?: number;
  /** Threads in all, the main thread included (default 1). */
  readonly threads?: number;
  /** Kernel backend (default "auto": native when built, else wasm). */
  readonly backend?: Backend | "auto";
  readonly magnitudeLoss?: "huber" | "mse";
  /** Weight of the magnitude loss in the total (default 0.5). */
  readonly magnitudeWeight?: number;
  /** At most this many training samples per epoch (the head of each epoch's shuffled order). */
  readonly maxTrainSamples?: number;
  /** Samples per chunk of data parallelism (default DEFAULT_CHUNK); part of the result. */
  readonly chunk?: number;
  /** Initial parameters (default initParams(config, seed)). */
  readonly initial?: Float32Array;
  readonly signal?: AbortSignal;
  readonly onEpoch?: (e: EpochLog) => void;
}

/** What trainModel returns. */
export interface TrainResult {
  /** The best epoch's parameters (paramLayout order). */
  readonly params: Float32Array;
  /** 1-based epoch whose weights were kept. */
  readonly bestEpoch: number;
  readonly epochs: EpochLog[];
  readonly backend: Backend;
  readonly threads: number;
  /** Samples per chunk of data parallelism (part of the result: another chunk size rounds differently). */
  readonly chunk: number;
  /** Wall time of the whole training, validation included. */
  readonly seconds: number;
  /** Training samples per second over all update phases. */
  readonly samplesPerSec: number;
  /** The training split's standard deviation of yMag; the magnitude head predicts yMag / magScale (1 without a head). */
  readonly magScale: number;
  /** The kept epoch's validation predictions, as predict() gives them for `params` (magnitude in raw units). */
  readonly validation: { sign: Float32Array; mag?: Float32Array };
}

/** A problem with the training inputs, naming the field. */
export class TrainInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainInputError";
  }
}

/** How often a training loop lets the event loop run. */
const YIELD_MS = 100;


/** Fisher-Yates shuffle of `order` in place. */
export function shuffleInPlace(order: Uint32Array, rand: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
}

function checkSplit(config: ModelConfig, s: Split, name: string): void {
  const per = config.seq_len * config.n_features;
  if (!Number.isInteger(s.n) || s.n < 0) throw new TrainInputError(`${name}.n must be a non-negative integer (got ${s.n})`);
  if (s.X.length < s.n * per) throw new TrainInputError(`${name}.X has ${s.X.length} floats; ${s.n} samples of [${config.seq_len}, ${config.n_features}] need ${s.n * per}`);
  if (s.ySign.length < s.n) throw new TrainInputError(`${name}.ySign has ${s.ySign.length} labels for ${s.n} samples`);
  if (config.magnitude && s.yMag.length < s.n) throw new TrainInputError(`${name}.yMag has ${s.yMag.length} targets for ${s.n} samples`);
}

/** Population standard deviation of the first n values, in double; 1 when it is 0 or not finite. */
export function magnitudeScale(y: Float32Array, n: number): number {
  if (n === 0) return 1;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (y[i]! - mean) ** 2;
  const sd = Math.sqrt(ss / n);
  return sd > 0 && Number.isFinite(sd) ? sd : 1;
}

/** Per-sample loss in double, the same formulas as the kernels (docs/nn-engine.md, "Losses"). */
function sampleLoss(z: number, y: number, m: number, t: number, magnitude: boolean, huber: boolean, w: number): number {
  let l = Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
  if (magnitude) {
    const d = m - t;
    const a = Math.abs(d);
    l += w * (huber ? (a <= 1 ? 0.5 * d * d : a - 0.5) : d * d);
  }
  return l;
}

/** Sign logits and scaled magnitude predictions of a whole split, batch by batch on the pool. */
function predictSplit(pool: TrainPool, s: Split, batch: number, per: number, magnitude: boolean): { sign: Float32Array; mag: Float32Array | null } {
  const sign = new Float32Array(s.n);
  const mag = magnitude ? new Float32Array(s.n) : null;
  const v = pool.views;
  for (let at = 0; at < s.n; at += batch) {
    const b = Math.min(batch, s.n - at);
    v.x.set(s.X.subarray(at * per, (at + b) * per));
    pool.run(JOB_PREDICT, b);
    sign.set(v.outSign.subarray(0, b), at);
    mag?.set(v.outMag.subarray(0, b), at);
  }
  return { sign, mag };
}

/**
 * Early stopping's choice, for both trainers (this one and tfjs-trainer.ts): whether an epoch with
 * validation AUC `auc` replaces the kept one. NaN (one class in validation) never counts as
 * better; the first epoch is kept then (store a NaN AUC as -Infinity).
 */
export function keepsEpoch(best: { readonly auc: number; readonly epoch: number }, auc: number): boolean {
  return best.epoch === 0 || auc > best.auc;
}

/**
 * Trains `config` on `data.train` with Adam, one seeded shuffle per epoch, and keeps the
 * weights of the epoch with the best validation AUC (early stopping after `patience` epochs
 * without improvement). Deterministic: the same inputs and seed give the same bits for any
 * `threads`.
 */
export async function trainModel(config: ModelConfig, data: TrainData, opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const st = trainSettings(config, data, opts);
  const pool = await TrainPool.create({
    config, backend: opts.backend ?? "auto", threads: st.threads, chunk: st.chunk, batch: st.batch,
    magnitudeLoss: st.magnitudeLoss, magnitudeWeight: st.magnitudeWeight, source: st.source,
  });
  let adam: AdamState | null = null;
  try {
    adam = await createAdam(pool.backend, st.P, { lr: opts.lr ?? 1e-3 });
    adam.params.set(st.initial);
    pool.setParams(adam.params);
    const rand = mulberry32(opts.seed ^ 0x5eed);
    const order = Uint32Array.from({ length: data.train.n }, (_, i) => i);
    const perEpoch = Math.min(data.train.n, opts.maxTrainSamples ?? Infinity);
    const logs: EpochLog[] = [];
    let best: { auc: number; epoch: number; params: Float32Array; pred: { sign: Float32Array; mag: Float32Array | null } | null } = { auc: -Infinity, epoch: 0, params: Float32Array.from(st.initial), pred: null };
    let trainSeconds = 0;
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      opts.signal?.throwIfAborted();
      const te = performance.now();
      shuffleInPlace(order, rand);
      const lossSum = await updateEpoch(pool, adam, order, perEpoch, st.batch, st.P, (step) => dropoutKey(opts.seed, epoch, step), opts.signal);
      const tTrain = (performance.now() - te) / 1000;
      trainSeconds += tTrain;
      const val = validationEpoch(pool, config, data.validation, st);
      const log: EpochLog = { epoch, train_loss: lossSum / perEpoch, val_loss: val.loss, val_auc: val.auc, seconds: (performance.now() - te) / 1000, samples_per_s: perEpoch / tTrain };
      logs.push(log);
      opts.onEpoch?.(log);
      if (keepsEpoch(best, val.auc)) best = { auc: Number.isNaN(val.auc) ? -Infinity : val.auc, epoch, params: Float32Array.from(adam.params), pred: val.pred };
      else if (epoch - best.epoch >= st.patience) break;
    }
    return {
      params: best.params, bestEpoch: best.epoch, epochs: logs, backend: pool.backend, threads: st.threads, chunk: st.chunk,
      seconds: (performance.now() - t0) / 1000, samplesPerSec: (perEpoch * logs.length) / trainSeconds, magScale: st.magScale,
      validation: unscaled(best.pred!, st.magScale),
    };
  } finally {
    adam?.dispose();
    await pool.close();
  }
}

/** trainModel's checked inputs and resolved defaults. */
interface TrainSettings {
  readonly batch: number;
  readonly threads: number;
  readonly chunk: number;
  readonly patience: number;
  readonly magnitudeLoss: "huber" | "mse";
  readonly magnitudeWeight: number;
  readonly magScale: number;
  /** 1 / magScale: targets are multiplied by it, as the pool and the tfjs path do. */
  readonly magInv: number;
  readonly per: number;
  readonly P: number;
  readonly initial: Float32Array;
  /** The training split as the pool's workers read it (magnitude targets already scaled). */
  readonly source: { X: Float32Array; ySign: Uint8Array; yMag: Float32Array };
}

function trainSettings(config: ModelConfig, data: TrainData, opts: TrainOptions): TrainSettings {
  checkSplit(config, data.train, "train");
  checkSplit(config, data.validation, "validation");
  if (data.train.n === 0) throw new TrainInputError("train.n is 0: nothing to train on");
  if (!Number.isInteger(opts.epochs) || opts.epochs < 1) throw new TrainInputError(`epochs must be a positive integer (got ${opts.epochs})`);
  const bad = configProblems(config).filter((p) => p.startsWith("dropout"));
  if (bad.length) throw new TrainInputError(`model config: ${bad.join("; ")}`);
  const batch = opts.batch ?? 256;
  if (!Number.isInteger(batch) || batch < 1) throw new TrainInputError(`batch must be a positive integer (got ${batch})`);
  const per = config.seq_len * config.n_features;
  const magScale = config.magnitude ? magnitudeScale(data.train.yMag, data.train.n) : 1;
  const P = paramLayout(config).total;
  const initial = opts.initial ?? initParams(config, opts.seed);
  if (initial.length !== P) throw new TrainInputError(`initial has ${initial.length} parameters; the config has ${P}`);
  const n = data.train.n;
  // The magnitude targets as the head learns them (rounded to float32 once, as the kernels read them).
  const magInv = 1 / magScale;
  const yMag = config.magnitude ? Float32Array.from(data.train.yMag.subarray(0, n), (y) => y * magInv) : new Float32Array(0);
  return {
    batch, per, P, initial, magScale, magInv,
    threads: opts.threads ?? 1,
    chunk: opts.chunk ?? DEFAULT_CHUNK,
    patience: opts.patience ?? Infinity,
    magnitudeLoss: opts.magnitudeLoss ?? "huber",
    magnitudeWeight: opts.magnitudeWeight ?? 0.5,
    source: { X: data.train.X.subarray(0, n * per), ySign: data.train.ySign.subarray(0, n), yMag },
  };
}

/**
 * One epoch's updates: mini-batches of the shuffled order, the pool's chunk gradients (summed
 * in chunk order: the determinism contract), one Adam step each; batch s of the epoch trains
 * with dropout key `keyOf(s)` (training mode). Returns the summed loss.
 * Steps block this thread (Atomics.wait); the event loop gets a turn every YIELD_MS so
 * progress output flushes and an abort from a signal handler can arrive.
 */
async function updateEpoch(pool: TrainPool, adam: AdamState, order: Uint32Array, perEpoch: number, batch: number, P: number, keyOf: (step: number) => number, signal?: AbortSignal): Promise<number> {
  const v = pool.views;
  let lossSum = 0;
  let lastYield = performance.now();
  for (let at = 0, step = 0; at < perEpoch; at += batch, step++) {
    signal?.throwIfAborted();
    const b = Math.min(batch, perEpoch - at);
    v.order.set(order.subarray(at, at + b));
    const chunks = pool.run(JOB_TRAIN, b, keyOf(step));
    adam.grad.set(v.grads.subarray(0, P));
    for (let c = 0; c < chunks; c++) lossSum += v.losses[c * LOSS_SLOTS]!;
    adam.step();
    pool.setParams(adam.params);
    if (performance.now() - lastYield > YIELD_MS) {
      await yieldToEventLoop();
      lastYield = performance.now();
    }
  }
  return lossSum;
}

/** Validation loss (mean, the training loss's formula) and AUC with the current weights. */
function validationEpoch(pool: TrainPool, config: ModelConfig, s: Split, st: TrainSettings): { loss: number; auc: number; pred: { sign: Float32Array; mag: Float32Array | null } } {
  const labels = s.ySign.subarray(0, s.n);
  const val = predictSplit(pool, s, st.batch, st.per, config.magnitude);
  let loss = 0;
  for (let i = 0; i < s.n; i++) {
    const t = s.yMag.length > i ? s.yMag[i]! * st.magInv : 0;
    loss += sampleLoss(val.sign[i]!, labels[i]!, val.mag ? val.mag[i]! : 0, t, config.magnitude, st.magnitudeLoss === "huber", st.magnitudeWeight);
  }
  return { loss: s.n > 0 ? loss / s.n : Number.NaN, auc: s.n > 0 ? rocAuc(val.sign, labels) : Number.NaN, pred: val };
}

/** predictSplit's output with the magnitude head's predictions multiplied back by magScale (in place). */
function unscaled(out: { sign: Float32Array; mag: Float32Array | null }, magScale: number): { sign: Float32Array; mag?: Float32Array } {
  if (!out.mag) return { sign: out.sign };
  for (let i = 0; i < out.mag.length; i++) out.mag[i] = out.mag[i]! * magScale;
  return { sign: out.sign, mag: out.mag };
}

/** Prediction settings. */
export interface PredictOptions {
  readonly backend?: Backend | "auto";
  readonly threads?: number;
  /** Samples per job (default 1024). */
  readonly batch?: number;
  /** The trainer's magScale: magnitude predictions are multiplied back by it (default 1). */
  readonly magScale?: number;
  readonly chunk?: number;
}

/** Sign logits (and unscaled magnitude predictions when the config has the head) of n samples. */
export async function predict(config: ModelConfig, params: Float32Array, X: Float32Array, n: number, opts: PredictOptions = {}): Promise<{ sign: Float32Array; mag?: Float32Array }> {
  const split: Split = { X, ySign: new Uint8Array(n), yMag: new Float32Array(0), n };
  checkSplit({ ...config, magnitude: false }, split, "X");
  const P = paramLayout(config).total;
  if (params.length !== P) throw new TrainInputError(`params has ${params.length} values; the config has ${P}`);
  const batch = opts.batch ?? 1024;
  const pool = await TrainPool.create({
    config,
    backend: opts.backend ?? "auto",
    threads: opts.threads ?? 1,
    chunk: opts.chunk ?? DEFAULT_CHUNK,
    batch,
    magnitudeLoss: "huber",
    magnitudeWeight: 0.5,
  });
  try {
    pool.setParams(params);
    return unscaled(predictSplit(pool, split, batch, config.seq_len * config.n_features, config.magnitude), opts.magScale ?? 1);
  } finally {
    await pool.close();
  }
}

/**
 * The TensorFlow.js training path: the same model configs, batches (the trainer's seeded
 * shuffle), Adam settings, early stopping on validation AUC and result shape as trainer.ts,
 * on whatever backend loadTfjs finds: `@tensorflow/tfjs-node-gpu` on a machine with a GPU
 * (an optional dependency, imported only at run time), else wasm, else the cpu backend. It is
 * how the team trains on the GPU workstation's GPU; on a CPU our kernels are far faster
 * (bench/train), so the default backend stays ours. The result records the backend that ran.
 */
import type * as TfNs from "@tensorflow/tfjs";
import { rocAuc } from "../metrics.js";
import { initParams, paramLayout, type ModelConfig } from "./config.js";
import { forwardTensors, loadTfjs, lossTensor, paramTensors, type TfjsPreference } from "./tfjs-reference.js";
import { keepsEpoch, magnitudeScale, shuffleInPlace, type EpochLog, type Split, type TrainData, type TrainOptions } from "./trainer.js";
import { mulberry32 } from "../../engine/prng.js";
import { dropoutKey } from "./dropout.js";

/** What trainTfjs returns: trainer.ts's TrainResult with the TensorFlow.js backend's name. */
export interface TfjsTrainResult {
  readonly params: Float32Array;
  readonly bestEpoch: number;
  readonly epochs: EpochLog[];
  /** "tfjs-" + the backend: tfjs-tensorflow (tfjs-node-gpu), tfjs-wasm, tfjs-cpu. */
  readonly backend: string;
  readonly threads: number;
  readonly seconds: number;
  readonly samplesPerSec: number;
  readonly magScale: number;
  /** Backends tried before the one that ran, and why they were not used. */
  readonly fallbacks: readonly string[];
}


type Vars = { list: TfNs.Variable[]; byName: Map<string, TfNs.Tensor> };

function batchTensors(tf: typeof TfNs, c: ModelConfig, s: Split, idx: ArrayLike<number>, from: number, b: number, magInv: number) {
  const per = c.seq_len * c.n_features;
  const x = new Float32Array(b * per), ys = new Float32Array(b), ym = new Float32Array(b);
  for (let i = 0; i < b; i++) {
    const k = idx[from + i]!;
    x.set(s.X.subarray(k * per, (k + 1) * per), i * per);
    ys[i] = s.ySign[k]!;
    ym[i] = c.magnitude ? s.yMag[k]! * magInv : 0;
  }
  return { x: tf.tensor3d(x, [b, c.seq_len, c.n_features]), ys: tf.tensor1d(ys), ym: c.magnitude ? tf.tensor1d(ym) : null };
}

/** Validation logits and mean loss with the current weights. */
function validate(tf: typeof TfNs, c: ModelConfig, v: Vars, s: Split, batch: number, magInv: number, opts: TrainOptions): { auc: number; loss: number } {
  const logits = new Float32Array(s.n);
  let loss = 0;
  const all = Uint32Array.from({ length: s.n }, (_, i) => i);
  for (let at = 0; at < s.n; at += batch) {
    const b = Math.min(batch, s.n - at);
    tf.tidy(() => {
      const t = batchTensors(tf, c, s, all, at, b, magInv);
      const out = forwardTensors(tf, c, v.byName, t.x);
      logits.set(out.logit.dataSync() as Float32Array, at);
      loss += (lossTensor(tf, c, out, t.ys, t.ym, { magnitudeLoss: opts.magnitudeLoss, magnitudeWeight: opts.magnitudeWeight }).dataSync()[0]! as number) * b;
    });
  }
  return { auc: rocAuc(logits, s.ySign.subarray(0, s.n)), loss: loss / Math.max(1, s.n) };
}

function snapshot(c: ModelConfig, v: Vars): Float32Array {
  const layout = paramLayout(c);
  const flat = new Float32Array(layout.total);
  layout.specs.forEach((s, i) => flat.set(v.list[i]!.dataSync() as Float32Array, layout.offsets.get(s.name)!));
  return flat;
}

/** Trains `config` with TensorFlow.js; same contract as trainModel (deterministic only per backend). */
export async function trainTfjs(config: ModelConfig, data: TrainData, opts: TrainOptions & { pref?: TfjsPreference }): Promise<TfjsTrainResult> {
  const { tf, backend, fallbacks } = await loadTfjs(opts.pref ?? "auto");
  const t0 = performance.now();
  const batch = opts.batch ?? 256;
  const magScale = config.magnitude ? magnitudeScale(data.train.yMag, data.train.n) : 1;
  const layout = paramLayout(config);
  const list = paramTensors(tf, config, opts.initial ?? initParams(config, opts.seed)).map((t, i) => tf.variable(t, true, `p${i}`));
  const vars: Vars = { list, byName: new Map(layout.specs.map((s, i) => [s.name, list[i]!])) };
  const adam = tf.train.adam(opts.lr ?? 1e-3, 0.9, 0.999, 1e-8);
  const rand = mulberry32(opts.seed ^ 0x5eed);
  const order = Uint32Array.from({ length: data.train.n }, (_, i) => i);
  const perEpoch = Math.min(data.train.n, opts.maxTrainSamples ?? Infinity);
  const logs: EpochLog[] = [];
  let best = { auc: -Infinity, epoch: 0, params: snapshot(config, vars) };
  let trainSeconds = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      opts.signal?.throwIfAborted();
      const te = performance.now();
      shuffleInPlace(order, rand);
      let sum = 0;
      for (let at = 0, step = 0; at < perEpoch; at += batch, step++) {
        const b = Math.min(batch, perEpoch - at);
        // Training mode, with trainer.ts's dropout masks (the same key per step and batch positions).
        const mask = { key: dropoutKey(opts.seed, epoch, step), first: 0 };
        const l = tf.tidy(() => {
          const t = batchTensors(tf, config, data.train, order, at, b, 1 / magScale);
          return adam.minimize(() => lossTensor(tf, config, forwardTensors(tf, config, vars.byName, t.x, mask), t.ys, t.ym, { magnitudeLoss: opts.magnitudeLoss, magnitudeWeight: opts.magnitudeWeight }), true, list)!;
        });
        sum += (l.dataSync()[0] as number) * b;
        l.dispose();
      }
      const updateSeconds = (performance.now() - te) / 1000;
      trainSeconds += updateSeconds;
      const val = validate(tf, config, vars, data.validation, 1024, 1 / magScale, opts);
      const e: EpochLog = { epoch, train_loss: sum / perEpoch, val_loss: val.loss, val_auc: val.auc, seconds: (performance.now() - te) / 1000, samples_per_s: perEpoch / updateSeconds };
      logs.push(e);
      opts.onEpoch?.(e);
      if (keepsEpoch(best, val.auc)) best = { auc: Number.isNaN(val.auc) ? -Infinity : val.auc, epoch, params: snapshot(config, vars) };
      else if (epoch - best.epoch >= (opts.patience ?? Infinity)) break;
    }
  } finally {
    for (const v of list) v.dispose();
    adam.dispose();
  }
  return {
    params: best.params, bestEpoch: best.epoch, epochs: logs, backend: `tfjs-${backend}`, threads: 1,
    seconds: (performance.now() - t0) / 1000, samplesPerSec: (perEpoch * logs.length) / Math.max(trainSeconds, 1e-9), magScale, fallbacks,
  };
}

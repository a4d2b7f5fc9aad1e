/**
 * One sequence model (LSTM, GRU or Transformer), end to end: train on the training windows
 * with early stopping on validation AUC, evaluate validation and test against the hazard
 * heuristic and the base rate, export to ONNX and check that ONNX Runtime gives our engine's
 * answers, and write the model directory:
 *
 *   weights.safetensors  the best epoch's parameters, one tensor per name (docs/nn-engine.md;
 *                        metadata format dagbuild.ml_weights, formats.ts)
 *   config.json          architecture, training params, features, normaliser, input digests, the data's label horizon
 *                        (format dagbuild.ml_model, formats.ts)
 *   model.onnx           opset 17
 *   metrics.json         validation and test metrics (src/ml/models/model-metrics.ts) + timing
 *   train_log.jsonl      one line per epoch
 *   calibration.svg, learning_curve.svg
 *
 * Everything but the wall-clock fields (metrics.json `training.seconds`/`samples_per_s`,
 * train_log's `seconds`/`samples_per_s`) is a pure function of the inputs and the seed.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256, stableStringify } from "../../engine/hash.js";
import { calibrationSvg, learningCurveSvg } from "../../report/plots.js";
import { exportOnnx } from "../onnx/export.js";
import { createScorer } from "../onnx/score.js";
import { encodeSafetensors, type SafeTensor } from "../safetensors.js";
import { paramLayout, paramView, type ModelConfig } from "../nn/config.js";
import { predict, trainModel, type EpochLog, type TrainData, type TrainOptions, type TrainResult } from "../nn/trainer.js";
import { trainTfjs, type TfjsTrainResult } from "../nn/tfjs-trainer.js";
import { resolveModelConfig, resolveTraining, type SequenceTraining } from "./model-params.js";
import { evaluateModel, METRICS_FORMAT_VERSION, sigmoid, type ScoredSplit } from "./model-metrics.js";
import { MODEL_CONFIG_VERSION, WEIGHTS_FORMAT_VERSION } from "./formats.js";
import { loadTrainingSet, readSummary, type TrainingSet, type WindowSplit } from "./training-set.js";

/** ONNX Runtime must reproduce our engine's logits within this (absolute + relative). */
export const ONNX_AGREEMENT_TOL = 1e-4;

/** The model's output disagrees with its export, or some other non-data failure. */
export class ModelBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelBuildError";
  }
}

/** What the caller sees while a model trains. */
export interface ModelHooks {
  log(line: string): void;
  /** One line per epoch (the build's progress display). */
  progress(line: string): void;
  /** Told every epoch after `progress`; a throw stops the training (pruning: src/ml/sweeps/pruning.ts). */
  epoch?(e: EpochLog): void;
  readonly signal?: AbortSignal;
}

function epochLine(e: EpochLog, epochs: number, startMs: number): string {
  const elapsed = (performance.now() - startMs) / 1000;
  const eta = (elapsed / e.epoch) * (epochs - e.epoch);
  return `epoch ${e.epoch}/${epochs} loss ${e.train_loss.toFixed(4)} val_loss ${e.val_loss.toFixed(4)} val AUC ${e.val_auc.toFixed(4)} ${Math.round(e.samples_per_s)} samples/s, ETA ≤ ${eta.toFixed(0)} s`;
}

/** What either trainer returns (trainer.ts, tfjs-trainer.ts). */
type Trained = TrainResult | TfjsTrainResult;

/** Trains on our kernels, or on TensorFlow.js when the params ask for it (the GPU path). */
function train(config: ModelConfig, data: TrainData, tr: SequenceTraining, opts: TrainOptions): Promise<Trained> {
  return tr.backend === "tfjs" ? trainTfjs(config, data, opts) : trainModel(config, data, { ...opts, backend: tr.backend });
}

/** The split scored by our kernels; `known` is the trainer's own prediction of it for r.params, when it has one. */
async function scoreSplit(config: ModelConfig, r: Trained, s: WindowSplit, tr: SequenceTraining, known?: { sign: Float32Array; mag?: Float32Array }): Promise<ScoredSplit & { logit: Float32Array }> {
  // Evaluation always runs our kernels: on tfjs-trained weights they compute the same model.
  const out = known ?? await predict(config, r.params, s.X, s.n, { backend: tr.backend === "tfjs" ? "auto" : tr.backend, threads: tr.threads, magScale: r.magScale });
  return { logit: out.sign, prob: sigmoid(out.sign), y: s.ySign, hazard: s.hazard, blocks: s.day, ...(out.mag ? { magPred: out.mag, magTrue: s.yMag } : {}) };
}

/** ONNX Runtime on the validation windows against our engine's logits: the largest deviation. */
async function checkOnnx(onnx: Uint8Array, set: TrainingSet, ours: Float32Array): Promise<{ rows: number; max_abs_diff: number }> {
  const s = set.splits.validation;
  const scorer = await createScorer(onnx);
  try {
    const ort = await scorer.score(s.X, s.n, set.L, set.F);
    let worst = 0;
    for (let i = 0; i < s.n; i++) {
      const d = Math.abs(ort.logit[i]! - ours[i]!);
      if (d > ONNX_AGREEMENT_TOL * (1 + Math.abs(ours[i]!))) throw new ModelBuildError(`model.onnx disagrees with the trained engine on validation window ${i}: ONNX Runtime ${ort.logit[i]}, engine ${ours[i]}`);
      worst = Math.max(worst, d);
    }
    return { rows: s.n, max_abs_diff: Number(worst.toPrecision(3)) };
  } finally {
    await scorer.close();
  }
}

function weightsFile(config: ModelConfig, params: Float32Array, meta: Record<string, string>): Buffer {
  const layout = paramLayout(config);
  const tensors = layout.specs.map((s): [string, SafeTensor] => [s.name, { dtype: "F32", shape: s.shape, data: Float32Array.from(paramView(layout, params, s.name)) }]);
  return encodeSafetensors(tensors, meta);
}

/** Trains, evaluates and exports one model into `outDir` (an empty directory). */
export async function buildSequenceModel(opts: {
  name: string;
  trainingDir: string;
  outDir: string;
  params: Readonly<Record<string, unknown>>;
  hooks: ModelHooks;
}): Promise<{ verdict: string }> {
  const { hooks, outDir } = opts;
  const summary = await readSummary(opts.trainingDir);
  const config = resolveModelConfig(opts.params, summary.features.length);
  const tr = resolveTraining(opts.params);
  const set = await loadTrainingSet(opts.trainingDir, config.seq_len, summary);
  hooks.log(`${opts.name}: ${config.kind} on ${set.splits.train.n} training windows of ${set.L} x ${set.F}, validation ${set.splits.validation.n}, test ${set.splits.test.n}`);
  const t0 = performance.now();
  const result = await train(config, { train: set.splits.train, validation: set.splits.validation }, tr, {
    seed: tr.seed, epochs: tr.epochs, batch: tr.batch, lr: tr.lr, patience: tr.patience, threads: tr.threads,
    magnitudeLoss: tr.magnitude_loss, magnitudeWeight: tr.magnitude_weight,
    ...(tr.max_train_samples ? { maxTrainSamples: tr.max_train_samples } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    onEpoch: (e) => {
      hooks.progress(`${opts.name}: ${epochLine(e, tr.epochs, t0)}`);
      hooks.epoch?.(e);
    },
  });
  // Our trainer already predicted validation with the kept weights (same kernels, same bits: model-train.test.ts).
  const validation = await scoreSplit(config, result, set.splits.validation, tr, "validation" in result ? result.validation : undefined);
  const test = await scoreSplit(config, result, set.splits.test, tr);
  const evaluation = evaluateModel({ validation, test }, set.splits.train.ySign, { seed: tr.seed, bootstrap: tr.bootstrap });

  const trainingInputs = summary.inputs;
  const meta = { model: opts.name, kind: config.kind, features_digest: sha256(stableStringify(summary.features)), inputs: stableStringify(trainingInputs).trimEnd() };
  const onnx = exportOnnx(config, result.params, meta);
  const onnxCheck = await checkOnnx(onnx, set, validation.logit);
  const weights = weightsFile(config, result.params, { format: "dagbuild.ml_weights", version: String(WEIGHTS_FORMAT_VERSION), config: stableStringify(config).trimEnd() });
  const configJson = {
    format: "dagbuild.ml_model", version: MODEL_CONFIG_VERSION, name: opts.name,
    architecture: config,
    training: { ...tr, threads: undefined, best_epoch: result.bestEpoch, epochs_run: result.epochs.length, magnitude_scale: result.magScale, chunk: "fixed (DEFAULT_CHUNK)" },
    features: summary.features.map((f) => f.name),
    normaliser: { method: summary.normaliser.method, fitted_on: summary.normaliser.fitted_on, features: summary.features },
    seq_len: set.L,
    horizon: summary.params.horizon,
    inputs: { training: trainingInputs, features_json: sha256(stableStringify(summary)) },
    digests: { weights: sha256(weights), onnx: sha256(onnx) },
  };
  const metrics = {
    format: "dagbuild.ml_metrics", version: METRICS_FORMAT_VERSION, model: opts.name, kind: config.kind,
    ...evaluation,
    onnx_check: { ...onnxCheck, tolerance: ONNX_AGREEMENT_TOL },
    windows: { train: set.splits.train.n, validation: set.splits.validation.n, test: set.splits.test.n },
    training: { seconds: Number(result.seconds.toFixed(2)), samples_per_s: Math.round(result.samplesPerSec), backend: result.backend, threads: result.threads, best_epoch: result.bestEpoch, epochs_run: result.epochs.length, dropout: tr.dropout },
  };
  await writeFile(join(outDir, "weights.safetensors"), weights);
  await writeFile(join(outDir, "model.onnx"), onnx);
  await writeFile(join(outDir, "config.json"), stableStringify(configJson));
  await writeFile(join(outDir, "metrics.json"), stableStringify(metrics));
  await writeFile(join(outDir, "train_log.jsonl"), result.epochs.map((e) => JSON.stringify(e)).join("\n") + "\n");
  await writeFile(join(outDir, "calibration.svg"), await calibrationSvg(evaluation.test.model.calibration_bins, `${opts.name}: reliability on test weeks (threshold from validation)`));
  await writeFile(join(outDir, "learning_curve.svg"), await learningCurveSvg(result.epochs, result.bestEpoch, `${opts.name}: learning curve`));
  hooks.log(`${opts.name}: best epoch ${result.bestEpoch}; ${evaluation.verdict.summary}; ONNX Runtime agrees within ${onnxCheck.max_abs_diff}`);
  return { verdict: evaluation.verdict.summary };
}

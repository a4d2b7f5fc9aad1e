/**
 * ml-model: one sequence model (LSTM, GRU or Transformer) trained on the feature builder's
 * windows, evaluated, and exported to ONNX (Stage 2, host gpu, resources gpu: 1).
 *
 * Inputs:  training  `output/ml_training/` (features.json, {split}.seq{L}.safetensors, {split}.parquet)
 * Params:  model (lstm | gru | transformer), seq_len (64; 32 by param), task (sign | both),
 *          recurrent: units (64), layers (1 | 2); transformer: d_model (64), heads (4),
 *          layers (2), ff (128), pos (sinusoidal | learned), pool (last | mean);
 *          training: seed (7), epochs (12), patience (3), batch (256), lr (1e-3), threads
 *          (0 = every core, at most 4; results do not depend on it), backend (auto | native |
 *          wasm: our kernels; tfjs: TensorFlow.js, on the GPU when @tensorflow/tfjs-node-gpu
 *          is installed), magnitude_loss (huber | mse), magnitude_weight (0.5), max_train_samples
 *          (0 = all), bootstrap (1000). See src/ml/models/model-params.ts.
 * Outputs: model     `output/ml_models/<name>/` (directory): weights.safetensors, config.json,
 *                    model.onnx, metrics.json, train_log.jsonl, calibration.svg, learning_curve.svg
 */
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { ModelParamError } from "../src/ml/models/model-params.js";
import { buildSequenceModel, ModelBuildError } from "../src/ml/models/sequence-model.js";
import { TrainingSetError } from "../src/ml/models/training-set.js";
import { TrainInputError } from "../src/ml/nn/trainer.js";

export default defineRule({
  describe: "train + evaluate + ONNX-export one sequence model on the training windows",
  async run(ctx) {
    const out = ctx.outputs.model;
    if (!out) throw new RuleError('ml-model: declare a directory output named "model"');
    const name = out.replace(/\/+$/, "").split("/").pop()!;
    try {
      await buildSequenceModel({
        name,
        trainingDir: oneInput(ctx, "training"),
        outDir: out,
        params: ctx.params,
        hooks: { log: (l) => ctx.log(l), progress: (l) => (ctx.progress ? ctx.progress(l) : ctx.log(l)), signal: ctx.signal },
      });
    } catch (e) {
      if (e instanceof ModelParamError || e instanceof TrainingSetError || e instanceof TrainInputError || e instanceof ModelBuildError) throw new RuleError(`ml-model ${name}: ${e.message}`);
      throw e;
    }
  },
});

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
 *          (0 = all), bootstrap (1000), dropout (0: a rate in [0, 1), training only, on each
 *          recurrent layer's output / the transformer's attention and feed-forward outputs;
 *          recorded in config.json `training.dropout` (and `architecture.dropout` when > 0) and
 *          metrics.json `training.dropout`; docs/nn-engine.md "Dropout"). See src/ml/models/model-params.ts.
 *          horizon (optional; sweeps): the label horizon (minutes) the trial expects; it must
 *          equal the one the training data records (features.json), and seq_len must be among
 *          its built window lengths: a mismatch (the trial's dep names another variant) is a
 *          RuleError naming both values whatever on_failure says (a wiring mistake is no trial).
 *          on_failure (fail | record; sweeps): `record` turns an expected failure of this
 *          model (a bad param combination, a training input error) into a directory holding only
 *          status.json (format dagbuild.trial_status, version 1: status "failed", error, params),
 *          which the sweep ledger lists as failed; the action succeeds and is cached like any
 *          result of the same inputs. `fail` (default) throws: the action fails, other trials
 *          keep their results, and the next build reruns it alone.
 * Pruning: a target with `siblings: { axis: <trial axis>, options: { prune_after: k,
 *          min_finished: m } }` (docs/pipeline-format.md "Siblings"; src/ml/sweeps/pruning.ts):
 *          after epoch k, a trial below the median validation AUC of its finished siblings at
 *          epoch k (at least m of them) stops; its directory holds only status.json (status
 *          "pruned": params, the epochs run without wall-clock fields, metrics so far, the
 *          median and the siblings it came from) and the outcome is marked not final
 *          (ctx.notFinal): it runs again on every build. A trial that was not pruned is final
 *          and identical to a run without pruning.
 * Env:     ctx.env.CUDA_VISIBLE_DEVICES (the gpu token the engine granted) is logged; the tfjs
 *          backend sees it only under DAGBUILD_ISOLATION=process (worker threads share one
 *          process environment, set before TensorFlow loads): see docs/pipeline-format.md.
 * Outputs: model     `output/ml_models/<name>/` (directory): weights.safetensors, config.json,
 *                    model.onnx, metrics.json, train_log.jsonl, calibration.svg, learning_curve.svg
 */
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stableStringify } from "../src/engine/hash.js";
import { defineRule, oneInput, RuleError, type RuleContext } from "../src/engine/rule.js";
import { pruneBar, pruneSettings, PruneSettingsError, pruningHook, TrialPruned, type PruneBar } from "../src/ml/sweeps/pruning.js";
import { ModelParamError } from "../src/ml/models/model-params.js";
import { buildSequenceModel, ModelBuildError } from "../src/ml/models/sequence-model.js";
import { readSummary, TrainingSetError } from "../src/ml/models/training-set.js";
import { checkDataContract, DataContractError } from "../src/ml/models/data-contract.js";
import { TrainInputError } from "../src/ml/nn/trainer.js";

export default defineRule({
  describe: "train + evaluate + ONNX-export one sequence model on the training windows",
  async run(ctx) {
    const out = ctx.outputs.model;
    if (!out) throw new RuleError('ml-model: declare a directory output named "model"');
    const name = out.replace(/\/+$/, "").split("/").pop()!;
    const { on_failure: onFailure = "fail", ...given } = ctx.params;
    const { horizon, ...params } = given;
    if (onFailure !== "fail" && onFailure !== "record") throw new RuleError(`ml-model ${name}: param "on_failure": must be one of fail, record, got ${JSON.stringify(onFailure)}`);
    const bar = pruningBar(ctx, name);
    const device = ctx.env?.CUDA_VISIBLE_DEVICES;
    if (device !== undefined) ctx.log(`${name}: gpu token CUDA_VISIBLE_DEVICES=${device}${process.env.CUDA_VISIBLE_DEVICES === device ? "" : " (not the process environment: worker isolation)"}`);
    try {
      const trainingDir = oneInput(ctx, "training");
      checkDataContract(trainingDir, await readSummary(trainingDir), { horizon, seq_len: params.seq_len });
      await buildSequenceModel({
        name,
        trainingDir,
        outDir: out,
        params,
        hooks: { log: (l) => ctx.log(l), progress: (l) => (ctx.progress ? ctx.progress(l) : ctx.log(l)), signal: ctx.signal, ...(bar ? { epoch: pruningHook(bar) } : {}) },
      });
    } catch (e) {
      if (e instanceof TrialPruned) {
        await recordPruned(out, e, params);
        ctx.notFinal!(e.message);
        ctx.log(`ml-model ${name}: ${e.message}; status.json written, not final`);
        return;
      }
      if (e instanceof DataContractError) throw new RuleError(`ml-model ${name}: ${e.message}`);
      const expected = e instanceof ModelParamError || e instanceof TrainingSetError || e instanceof TrainInputError || e instanceof ModelBuildError;
      if (expected && onFailure === "record" && !ctx.signal.aborted) {
        await recordFailure(out, (e as Error).message, given);
        ctx.log(`ml-model ${name}: failed, recorded in status.json: ${(e as Error).message}`);
        return;
      }
      if (expected) throw new RuleError(`ml-model ${name}: ${(e as Error).message}`);
      throw e;
    }
  },
});

/**
 * The median a trial must reach (pruning on, enough finished siblings), or undefined. A context
 * that cannot record a provisional outcome (no ctx.notFinal: a hand-made one) never prunes.
 */
function pruningBar(ctx: RuleContext, name: string): PruneBar | undefined {
  let settings;
  try {
    settings = pruneSettings(ctx.siblings?.options);
  } catch (e) {
    if (e instanceof PruneSettingsError) throw new RuleError(`ml-model ${name}: ${e.message}`);
    throw e;
  }
  if (!settings || !ctx.siblings || !ctx.notFinal) return undefined;
  const siblings = ctx.siblings.finished.flatMap((f) => (f.outputs.model ? [{ id: f.id, dir: f.outputs.model }] : []));
  // This trial's values of the `same` keys (its params; the data's horizon is checked equal to them).
  const group = Object.fromEntries(settings.same.map((k) => [k, ctx.params[k]]));
  const bar = pruneBar(settings, siblings, group);
  ctx.log(bar
    ? `ml-model ${name}: pruned after epoch ${bar.epoch} if below the median validation AUC ${bar.median.toFixed(4)} of ${bar.from.length} finished trials${settings.same.length ? ` with the same ${settings.same.join(", ")}` : ""}`
    : `ml-model ${name}: not pruned: fewer than min_finished = ${settings.minFinished} finished trials reached epoch ${settings.afterEpochs}`);
  return bar;
}

/** Replaces whatever training left in `dir` by status.json (status pruned), without wall-clock fields. */
async function recordPruned(dir: string, p: TrialPruned, params: Readonly<Record<string, unknown>>): Promise<void> {
  for (const f of await readdir(dir)) await rm(join(dir, f), { recursive: true, force: true });
  const epochs = p.epochs.map((e) => ({ epoch: e.epoch, train_loss: e.train_loss, val_loss: e.val_loss, val_auc: e.val_auc }));
  const last = epochs[epochs.length - 1]!;
  await writeFile(join(dir, "status.json"), stableStringify({
    format: "dagbuild.trial_status", version: TRIAL_STATUS_VERSION, status: "pruned", error: p.message, params,
    metrics: { val_auc: last.val_auc, val_loss: last.val_loss, epochs_run: epochs.length, median_val_auc: p.bar.median },
    pruned: { epoch: p.bar.epoch, median_val_auc: p.bar.median, finished: p.bar.from },
    epochs,
  }));
}

/** Format version of status.json (a recorded failure or a pruned trial). */
export const TRIAL_STATUS_VERSION = 1;

/** Replaces whatever the failed build left in `dir` by status.json alone. */
async function recordFailure(dir: string, error: string, params: Readonly<Record<string, unknown>>): Promise<void> {
  for (const f of await readdir(dir)) await rm(join(dir, f), { recursive: true, force: true });
  await writeFile(join(dir, "status.json"), stableStringify({ format: "dagbuild.trial_status", version: TRIAL_STATUS_VERSION, status: "failed", error, params }));
}

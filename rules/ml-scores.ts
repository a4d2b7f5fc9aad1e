/**
 * ml-scores: every gate of the validation and test weeks (which hold the default backtest
 * weeks) scored by one model (ONNX Runtime for the sequence models, XGBoost for the GBM). See
 * src/ml/models/scores.ts.
 *
 * Inputs:  model     `output/ml_models/{model}/`
 *          training  `output/ml_training/`
 * Outputs: scores    `output/ml_scores/{model}.parquet`
 */
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { ModelConfigError } from "../src/ml/models/formats.js";
import { writeScores } from "../src/ml/models/scores.js";
import { TrainingSetError } from "../src/ml/models/training-set.js";
import { OnnxScoreError } from "../src/ml/onnx/score.js";

export default defineRule({
  describe: "score every validation and test gate with one model",
  async run(ctx) {
    const out = ctx.outputs.scores;
    if (!out) throw new RuleError('ml-scores: declare an output named "scores"');
    const modelDir = oneInput(ctx, "model");
    const name = modelDir.replace(/\/+$/, "").split("/").pop()!;
    try {
      const r = await writeScores({ name, modelDir, trainingDir: oneInput(ctx, "training"), out });
      ctx.log(`ml-scores ${name}: ${r.scored} gates scored, ${r.unscored} without a full window (NULL), model ${r.digest.slice(0, 12)}`);
    } catch (e) {
      if (e instanceof TrainingSetError || e instanceof OnnxScoreError || e instanceof ModelConfigError) throw new RuleError(`ml-scores ${name}: ${e.message}`);
      throw e;
    }
  },
});

/**
 * ml-gbm: the GBM refresh of Stage 2 (XGBoost via libxgboost on the feature builder's
 * tabular splits), evaluated like the sequence models and compared with Stage 1's baseline.
 *
 * Inputs:  training  `output/ml_training/`
 *          stage1    optional: the ingested bundle (`data/ml_corpus/`), for Stage 1's baseline_report.json
 * Params:  rounds (200), max_depth (3), eta (0.05), min_child_weight (20), subsample (0.8),
 *          colsample_bytree (0.8), seed (7), bootstrap (1000); nthread is 1
 * Outputs: model     `output/ml_models/baseline_gbm/` (directory), see src/ml/models/gbm-model.ts
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { buildGbmModel } from "../src/ml/models/gbm-model.js";
import { ModelParamError } from "../src/ml/models/model-params.js";
import { TrainingSetError } from "../src/ml/models/training-set.js";
import { XgboostUnavailableError } from "../src/ml/xgboost.js";

export default defineRule({
  describe: "XGBoost refresh on the Stage 2 tabular splits, compared with Stage 1's baseline",
  async run(ctx) {
    const out = ctx.outputs.model;
    if (!out) throw new RuleError('ml-gbm: declare a directory output named "model"');
    const stage1 = ctx.inputs.stage1?.[0];
    const report = stage1 ? join(stage1, "output", "ml_corpus", "baseline_report.json") : undefined;
    try {
      await buildGbmModel({ trainingDir: oneInput(ctx, "training"), ...(report && existsSync(report) ? { stage1Report: report } : {}), outDir: out, params: ctx.params, log: (l) => ctx.log(l), signal: ctx.signal });
    } catch (e) {
      if (e instanceof ModelParamError || e instanceof TrainingSetError || e instanceof XgboostUnavailableError) throw new RuleError(`ml-gbm: ${e.message}`);
      throw e;
    }
  },
});

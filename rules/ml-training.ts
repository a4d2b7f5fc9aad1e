/**
 * ml-training: the ingested corpus → model-ready training data (Stage 2, host gpu).
 *
 * Inputs:  corpus   the ingested bundle directory (`data/ml_corpus/`, from ml_ingest): its
 *                   INGEST.json names the corpus parquet (`output/ml_corpus/gates_*.parquet`
 *                   inside it), which is re-hashed against the record. A corpus parquet given
 *                   directly also works (tests, ad-hoc runs).
 * Params:  see src/ml/training/params.ts: horizon (60), run_mode ([rolling]), source
 *          (non-legacy), bitplanes (false), normalise (zscore | robust), onehot ([regime]),
 *          codes ([instrument, run_mode, hazard_decile]), split_train/split_validation (0.6/0.2)
 *          or *_weeks or *_span, backtest_span (the test weeks; inside them), embargo_min (0),
 *          seq_lengths ([32, 64]), stride (1), eval_stride (1), max_gap_min (3000).
 * Outputs: data     `output/ml_training/` (directory): {train,validation,test}.parquet,
 *                   {split}.seq{L}.safetensors, features.json.
 * Refuses a split whose backtest weeks are not exactly the weeks the bundle carries for the
 * backtests (INGEST.json `backtest.weeks`, the last `backtest_weeks` of the span), or whose
 * validation weeks it does not carry (`backtest.validation_weeks`): the backtests on gpu read
 * only what the bundle brought (targets/stage1.yaml vars backtest_weeks, validation_weeks).
 */
import { stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { findIngestedCorpus, INGEST_FILE, IngestError } from "../src/bundle/ingest.js";
import type { IngestedBacktest } from "../src/bundle/ingest-backtest.js";
import { sha256File } from "../src/bundle/manifest.js";
import { resolveTrainingParams, TrainingParamError } from "../src/ml/training/params.js";
import { buildTrainingData, type InputDigests } from "../src/ml/training/build.js";
import { TrainingDataError } from "../src/ml/training/table.js";
import { SplitError, type WeekSplits } from "../src/ml/training/splits.js";

/**
 * The corpus and the digests features.json records as the training data's inputs: the corpus
 * parquet, and the bundle it came in. An ingested bundle directory is read through its
 * INGEST.json (src/bundle/ingest.ts findIngestedCorpus, re-hashing the corpus against it).
 */
async function locateCorpus(root: string, input: string): Promise<{ corpus: string; inputs: InputDigests; carried?: { record: string; backtest: IngestedBacktest } }> {
  if (!(await stat(input)).isDirectory()) return { corpus: input, inputs: { [relative(root, input)]: { sha256: await sha256File(input), bytes: (await stat(input)).size } } };
  const { corpus, ingest } = await findIngestedCorpus(input, { verify: true });
  const inputs: InputDigests = { [relative(root, corpus)]: { sha256: ingest.corpus!.sha256, bytes: ingest.corpus!.bytes } };
  if (ingest.bundle?.sha256) inputs[`bundle:${ingest.bundle.name ?? "?"}`] = { sha256: ingest.bundle.sha256 };
  const record = relative(root, join(input, INGEST_FILE));
  return { corpus, inputs, ...(ingest.backtest ? { carried: { record, backtest: ingest.backtest } } : {}) };
}

/** The split must backtest exactly the carried backtest weeks, and validate on carried weeks. */
function checkCarried(carried: { record: string; backtest: IngestedBacktest }, s: WeekSplits): void {
  const { record, backtest: b } = carried;
  const list = (ws: readonly string[]) => (ws.length ? ws.join(", ") : "none");
  if (s.backtest.join() !== b.weeks.join())
    throw new SplitError(`${record}: field "backtest.weeks": the bundle carries the gates and candles of ${list(b.weeks)} for the backtests, the split's backtest weeks (the test split, or backtest_span) are ${list(s.backtest)}; make them agree (vars backtest_weeks, targets/stage1.yaml, and ml_training's test_weeks / backtest_span)`);
  const have = new Set([...b.validation_weeks, ...b.weeks]);
  const uncarried = s.validation.filter((w) => !have.has(w));
  if (uncarried.length)
    throw new SplitError(`${record}: field "backtest.validation_weeks": the bundle carries ${list(b.validation_weeks)}, the split's validation weeks ${list(s.validation)} (threshold selection backtests them) include ${uncarried.join(", ")}; make them agree (var validation_weeks, targets/stage1.yaml)`);
}

export default defineRule({
  describe: "ingested corpus -> normalised week splits, sequence tensors (safetensors), features.json",
  async run(ctx) {
    const out = ctx.outputs.data;
    if (!out) throw new RuleError('ml-training: declare a directory output named "data"');
    try {
      const { corpus, inputs, carried } = await locateCorpus(ctx.root, oneInput(ctx, "corpus"));
      const params = resolveTrainingParams(ctx.params);
      await buildTrainingData({ corpus, outDir: out, params, inputs, log: (l) => ctx.log(l), ...(carried ? { checkSplits: (s: WeekSplits) => checkCarried(carried, s) } : {}) });
    } catch (e) {
      if (e instanceof TrainingParamError || e instanceof TrainingDataError || e instanceof SplitError || e instanceof IngestError) throw new RuleError(`ml-training: ${e.message}`);
      throw e;
    }
  },
});

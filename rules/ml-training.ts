/**
 * ml-training: the ingested corpus → model-ready training data (Stage 2, host gpu).
 *
 * Inputs:  corpus   the ingested bundle directory (`data/ml_corpus/`, from ml_ingest); the
 *                   corpus parquet is `output/ml_corpus/gates_*.parquet` inside it. A corpus
 *                   parquet given directly also works (tests, ad-hoc runs).
 * Params:  see src/ml/training/params.ts: horizon (60), run_mode ([rolling]), source
 *          (non-legacy), bitplanes (false), normalise (zscore | robust), onehot ([regime]),
 *          codes ([instrument, run_mode, hazard_decile]), split_train/split_validation (0.6/0.2)
 *          or *_weeks or *_span, backtest_span (the test weeks), embargo_min (0),
 *          seq_lengths ([32, 64]), stride (1), eval_stride (1), max_gap_min (3000).
 * Outputs: data     `output/ml_training/` (directory): {train,validation,test}.parquet,
 *                   {split}.seq{L}.safetensors, features.json.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { sha256File } from "../src/bundle/manifest.js";
import { resolveTrainingParams, TrainingParamError } from "../src/ml/training/params.js";
import { buildTrainingData, type InputDigests } from "../src/ml/training/build.js";
import { TrainingDataError } from "../src/ml/training/table.js";
import { SplitError } from "../src/ml/training/splits.js";

/** The corpus parquet inside an ingested bundle directory (exactly one). */
async function locateCorpus(input: string): Promise<{ corpus: string; ingest?: string }> {
  if (!(await stat(input)).isDirectory()) return { corpus: input };
  const dir = join(input, "output", "ml_corpus");
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^gates_.*\.parquet$/.test(n)).sort();
  if (names.length !== 1) throw new RuleError(`ml-training: ${relative(process.cwd(), dir)} should hold exactly one gates_*.parquet corpus, found ${names.length}`);
  const ingest = join(input, "INGEST.json");
  return { corpus: join(dir, names[0]!), ...((await stat(ingest).catch(() => null)) ? { ingest } : {}) };
}

export default defineRule({
  describe: "ingested corpus -> normalised week splits, sequence tensors (safetensors), features.json",
  async run(ctx) {
    const out = ctx.outputs.data;
    if (!out) throw new RuleError('ml-training: declare a directory output named "data"');
    const { corpus, ingest } = await locateCorpus(oneInput(ctx, "corpus"));
    const inputs: InputDigests = { [relative(ctx.root, corpus)]: { sha256: await sha256File(corpus), bytes: (await stat(corpus)).size } };
    if (ingest) {
      const rec = JSON.parse(await readFile(ingest, "utf8")) as { bundle?: { name?: string; sha256?: string } };
      if (rec.bundle?.sha256) inputs[`bundle:${rec.bundle.name ?? "?"}`] = { sha256: rec.bundle.sha256 };
    }
    try {
      const params = resolveTrainingParams(ctx.params);
      await buildTrainingData({ corpus, outDir: out, params, inputs, log: (l) => ctx.log(l) });
    } catch (e) {
      if (e instanceof TrainingParamError || e instanceof TrainingDataError || e instanceof SplitError) throw new RuleError(`ml-training: ${e.message}`);
      throw e;
    }
  },
});

/**
 * ml_ingest: the verified ingest of the Stage-1 bundle on the GPU host (src/bundle/ingest.ts).
 *
 * Inputs:  bundle    `output/ml_corpus_{week.span}.tgz`
 *          manifest  `output/ml_corpus_{week.span}.sha256`
 *          (the only files that cross from droplet to gpu: the engine ships declared deps)
 * Outputs: one directory output (named `dir` when there are several), e.g. `data/ml_corpus/`:
 *          the bundle's members without its top directory, SHA256SUMS (sha256sum -c format)
 *          and INGEST.json (names, digests, member count and bytes, the corpus parquet, and
 *          `backtest`: the backtest weeks' rolling gates and candles the bundle carries under
 *          backtest/, which the backtests read, src/bundle/ingest-backtest.ts).
 * Fails (RuleError, nothing kept) on any digest mismatch, missing or extra member, malformed
 * manifest line, unsafe path, link, device, FIFO, duplicate, truncated or non-gzip bundle.
 */
import { basename } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { IngestError, ingestBundle } from "../src/bundle/ingest.js";

export default defineRule({
  describe: "verified ingest of the Stage-1 bundle (digests checked, safe unpack)",
  async run(ctx) {
    const bundle = oneInput(ctx, "bundle");
    const manifest = oneInput(ctx, "manifest");
    if (ctx.inputs.bundle!.length !== 1 || ctx.inputs.manifest!.length !== 1) {
      throw new RuleError(`ml_ingest: inputs "bundle" and "manifest" must be one file each, got ${ctx.inputs.bundle!.length} and ${ctx.inputs.manifest!.length}`);
    }
    const names = Object.keys(ctx.outputs);
    const outDir = ctx.outputs.dir ?? (names.length === 1 ? ctx.outputs[names[0]!] : undefined);
    if (!outDir) throw new RuleError(`ml_ingest: declare one directory output (or one named "dir"), got ${JSON.stringify(names)}`);
    try {
      const s = await ingestBundle({ bundle, manifest, outDir, signal: ctx.signal });
      ctx.log(`ingest: ${s.members} members, ${s.bytes} bytes from ${basename(bundle)} (sha256 ${s.bundle.sha256})`);
      ctx.log(s.corpus ? `ingest: corpus ${s.corpus.path} (${s.corpus.bytes} bytes, sha256 ${s.corpus.sha256})` : "ingest: the bundle holds no corpus parquet");
    } catch (e) {
      if (e instanceof IngestError) throw new RuleError(e.message);
      throw e;
    }
  },
});

/**
 * lead-lag: weekly structure metrics vs forward returns over the last N weeks of the corpus.
 *
 * Inputs:  corpus    `output/ml_corpus/gates_{week.span}.parquet`
 * Params:  weeks     how many of the latest weeks (default 26)
 *          run_mode  default "rolling"
 *          source    corpus source to use (default: every source but `legacy*` exports, as
 *                    the baseline)
 *          metrics   structure metric names (default coherence, hazard, coherence_tau_slope,
 *                    domain_wall_slope, spectral_lowf_share)
 *          horizons  forward horizons in minutes (default all seven)
 * Outputs: features  `output/ml_corpus/lead_lag_features.csv`
 *          model     `output/ml_corpus/lead_lag_model.json` (OLS coef, stderr, t per horizon)
 */
import { relative } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { DEFAULT_LEAD_LAG_METRICS, fitLeadLag, LEAD_LAG_VERSION, leadLagRows, renderLeadLagCsv } from "../src/corpus/lead-lag.js";
import { sha256File } from "../src/bundle/manifest.js";
import { stableStringify } from "../src/engine/hash.js";
import { HORIZONS_MIN } from "../src/sep/types.js";
import { optionalNumber, optionalNumberList, optionalString, optionalStringList } from "../src/corpus/params.js";
import { STRUCTURE_METRICS } from "../src/corpus/gate-source.js";
import { writeAtomic } from "../src/io/write-atomic.js";
import { describeSourceFilter } from "../src/corpus/source-filter.js";

export default defineRule({
  describe: "lead-lag features (CSV) and OLS model (JSON) over the last 26 weeks",
  async run(ctx) {
    const corpus = ctx.inputs.corpus ?? [];
    if (corpus.length === 0) throw new RuleError('lead-lag: rule input "corpus" is missing');
    const csvOut = ctx.outputs.features, jsonOut = ctx.outputs.model;
    if (!csvOut || !jsonOut) throw new RuleError('lead-lag: declare outputs "features" (csv) and "model" (json)');
    const weeks = optionalNumber(ctx.params, "weeks", 26);
    const runMode = optionalString(ctx.params, "run_mode", "rolling");
    const metrics = optionalStringList(ctx.params, "metrics", DEFAULT_LEAD_LAG_METRICS);
    for (const m of metrics) if (!(STRUCTURE_METRICS as readonly string[]).includes(m)) throw new RuleError(`param "metrics": unknown structure metric "${m}"`);
    const horizons = optionalNumberList(ctx.params, "horizons", [...HORIZONS_MIN]);
    const source = optionalString(ctx.params, "source", "");
    const { rows, weeks: used } = await leadLagRows(corpus, { run_mode: runMode, weeks, metrics, horizons, ...(source ? { source } : {}) });
    if (rows.length === 0) throw new RuleError(`lead-lag: the corpus has no "${runMode}" rows with ${describeSourceFilter(source)}`);
    const inputs: Record<string, string> = {};
    for (const p of corpus) inputs[relative(ctx.root, p)] = await sha256File(p);
    const model = {
      format: "dagbuild.lead_lag_model",
      version: LEAD_LAG_VERSION,
      run_mode: runMode,
      sources: describeSourceFilter(source),
      weeks: used,
      metrics,
      design: "y = mean forward return (percent) of an instrument-week; X = [1, mean metrics, week-over-week deltas]",
      lineage: { inputs },
      rows: rows.length,
      horizons: fitLeadLag(rows, metrics, horizons),
    };
    await writeAtomic(csvOut, renderLeadLagCsv(rows, metrics, horizons));
    await writeAtomic(jsonOut, stableStringify(model));
    ctx.log(`lead-lag: ${rows.length} instrument-weeks over ${used.length} weeks (${describeSourceFilter(source)})`);
  },
});

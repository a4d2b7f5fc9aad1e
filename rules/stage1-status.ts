/**
 * stage1-status: `output/Stage1_status_{span_end}.md`.
 *
 * Inputs:  corpus     the corpus parquet
 *          candles    optional: every candle file (`data/candles/{instrument}/{candle_week}.parquet`,
 *                     both axes unbound): the instruments of the pipeline's axis, and the
 *                     coverage per instrument and week from each file's metadata
 *          baseline   optional `output/ml_corpus/baseline_report.json`
 *          artifacts  optional files listed with size and digest (bundle, manifest, lead-lag, doc)
 * Params:  span_end     the report date (usually "{week.last}"'s end, e.g. "2025-11-17"); required
 *          weeks        expected week ids (list), or week_first + week_last (Mondays, inclusive)
 *          instruments  expected instruments (default: those of the candle inputs, i.e. the
 *                       pipeline's instrument axis; without candle inputs, the corpus's)
 *          modes        expected run modes (default [rolling, isolation])
 *          commands     the dagbuild commands that produce Stage 1 (default: `dagbuild stage1`)
 * Outputs: status  `output/Stage1_status_{span_end}.md`
 */
import { basename, dirname, relative } from "node:path";
import { readFile, stat } from "node:fs/promises";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { corpusFacts, mondays, renderStatus, type CandleCoverage } from "../src/corpus/status-report.js";
import { readCandleMeta } from "../src/market/candle-store.js";
import { sha256File } from "../src/bundle/manifest.js";
import { optionalStringList, requireString } from "../src/corpus/params.js";
import { writeAtomic } from "../src/io/write-atomic.js";


export default defineRule({
  describe: "Stage 1 status report (coverage, sizes, baseline, blockers)",
  async run(ctx) {
    const corpus = ctx.inputs.corpus ?? [];
    if (corpus.length === 0) throw new RuleError('stage1-status: rule input "corpus" is missing');
    const out = ctx.outputs.status ?? ctx.outputs["0"];
    if (!out) throw new RuleError('stage1-status: declare an output named "status"');
    const spanEnd = requireString(ctx.params, "span_end");
    if (!/^\d{4}-\d{2}-\d{2}$/.test(spanEnd)) throw new RuleError(`param "span_end" must be an ISO date, got "${spanEnd}"`);
    let weeks = optionalStringList(ctx.params, "weeks", []);
    if (weeks.length === 0) weeks = mondays(requireString(ctx.params, "week_first"), requireString(ctx.params, "week_last"));
    let bytes = 0;
    for (const p of corpus) bytes += (await stat(p)).size;
    const facts = await corpusFacts(corpus, bytes);
    // Candle files are named data/candles/{instrument}/{week}.parquet (as replay-week reads them).
    const candlePaths = ctx.inputs.candles ?? [];
    const metas = await readCandleMeta(candlePaths);
    const candles: CandleCoverage[] = candlePaths.map((p, i) => ({
      instrument: metas[i]!.instrument ?? basename(dirname(p)),
      week: basename(p).replace(/\.parquet$/, ""),
      price_side: metas[i]!.price_side,
      coverage: metas[i]!.coverage ?? null,
    }));
    const fromAxes = candles.length ? [...new Set(candles.map((c) => c.instrument))].sort() : [...new Set([...facts.present].map((k) => k.split("|")[1]!))].sort();
    const expected = {
      weeks,
      instruments: optionalStringList(ctx.params, "instruments", fromAxes),
      modes: optionalStringList(ctx.params, "modes", ["rolling", "isolation"]),
    };
    let baseline: Record<string, unknown> | null = null;
    const bpath = ctx.inputs.baseline?.[0];
    if (bpath) {
      try {
        baseline = JSON.parse(await readFile(bpath, "utf8"));
      } catch (e) {
        throw new RuleError(`${relative(ctx.root, bpath)}: not valid JSON (${(e as Error).message})`);
      }
    }
    const artifacts = [];
    for (const p of [...corpus, ...(ctx.inputs.artifacts ?? [])]) {
      const st = await stat(p);
      if (st.isFile()) artifacts.push({ path: relative(ctx.root, p), bytes: st.size, sha256: await sha256File(p) });
    }
    const commands = optionalStringList(ctx.params, "commands", ["dagbuild stage1", "dagbuild verify output/ml_corpus"]);
    const text = renderStatus({ spanEnd, corpusName: relative(ctx.root, corpus[0]!), expected, facts, baseline, artifacts, commands, candles });
    await writeAtomic(out, text);
  },
});

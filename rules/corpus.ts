/**
 * corpus: all weekly parts (+ optional legacy exports) → the ML corpus parquet.
 *
 * Inputs:  parts    every `output/ml_corpus/parts/{mode}/{week}.parquet` (mode, week unbound)
 *          legacy   optional legacy gate exports (JSONL, flat or nested shape)
 * Params:  legacy            map workspace-relative path -> { source: "legacy_x", run_mode?: "rolling",
 *                            price_side?: bid|ask|mid }; every legacy input must be listed (its
 *                            rows get that source label); a declared side that differs from the
 *                            parts' is an error, an undeclared one is assumed and logged
 *          legacy_default    { source, run_mode?, price_side? } for legacy inputs not listed in
 *                            `legacy` (the vars of targets/corpus.yaml); "" values are unset
 *          decode_bitplanes  optional boolean (default false), must match the parts to be useful
 * Outputs: corpus   `output/ml_corpus/gates_{week.span}.parquet`
 * One row per (instrument, ts_ms, run_mode, source); the first input (parts in path order,
 * then legacy files in path order) wins a duplicate key. Ordered by run_mode, source,
 * instrument, ts_ms; byte-identical on rebuild.
 */
import { relative } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { buildCorpus, CorpusFormatError, type LegacyInput } from "../src/corpus/corpus.js";
import { GateParseError } from "../src/corpus/gate-source.js";
import { optionalBool } from "../src/corpus/params.js";
import { PRICE_SIDES } from "../src/market/candle.js";

export default defineRule({
  describe: "corpus parts + legacy exports -> gates_{span}.parquet",
  async run(ctx) {
    const out = ctx.outputs.corpus ?? ctx.outputs["0"];
    if (!out) throw new RuleError('corpus: declare an output named "corpus"');
    const parts = ctx.inputs.parts ?? [];
    const legacyPaths = ctx.inputs.legacy ?? [];
    const table = (ctx.params.legacy ?? {}) as Record<string, unknown>;
    if (typeof table !== "object" || Array.isArray(table)) throw new RuleError('corpus: param "legacy" must be a map path -> {source, run_mode}');
    const dflt = Object.fromEntries(
      Object.entries(((ctx.params.legacy_default ?? {}) as Record<string, unknown>)).filter(([, v]) => v !== ""),
    ) as { source?: unknown; run_mode?: unknown; price_side?: unknown };
    const legacy: LegacyInput[] = legacyPaths.map((p) => {
      const rel = relative(ctx.root, p);
      const listed = table[rel] as { source?: unknown; run_mode?: unknown; price_side?: unknown } | undefined;
      // Inputs from the `legacy` var take the defaults; "" (an unset var) means absent.
      const e = listed ?? (dflt.source ? dflt : undefined);
      if (!e || typeof e.source !== "string" || e.source === "") {
        throw new RuleError(`corpus: legacy input ${rel} has no entry in param "legacy" (need { source: <label> }) and no legacy_default.source`);
      }
      if (e.run_mode !== undefined && typeof e.run_mode !== "string") throw new RuleError(`corpus: params.legacy["${rel}"].run_mode must be a string`);
      if (e.price_side !== undefined && !(PRICE_SIDES as readonly unknown[]).includes(e.price_side)) {
        throw new RuleError(`corpus: params.legacy["${rel}"].price_side must be one of ${PRICE_SIDES.join(", ")}, got ${JSON.stringify(e.price_side)}`);
      }
      return { path: p, label: rel, source: e.source, run_mode: e.run_mode as string | undefined, ...(e.price_side ? { price_side: e.price_side as string } : {}) };
    });
    if (parts.length + legacy.length === 0) throw new RuleError("corpus: no parts and no legacy inputs");
    try {
      const s = await buildCorpus({ parts, legacy, decode_bitplanes: optionalBool(ctx.params, "decode_bitplanes", false), out });
      for (const w of s.warnings) ctx.log(`warning: ${w}`);
      ctx.log(`corpus: ${s.rows} rows (${s.partRows} from ${parts.length} parts, ${s.legacyRows} legacy, ${s.duplicates} duplicate keys dropped); price side ${s.priceSide ?? "not recorded"}`);
    } catch (e) {
      if (e instanceof GateParseError || e instanceof CorpusFormatError) throw new RuleError(e.message);
      throw e;
    }
  },
});

/**
 * corpus-part: one replay week's gates → one weekly corpus part (parquet, corpus format v1).
 *
 * Inputs:  gates   the weekly gates JSONL (`output/gates/{mode}/gates_{week}_{week.end}.jsonl`)
 * Params:  run_mode          "rolling" | "isolation" (usually "{mode}")
 *          week              week partition id (usually "{week}"); gates outside it are errors
 *          source            source label (e.g. "{source}")
 *          decode_bitplanes  optional boolean (default false): add decoded per-candle bitplanes
 *          price_side        optional bid | ask | mid (usually "{price_side}"): the candles' side,
 *                            recorded in the part's metadata (the merge refuses mixed sides)
 * Outputs: part    `output/ml_corpus/parts/{mode}/{week}.parquet`
 * Partition: mode x week. A bad gate line fails with `file:line: field "x": ...`.
 */
import { relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { buildPart } from "../src/corpus/parts.js";
import { GateParseError } from "../src/corpus/gate-source.js";
import { optionalBool, requireString } from "../src/corpus/params.js";
import { PRICE_SIDES } from "../src/market/candle.js";

function priceSide(v: unknown): string {
  if (!(PRICE_SIDES as readonly unknown[]).includes(v)) throw new RuleError(`corpus-part: param "price_side" must be one of ${PRICE_SIDES.join(", ")}, got ${JSON.stringify(v)}`);
  return v as string;
}

export default defineRule({
  describe: "weekly gates JSONL -> corpus part parquet",
  async run(ctx) {
    const gates = oneInput(ctx, "gates");
    const out = ctx.outputs.part ?? ctx.outputs["0"];
    if (!out) throw new RuleError('corpus-part: declare an output named "part"');
    const rc = {
      run_mode: requireString(ctx.params, "run_mode"),
      week: requireString(ctx.params, "week"),
      source: requireString(ctx.params, "source"),
      decode_bitplanes: optionalBool(ctx.params, "decode_bitplanes", false),
      ...(ctx.params.price_side !== undefined ? { price_side: priceSide(ctx.params.price_side) } : {}),
    };
    try {
      const s = await buildPart(gates, relative(ctx.root, gates), rc, out);
      ctx.log(`corpus-part: ${s.rows} rows from ${relative(ctx.root, gates)}`);
    } catch (e) {
      if (e instanceof GateParseError) throw new RuleError(e.message);
      throw e;
    }
  },
});

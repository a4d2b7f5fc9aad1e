/**
 * telemetry-doc: `docs/telemetry_schema.md` generated from the corpus parquet's actual schema.
 *
 * Inputs:  corpus  `output/ml_corpus/gates_{week.span}.parquet`
 * Params:  none
 * Outputs: doc     `docs/telemetry_schema.md`
 */
import { relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { readSchema, renderTelemetryDoc } from "../src/corpus/telemetry-doc.js";
import { sha256File } from "../src/bundle/manifest.js";
import { writeAtomic } from "../src/io/write-atomic.js";

export default defineRule({
  describe: "docs/telemetry_schema.md from the corpus schema",
  async run(ctx) {
    const corpus = oneInput(ctx, "corpus");
    const out = ctx.outputs.doc ?? ctx.outputs["0"];
    if (!out) throw new RuleError('telemetry-doc: declare an output named "doc"');
    const { columns, rows } = await readSchema(corpus);
    await writeAtomic(out, renderTelemetryDoc(relative(ctx.root, corpus), await sha256File(corpus), rows, columns));
  },
});

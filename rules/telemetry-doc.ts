/**
 * telemetry-doc: `output/telemetry_schema.md` generated from the corpus parquet's actual schema
 * (with example values from the data, so it is an output, never a tracked file; the committed
 * `docs/telemetry_schema.md` has no data values and is refreshed by `npm run docs:telemetry`).
 *
 * Inputs:  corpus  `output/ml_corpus/gates_{week.span}.parquet`
 * Params:  none
 * Outputs: doc     `output/telemetry_schema.md` (a path under docs/ is refused)
 */
import { relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { readSchema, renderTelemetryDoc } from "../src/corpus/telemetry-doc.js";
import { sha256File } from "../src/bundle/manifest.js";
import { writeAtomic } from "../src/io/write-atomic.js";

export default defineRule({
  describe: "output/telemetry_schema.md from the corpus schema",
  async run(ctx) {
    const corpus = oneInput(ctx, "corpus");
    const out = ctx.outputs.doc ?? ctx.outputs["0"];
    if (!out) throw new RuleError('telemetry-doc: declare an output named "doc"');
    // The doc carries data values: a build must not write them into the tracked docs/.
    // Outputs are staged under cache/tmp/<action dir>/<declared path>: judge the declared path.
    const declared = relative(ctx.root, out).replace(/^cache\/tmp\/[^/]+\//, "");
    if (/^docs\//.test(declared)) {
      throw new RuleError(`telemetry-doc: output ${declared} is under docs/ (tracked); write it under output/ (refresh the committed doc with npm run docs:telemetry)`);
    }
    const { columns, rows } = await readSchema(corpus);
    await writeAtomic(out, renderTelemetryDoc(relative(ctx.root, corpus), await sha256File(corpus), rows, columns));
  },
});

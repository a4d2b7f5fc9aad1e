/**
 * ml-guardrail: the strategy profile the droplet's gate engine and live stack use, from the
 * backtest verdict (src/promotion/guardrail-profile.ts).
 *
 * Inputs:  comparison  `output/ml_backtests/comparison.json` (format v2, with `verdict`)
 * Outputs: profile     `output/profiles/ml_guardrail.yaml` (dagbuild.ml_guardrail v1, checked
 *                      against schema/ml-guardrail.schema.json before it is written)
 */
import { readFile, writeFile } from "node:fs/promises";
import { relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { buildGuardrailProfile, formatGuardrailYaml, GuardrailError, parseGuardrailProfile } from "../src/promotion/guardrail-profile.js";

export default defineRule({
  describe: "the ML guardrail profile (enabled only when the verdict promoted a model)",
  async run(ctx) {
    const out = ctx.outputs["profile"];
    if (!out) throw new RuleError('ml-guardrail: declare an output named "profile"');
    for (const k of Object.keys(ctx.params)) throw new RuleError(`ml-guardrail: param "${k}": unknown (the rule takes none: the DSR level is the comparison's dsr_level)`);
    const src = oneInput(ctx, "comparison");
    const shown = relative(ctx.root, src);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(await readFile(src, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new RuleError(`ml-guardrail: ${shown}: cannot read: ${(e as Error).message.split("\n")[0]}`);
    }
    try {
      const p = buildGuardrailProfile(doc, shown);
      const text = formatGuardrailYaml(p);
      parseGuardrailProfile(text, relative(ctx.root, out)); // what we write must pass the schema
      await writeFile(out, text);
      ctx.log(p.enabled ? `ml-guardrail: promoted ${p.model!.name} (${p.model!.digest.slice(0, 12)}), threshold ${p.threshold!.value}` : `ml-guardrail: no promotion (${p.reasons.join("; ")}); the heuristic stays`);
    } catch (e) {
      if (e instanceof GuardrailError) throw new RuleError(`ml-guardrail: ${e.message}`);
      throw e;
    }
  },
});

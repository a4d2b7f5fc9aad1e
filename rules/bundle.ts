/**
 * bundle: the Stage-1 hand-off archive and its sha256sum manifest.
 *
 * Inputs:  any names; suggested: corpus (gates_{span}.parquet), summaries (roc_summary_*.json),
 *          reports (baseline_report.json, lead_lag_*, telemetry_schema.md, Stage1 status),
 *          models (output/ml_models/baseline_xgb/ directory), evidence (anything else).
 *          Directory inputs are packed recursively. Each file is stored as NAME/<workspace path>.
 * Params:  stem  optional archive stem (default: the bundle output's file name without .tgz,
 *                e.g. "ml_corpus_2025-05-12_2025-11-17"); must match the declared output name.
 * Outputs: bundle    `output/ml_corpus_{week.span}.tgz`   (deterministic: sorted, mtime 0, root/root)
 *          manifest  `output/ml_corpus_{week.span}.sha256` (sha256sum -c format; archive + every file)
 * Check:   cd output && tar -xzf ml_corpus_X.tgz && sha256sum -c ml_corpus_X.sha256
 * The rule does not write handoff/transfer_log.md: the host that moves the bundle appends to it
 * (src/engine/transfer-log.ts, appendTransfer).
 */
import { basename } from "node:path";
import { defineRule, RuleError } from "../src/engine/rule.js";
import { buildBundle } from "../src/bundle/bundle.js";
import { optionalString } from "../src/corpus/params.js";

export default defineRule({
  describe: "Stage-1 corpus bundle (.tgz + .sha256)",
  async run(ctx) {
    const archive = ctx.outputs.bundle;
    const manifest = ctx.outputs.manifest;
    if (!archive || !manifest) throw new RuleError('bundle: declare outputs "bundle" (.tgz) and "manifest" (.sha256)');
    const stem = optionalString(ctx.params, "stem", basename(archive).replace(/\.tgz$/, ""));
    if (!/^[A-Za-z0-9._-]+$/.test(stem)) throw new RuleError(`bundle: param "stem" must be a plain file name, got ${JSON.stringify(stem)}`);
    const inputs = Object.fromEntries(Object.entries(ctx.inputs).filter(([k]) => k !== "*"));
    try {
      const r = await buildBundle({ root: ctx.root, inputs, stem, archive, manifest });
      ctx.log(`bundle: ${r.files.length} files, sha256 ${r.archiveSha256}`);
    } catch (e) {
      throw new RuleError((e as Error).message);
    }
  },
});

/**
 * deploy: the ML guardrail profile to the droplet and, when configured, to Valkey
 * (src/promotion/deploy.ts). Never in the pipeline's `default:`: `dagbuild deploy`.
 *
 * Inputs:  profile  `output/profiles/ml_guardrail.yaml` (schema-checked before anything moves)
 * Params:  valkey_url  redis://[user:password@]host:port/db, `env:NAME`, or "" (skip the push)
 *          key         profile key (default profile:ml_guardrail)
 *          from, to    host names for the transfer rows (default gpu, droplet)
 *          droplet_path  workspace path of the "profile" output, as the transfer row names it
 *                      (default output/deploy/ml_guardrail.yaml; the rule sees only a staging path)
 * Outputs: profile  `output/deploy/ml_guardrail.yaml` (the droplet's copy, byte for byte)
 *          record   `output/deploy/ml_guardrail.deploy.json` (dagbuild.deploy_record v1: digest,
 *                   Valkey endpoint host:port/db and keys; no password, no time)
 * Side effects, in this order and only once everything before succeeded: the Valkey keys, then
 * the outputs, then the hand-off rows in `handoff/transfer_log.md` of the workspace the rule
 * runs in (the droplet's, when droplet is an ssh host; the engine logs the profile's upload
 * there on this machine). A rerun of the same profile appends no row twice.
 */
import { readFile, writeFile } from "node:fs/promises";
import { relative } from "node:path";
import { defineRule, oneInput, RuleError } from "../src/engine/rule.js";
import { workspacePaths } from "../src/engine/workspace.js";
import { deploy, DeployError, formatDeployRecord, recordTransfers } from "../src/promotion/deploy.js";

const KNOWN = ["valkey_url", "key", "from", "to", "droplet_path"];

export default defineRule({
  describe: "push the ML guardrail profile to the droplet and Valkey; record the hand-off",
  async run(ctx) {
    const { profile: out, record: recOut } = ctx.outputs;
    if (!out || !recOut) throw new RuleError('deploy: declare outputs named "profile" and "record"');
    for (const k of Object.keys(ctx.params)) if (!KNOWN.includes(k)) throw new RuleError(`deploy: param "${k}": unknown (known: ${KNOWN.join(", ")})`);
    const str = (k: string, d: string): string => {
      const v = ctx.params[k] ?? d;
      if (typeof v !== "string") throw new RuleError(`deploy: param "${k}" must be a string`);
      return v;
    };
    const src = oneInput(ctx, "profile");
    const shown = relative(ctx.root, src);
    const from = str("from", "gpu"), to = str("to", "droplet");
    const target = str("droplet_path", "output/deploy/ml_guardrail.yaml");
    if (!out.endsWith(`/${target}`)) throw new RuleError(`deploy: param "droplet_path" ${JSON.stringify(target)} is not the "profile" output's path`);
    try {
      const r = await deploy({ text: await readFile(src, "utf8"), shown, target, valkeyUrl: str("valkey_url", ""), key: str("key", "profile:ml_guardrail"), from, to, log: ctx.log });
      await writeFile(out, r.text);
      await writeFile(recOut, formatDeployRecord(r.record));
      const n = recordTransfers(workspacePaths(ctx.root).transferLog, r.record, from, to);
      ctx.log(n ? `deploy: ${n} hand-off row${n > 1 ? "s" : ""} appended to handoff/transfer_log.md` : "deploy: this profile is already the newest in handoff/transfer_log.md (no row appended)");
    } catch (e) {
      if (e instanceof DeployError) throw new RuleError(`deploy: ${e.message}`);
      throw e;
    }
  },
});


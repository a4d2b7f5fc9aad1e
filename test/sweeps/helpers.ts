/**
 * Sweep test helpers: a fast fake model rule (a directory with metrics.json and config.json as
 * functions of the params, in milliseconds) and a workspace holding a sweep of it.
 *
 * The fake model appends its action id to `<ws>/runs.log` (test/helpers/rig.ts `ranIds`) and
 * `start|end <id> <ms> <CUDA_VISIBLE_DEVICES>` to `<ws>/trace.log`, and throws when the file
 * `<ws>/fail/<trial>` exists: a failure invisible to the key, like a crash, so removing the
 * file lets the same trial succeed with the same key.
 */
import { makeWs, write } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";

/** JavaScript of the fake model rule (valid as .ts text to hash and .js to run). */
export const FAKE_MODEL = `// dagbuild sweep test: fake model
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
export default {
  describe: "test fake: a model directory from the params",
  async run(ctx) {
    const id = ctx.target + (Object.keys(ctx.partition).length ? "[" + Object.entries(ctx.partition).map(([k, v]) => k + "=" + v).join(",") + "]" : "");
    const dev = (ctx.env && ctx.env.CUDA_VISIBLE_DEVICES) || "-";
    appendFileSync(join(ctx.root, "runs.log"), id + "\\n");
    appendFileSync(join(ctx.root, "trace.log"), "start\\t" + id + "\\t" + Date.now() + "\\t" + dev + "\\n");
    const p = ctx.params;
    if (p.sleep_ms) await new Promise((r) => setTimeout(r, p.sleep_ms));
    const trial = Object.values(ctx.partition)[0];
    const failed = trial !== undefined && existsSync(join(ctx.root, "fail", trial));
    appendFileSync(join(ctx.root, "trace.log"), "end\\t" + id + "\\t" + Date.now() + "\\t" + dev + "\\n");
    if (failed) throw new Error("fake model failure of " + id);
    const auc = Math.round((0.5 + p.units / 1000 - p.lr + (p.seed || 0) / 100) * 1e6) / 1e6;
    const out = ctx.outputs.model;
    writeFileSync(join(out, "metrics.json"), JSON.stringify({ format: "dagbuild.ml_metrics", version: 1,
      validation: { model: { auc, log_loss: 0.69 - auc / 10 } }, test: { model: { auc: auc - 0.01 } },
      training: { seconds: 0.01, backend: "fake", best_epoch: 1, epochs_run: 1, device: dev, process_device: process.env.CUDA_VISIBLE_DEVICES || "-" } }));
    writeFileSync(join(out, "config.json"), JSON.stringify({ architecture: { kind: "lstm", units: p.units, layers: 1 }, training: { lr: p.lr, seed: p.seed || 0 } }));
  },
};
`;

/** `n` distinct units values: 1..n. */
export const unitsList = (n: number) => Array.from({ length: n }, (_, i) => i + 1).join(", ");

/**
 * A workspace with a shared `data` action, the sweep `sweep` over `trial` (units x lr) of the
 * fake model, and a shell-rule ledger listing the trial directories.
 */
export function sweepWorkspace(opts: { units: number; seed?: number; gpus?: number; sleepMs?: number }): string {
  const ws = makeWs(pipelineText(opts), { fake: false });
  writeModule(ws, "rules/fakemodel.ts", FAKE_MODEL);
  return ws;
}

/** The pipeline text of `sweepWorkspace`. */
export function pipelineText(opts: { units: number; seed?: number; gpus?: number; sleepMs?: number }): string {
  return [
    "version: 1",
    "default: [ledger]",
    ...(opts.gpus ? ["hosts:", `  gpu: { transport: local, resources: { gpu: ${opts.gpus} } }`] : []),
    "axes:",
    `  trial: { grid: { units: [${unitsList(opts.units)}], lr: [0.001, 0.003] } }`,
    "targets:",
    "  data:",
    "    outputs: [out/data.txt]",
    '    run: "echo data > {out}"',
    "  sweep:",
    "    partition: [trial]",
    '    outputs: { model: "out/sweeps/{trial}/" }',
    "    deps: { data: out/data.txt }",
    "    rule: rules/fakemodel.ts",
    `    params: { units: "{trial.units}", lr: "{trial.lr}", seed: ${opts.seed ?? 0}${opts.sleepMs ? `, sleep_ms: ${opts.sleepMs}` : ""} }`,
    ...(opts.gpus ? ["    host: gpu", "    resources: { gpu: 1 }"] : []),
    "  ledger:",
    "    outputs: [out/ledger.txt]",
    '    deps: { trials: "out/sweeps/{trial}/" }',
    '    run: "for d in {deps}; do echo $(basename $d); done > {out}"',
    "",
  ].join("\n");
}

/** Rewrites the workspace's pipeline. */
export function setPipeline(ws: string, opts: Parameters<typeof pipelineText>[0]): void {
  write(ws, "pipeline.yaml", pipelineText(opts));
}

/** Trial action id. */
export const trialAction = (units: number, lr: number) => `sweep[trial=lr-${lr}_units-${units}]`;

/**
 * The promotion chain through the real target files (targets/backtest.yaml and
 * targets/promotion.yaml) on the hand-made backtest inputs: backtests, the comparison with a
 * sweep ledger counted through `--set sweep_ledgers=...`, the guardrail profile, and an
 * explicit deploy with no Valkey URL (skipped, logged); the transfer log gets the droplet row.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTransfers } from "../../src/engine/transfer-log.js";
import { parseGuardrailProfile } from "../../src/promotion/guardrail-profile.js";
import { tempRoot } from "../corpus/helpers.js";
import { INSTS, VAL_WEEK, WEEKS, writeIngestedInputs, writeInputs } from "../backtest/fixtures.js";
import { REPO, cli, parseEvents } from "../helpers/rig.js";

test("backtests -> comparison (sweep trials in N) -> ml_guardrail -> deploy", async () => {
  const ws = tempRoot("promotion-pipeline");
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  mkdirSync(join(ws, "targets"));
  for (const f of ["backtest.yaml", "promotion.yaml"]) copyFileSync(join(REPO, "targets", f), join(ws, "targets", f));
  writeFileSync(
    join(ws, "pipeline.yaml"),
    `version: 1\ndefault: [ml_guardrail]\ninclude: [targets/*.yaml]\naxes:\n  instrument: [${INSTS.join(", ")}]\n  week: { span: [${VAL_WEEK}, ${WEEKS[1]}], step: week }\n  model: [toy]\nhosts:\n  gpu: { transport: local, resources: { gpu: 1 } }\n  droplet: { transport: local }\n`,
  );
  await writeIngestedInputs(ws, await writeInputs(ws)); // the backtests read the ingested bundle (data/ml_corpus/)
  mkdirSync(join(ws, "sweeps/lstm"), { recursive: true });
  writeFileSync(join(ws, "sweeps/lstm/ledger.jsonl"), `${JSON.stringify({ kind: "header", format: "dagbuild.sweep_ledger", version: 1, model: "lstm", trials_tried: 12, ok: 12, failed: 0, pruned: 0, selection: { metric: "validation.model.auc", best: null } })}\n`);
  const ids = (r: { stdout: string }) => parseEvents(r.stdout).filter((e) => e.type === "action-start").map((e) => (e as { id: string }).id).sort();

  const b = cli(ws, ["--json", "--set", "sweep_ledgers=sweeps/*/ledger.jsonl"], 180_000);
  assert.is(b.code, 0, `${b.stdout.slice(-2000)}\n${b.stderr.slice(-2000)}`);
  assert.equal(ids(b), ["backtest[model=toy]", "backtest_comparison", "backtest_heuristic", "backtest_no_trade", "ml_guardrail"], "the default builds the profile, never deploys");
  const c = JSON.parse(readFileSync(join(ws, "output/ml_backtests/comparison.json"), "utf8"));
  const toy = c.variants.find((v: { variant: string }) => v.variant === "toy");
  assert.is(c.verdict.trials.N, c.verdict.trials.threshold_candidates.toy + 12, "sweep trials counted");
  assert.equal(c.verdict.trials.sweeps, [{ ledger: "sweeps/lstm/ledger.jsonl", model: "lstm", trials_tried: 12 }]);
  assert.is(typeof toy.psr, "number");
  assert.is(toy.beats_no_trade, toy.pnl > 0);
  assert.match(readFileSync(join(ws, "output/ml_backtests/comparison.md"), "utf8"), /## Verdict: (no edge|promoted)/);
  const p = parseGuardrailProfile(readFileSync(join(ws, "output/profiles/ml_guardrail.yaml"), "utf8"), "ml_guardrail.yaml");
  assert.is(p.enabled, c.verdict.promoted && c.verdict.candidate.threshold.chosen_on === "validation");
  assert.equal(p.selection.backtest_weeks, WEEKS);

  const d = cli(ws, ["--json", "--set", "sweep_ledgers=sweeps/*/ledger.jsonl", "deploy"], 120_000);
  assert.is(d.code, 0, d.stderr.slice(-2000));
  assert.equal(ids(d), ["deploy"]);
  assert.match(readFileSync(join(ws, "cache/logs/deploy.log"), "utf8"), /the Valkey push is skipped/);
  assert.is(readFileSync(join(ws, "output/deploy/ml_guardrail.yaml"), "utf8"), readFileSync(join(ws, "output/profiles/ml_guardrail.yaml"), "utf8"));
  assert.equal(readTransfers(join(ws, "handoff/transfer_log.md")).map((r) => [r.what, r.from, r.to]), [["output/deploy/ml_guardrail.yaml", "gpu", "droplet"]]);
});

test.run();

/**
 * The guardrail profile (src/promotion/guardrail-profile.ts, rules/ml-guardrail.ts): enabled
 * only when the verdict promoted; model, digest and threshold come from validation choices,
 * so backtest-week numbers that leave the verdict as it was leave the profile byte for byte;
 * the schema refuses malformed profiles at their line; the simulator options it gives.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import rule from "../../rules/ml-guardrail.js";
import { buildGuardrailProfile, formatGuardrailYaml, guardrailRunOptions, parseGuardrailProfile } from "../../src/promotion/guardrail-profile.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { comparisonDoc, DIGEST, INSTS, WEEKS } from "./fixtures.js";

const yamlOf = (doc: Record<string, unknown>) => formatGuardrailYaml(buildGuardrailProfile(doc, "output/ml_backtests/comparison.json"));

test("a planted edge: the promoted model, its digest and its validation threshold", () => {
  const text = yamlOf(comparisonDoc(0.0006));
  const p = parseGuardrailProfile(text, "ml_guardrail.yaml");
  assert.is(p.enabled, true);
  assert.is(p.decision, "promoted");
  assert.equal(p.model, { name: "lstm", digest: DIGEST });
  assert.is(p.threshold!.value, 0.62, "the candidate with the best validation Sharpe");
  assert.is(p.threshold!.chosen_on, "validation");
  assert.equal(p.instruments, INSTS);
  assert.equal(p.selection.backtest_weeks, WEEKS);
  assert.equal(p.gate, { statistic: "deflated_sharpe_ratio", level: 0.95, passed: true });
  assert.match(text, /^# ML guardrail profile \(format dagbuild\.ml_guardrail, version 1/);
  assert.equal(guardrailRunOptions(p), { threshold: 0.62, hazard: null, hazardMultiplier: 1 });
});

test("no edge: no promotion, the heuristic stays, no threshold for the simulator", () => {
  const p = parseGuardrailProfile(yamlOf(comparisonDoc(-0.0001)), "ml_guardrail.yaml");
  assert.is(p.enabled, false);
  assert.is(p.decision, "no promotion");
  assert.is(p.strategy, "heuristic");
  assert.is(p.model, null);
  assert.is(p.threshold, null);
  assert.ok(p.reasons.some((r) => /DSR .* < 0\.95/.test(r)), p.reasons.join("; "));
  assert.equal(guardrailRunOptions(p), { hazard: null, hazardMultiplier: 1 });
});

test("backtest-week numbers do not move the profile; validation numbers do", () => {
  const base = yamlOf(comparisonDoc(0.0006));
  // gru becomes far the best on the backtest weeks, and lstm's per-week figures change: the
  // verdict still promotes lstm (picked on validation), so not a byte moves.
  const tested = yamlOf(comparisonDoc(0.0006, (l) => {
    Object.assign(l[2]!, { pnl: 99999, sharpe: 9, sharpe_period: 0.9, per_week: { [WEEKS[1]!]: { pnl: 99999, sharpe: 9, trades: 3 } } });
    Object.assign(l[1]!, { per_week: { [WEEKS[0]!]: { pnl: 123, sharpe: 1, trades: 1 } }, max_dd: 777 });
  }));
  assert.is(tested, base);
  // A different validation Sharpe picks a different threshold.
  const val = yamlOf(comparisonDoc(0.0006, (l) => {
    const t = l[1]!.threshold as unknown as { value: number; candidates: { sharpe: number }[] };
    t.candidates[2]!.sharpe = 3;
    t.value = 0.7;
  }));
  assert.is(parseGuardrailProfile(val, "x").threshold!.value, 0.7);
});

test("a promotion without a validation-chosen threshold is refused", () => {
  // lstm with a fixed threshold (no validation Sharpes) as the only model: selected on the
  // backtest, promoted by the verdict, refused by the profile.
  const only = comparisonDoc(0.0006, (l) => {
    Object.assign(l[1]!, { threshold: { value: 0.5, method: "fixed (pipeline param)", chosen_on: "param" } });
    l.splice(2, 1);
  });
  const p = buildGuardrailProfile(only, "c.json");
  assert.is(p.enabled, false);
  assert.match(p.reasons.join("; "), /chosen on "param", not on validation weeks/);
  assert.is((only["verdict"] as { promoted: boolean }).promoted, true, "the verdict alone would promote");
});

test("the schema refuses a malformed profile at its line", () => {
  const text = yamlOf(comparisonDoc(-0.0001));
  const at = (key: string) => text.split("\n").findIndex((l) => l.startsWith(`${key}:`)) + 1;
  assert.throws(() => parseGuardrailProfile(text.replace(/^enabled: false$/m, "enabled: true"), "p.yaml"), new RegExp(`p\\.yaml:${at("decision")}:\\d+: field "decision": must be "promoted"`));
  assert.throws(() => parseGuardrailProfile(text.replace(/^version: 1$/m, "version: 2"), "p.yaml"), new RegExp(`p\\.yaml:${at("version")}:\\d+: field "version": must be 1`));
  const n = text.split("\n").length;
  assert.throws(() => parseGuardrailProfile(`${text}extra: 1\n`, "p.yaml"), new RegExp(`p\\.yaml:${n}:1: unknown key "extra" in profile`));
});

test("rule: comparison.json in, schema-checked ml_guardrail.yaml out", async () => {
  const root = tempRoot("ml-guardrail");
  mkdirSync(join(root, "output/ml_backtests"), { recursive: true });
  writeFileSync(join(root, "output/ml_backtests/comparison.json"), JSON.stringify(comparisonDoc(0.0006)));
  const log = await runRule(rule, root, { inputs: { comparison: ["output/ml_backtests/comparison.json"] }, outputs: { profile: "output/profiles/ml_guardrail.yaml" } });
  const p = parseGuardrailProfile(readFileSync(join(root, "output/profiles/ml_guardrail.yaml"), "utf8"), "x");
  assert.is(p.model!.name, "lstm");
  assert.match(log.join("\n"), /promoted lstm/);
  writeFileSync(join(root, "output/ml_backtests/comparison.json"), JSON.stringify({ format: "dagbuild.backtest_comparison", version: 1 }));
  try {
    await runRule(rule, root, { inputs: { comparison: ["output/ml_backtests/comparison.json"] }, outputs: { profile: "output/profiles/ml_guardrail.yaml" } });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /output\/ml_backtests\/comparison\.json: not a dagbuild\.backtest_comparison version 2/);
  }
});

test.run();

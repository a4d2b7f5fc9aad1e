import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import baseline from "../../rules/baseline-gbm.js";
import { withDuckDb, sqlString } from "../../src/io/duckdb.js";
import { LIBXGBOOST_PATH } from "../../src/ml/xgboost.js";
import { rocAuc, youdenThreshold } from "../../src/ml/metrics.js";
import { runRule, tempRoot } from "./helpers.js";

const root = tempRoot("baseline");
const haveLib = existsSync(LIBXGBOOST_PATH);
if (!haveLib) console.log(`SKIP baseline XGBoost tests: ${LIBXGBOOST_PATH} missing (apt-get install -y libxgboost0)`);
/** Tests that need libxgboost: skipped (and counted as skipped) without it. */
const withLib = haveLib ? test : test.skip;

/**
 * A synthetic corpus: 30 weeks x 2000 gates. Uniforms come from DuckDB's hash of the row index
 * (deterministic). `signal` plants the label in structure_coherence; otherwise labels are noise.
 */
async function makeCorpus(path: string, signal: boolean): Promise<void> {
  const u = (k: number) => `((hash(i, ${k}) % 1000003)::DOUBLE / 1000003)`;
  const label = signal ? `(${u(1)} - 0.5) + 0.6 * (${u(5)} - 0.5)` : `(${u(5)} - 0.5)`;
  await withDuckDb(async (c) => {
    await c.run(`COPY (
      SELECT 'EUR_USD' AS instrument,
             (1747008000000 + (i // 2000) * 604800000 + (i % 2000) * 240000)::BIGINT AS ts_ms,
             strftime(DATE '2025-05-12' + INTERVAL (7 * (i // 2000)) DAY, '%Y-%m-%d') AS week,
             'rolling' AS run_mode, 'synthetic' AS source, true AS label_complete,
             ${u(1)} AS structure_coherence, ${u(2)} AS structure_entropy, ${u(3)} * 0.6 AS hazard,
             (1 + hash(i, 4) % 6)::INTEGER AS repetitions, (i % 3 = 0) AS session_london,
             NULL::DOUBLE AS canonical_autocorr,
             ${label} AS roc_forward_pct_15, ${label} * 2 AS roc_forward_pct_60
      FROM range(60000) t(i)) TO ${sqlString(path)} (FORMAT parquet)`);
  });
}

async function runBaseline(corpusRel: string, out: string): Promise<Record<string, any>> {
  await runRule(baseline, root, {
    inputs: { corpus: [corpusRel] },
    outputs: { report: `${out}/baseline_report.json`, model: `${out}/baseline_xgb/` },
    params: { horizons: [15, 60], rounds: 60 },
  });
  return JSON.parse(readFileSync(join(root, out, "baseline_report.json"), "utf8"));
}

test("AUC handles ties with mid-ranks", () => {
  assert.is(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
  assert.is(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.is(rocAuc([1, 1, 0, 0], [1, 0, 1, 0]), 0.5);
  assert.is(rocAuc([0.2, 0.2, 0.9], [0, 1, 1]), 0.75);
  assert.ok(Number.isNaN(rocAuc([1, 2], [1, 1])));
  assert.is(youdenThreshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 0.8);
});

withLib("pure noise: test AUC 0.50 +- 0.02; planted signal: clearly above; week split; lineage", async () => {
  await makeCorpus(join(root, "noise.parquet"), false);
  await makeCorpus(join(root, "signal.parquet"), true);
  const noise = await runBaseline("noise.parquet", "n");
  const sig = await runBaseline("signal.parquet", "s");
  for (const h of ["15", "60"]) {
    const a = noise.horizons[h].auc.test;
    assert.ok(Math.abs(a - 0.5) <= 0.02, `noise test AUC h=${h}: ${a}`);
    const b = sig.horizons[h].auc.test;
    assert.ok(b > 0.75, `signal test AUC h=${h}: ${b}`);
    assert.ok(sig.horizons[h].auc_delta_vs_hazard.test > 0.2);
    assert.is(sig.horizons[h].mean_abs_shap_test && Object.keys(sig.horizons[h].mean_abs_shap_test)[0] !== undefined, true);
  }
  // The planted feature dominates SHAP.
  const shap = sig.horizons["15"].mean_abs_shap_test as Record<string, number>;
  const top = Object.entries(shap).sort((x, y) => y[1] - x[1])[0]![0];
  assert.is(top, "structure_coherence");
  // Split by week: 30 weeks -> 18 / 6 / 6, contiguous, disjoint.
  assert.is(sig.split.train.weeks.length, 18);
  assert.is(sig.split.validation.weeks.length, 6);
  assert.is(sig.split.test.weeks.length, 6);
  assert.is(sig.split.train.rows, 36000);
  assert.ok(sig.split.train.weeks.at(-1) < sig.split.validation.weeks[0] && sig.split.validation.weeks.at(-1) < sig.split.test.weeks[0]);
  assert.equal(sig.dropped_features, ["canonical_autocorr"]);
  assert.match(sig.lineage.inputs["signal.parquet"].sha256, /^[0-9a-f]{64}$/);
  const cb = sig.horizons["15"].class_balance.test;
  assert.is(cb.positives + cb.negatives, 12000);
  const svg = readFileSync(join(root, "s/baseline_xgb/shap_summary.svg"), "utf8");
  assert.match(svg, /^<\?xml/);
  assert.match(svg, /structure_coherence/);
  const model = JSON.parse(readFileSync(join(root, "s/baseline_xgb/model.json"), "utf8"));
  assert.is(model.learner.gradient_booster.model.gbtree_model_param.num_trees, "60");
  assert.ok(existsSync(join(root, "s/baseline_xgb/model_h60.json")));
  // Rebuild: byte-identical report and model.
  await runBaseline("signal.parquet", "s2");
  for (const f of ["baseline_report.json", "baseline_xgb/model.json", "baseline_xgb/shap_summary.svg", "baseline_xgb/features.json"]) {
    assert.ok(readFileSync(join(root, "s", f)).equals(readFileSync(join(root, "s2", f))), `${f} differs between runs`);
  }
  // Python's xgboost reads the model, when it is installed (a failure to load it is a failure).
  if (spawnSync("python3", ["-c", "import xgboost"], { timeout: 60_000 }).status !== 0) {
    console.log("SKIP python xgboost model load: python3 xgboost module not installed");
  } else {
    const py = spawnSync("python3", ["-c", `import xgboost, sys; b = xgboost.Booster(model_file=sys.argv[1]); print(b.num_boosted_rounds())`, join(root, "s/baseline_xgb/model.json")], { encoding: "utf8", timeout: 60_000 });
    assert.is(py.status, 0, py.stderr);
    assert.is(py.stdout.trim(), "60");
  }
});

test.after(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {}
});

test.run();

/**
 * `dagbuild backtest --guardrail G`: an enabled profile runs exactly as `--threshold X` with the
 * profile's threshold; a disabled one runs the heuristic; scores of another model are refused.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";
import { buildGuardrailProfile, formatGuardrailYaml } from "../../src/promotion/guardrail-profile.js";
import { tempRoot } from "../corpus/helpers.js";
import { CLI } from "../helpers/rig.js";
import { WEEKS, writeInputs } from "../backtest/fixtures.js";
import { comparisonDoc, DIGEST } from "./fixtures.js";

const root = tempRoot("cli-guardrail");
const W = WEEKS[0]!;
const END = new Date(Date.parse(`${W}T00:00:00Z`) + 7 * 86_400_000 - 60_000).toISOString();

function bt(out: string, extra: string[]): { status: number | null; stderr: string; s: Record<string, unknown> | null } {
  const gates = join(root, `output/gates/rolling/gates_${W}_${WEEKS[1]}.jsonl`);
  const r = spawnSync(CLI, ["backtest", "--candles", join(root, `data/candles/EUR_USD/${W}.parquet`), "--gates", gates, "--instrument", "EUR_USD", "--start", W, "--end", END, "--out", join(root, out), ...extra], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr, s: r.status === 0 ? JSON.parse(readFileSync(join(root, out, "summary.json"), "utf8")) : null };
}

test.before(async () => {
  await writeInputs(root);
  // The fixture's scores with a sha256 model digest (the profile's).
  await withDuckDb(async (conn) => {
    await conn.run(`COPY (SELECT * REPLACE (${sqlString(DIGEST)} AS model_digest) FROM read_parquet(${sqlString(join(root, "output/ml_scores/toy.parquet"))})) TO ${sqlString(join(root, "scores.parquet"))} (FORMAT parquet)`);
  });
  writeFileSync(join(root, "on.yaml"), formatGuardrailYaml(buildGuardrailProfile(comparisonDoc(0.0006), "c.json")));
  writeFileSync(join(root, "off.yaml"), formatGuardrailYaml(buildGuardrailProfile(comparisonDoc(-0.0001), "c.json")));
});

test("enabled: the same run as --threshold with the profile's threshold", () => {
  const scores = join(root, "scores.parquet");
  const g = bt("g-on", ["--ml-scores", scores, "--guardrail", join(root, "on.yaml")]);
  const t = bt("t-on", ["--ml-scores", scores, "--threshold", "0.62"]);
  assert.is(g.status, 0, g.stderr);
  assert.is(g.s!["pnl"], t.s!["pnl"]);
  assert.is(g.s!["trades"], t.s!["trades"]);
  const h = bt("h", []);
  assert.ok((g.s!["trades"] as number) < (h.s!["trades"] as number), "the guardrail filters gates");
  assert.equal((g.s!["guardrail"] as { model: unknown }).model, { name: "lstm", digest: DIGEST });
});

test("disabled: the heuristic; another model's scores are refused; flags that clash are refused", () => {
  const off = bt("g-off", ["--guardrail", join(root, "off.yaml")]);
  const h = bt("h2", []);
  assert.is(off.status, 0, off.stderr);
  assert.is(off.s!["pnl"], h.s!["pnl"]);
  const other = bt("g-x", ["--ml-scores", join(root, "output/ml_scores/toy.parquet"), "--guardrail", join(root, "on.yaml")]);
  assert.is(other.status, 2);
  assert.match(other.stderr, /model digest d1g, but --guardrail .*on\.yaml promotes lstm/);
  const clash = bt("g-c", ["--ml-scores", join(root, "scores.parquet"), "--guardrail", join(root, "on.yaml"), "--threshold", "0.5"]);
  assert.is(clash.status, 2);
  assert.match(clash.stderr, /--guardrail sets the threshold/);
  const missing = bt("g-m", ["--guardrail", join(root, "on.yaml")]);
  assert.match(missing.stderr, /is enabled \(model lstm\): give its scores with --ml-scores/);
});

test.run();

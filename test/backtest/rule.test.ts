/**
 * The backtest rules on hand-made inputs (fixtures.ts): every variant's files; the variant
 * P&L equals the sum of the CLI's single runs per instrument-week; the guardrail trades only
 * scored gates at or above the threshold; backtest weeks overlapping the model's training or
 * validation weeks are an error naming them; the comparison; and a small pipeline build of
 * targets/backtest.yaml.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import backtest from "../../rules/backtest.js";
import comparison from "../../rules/backtest-comparison.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { INSTS, VAL_WEEK, WEEKS, writeIngestedInputs, writeInputs } from "./fixtures.js";
import { CLI, REPO, cli, parseEvents } from "../helpers/rig.js";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";

const root = tempRoot("backtest-rule");
let inputs: Awaited<ReturnType<typeof writeInputs>>;
const PROFILE = join(REPO, "config/open_fxday.yaml");

async function variant(name: string, extra: Record<string, unknown> = {}, ws = root) {
  const base = { training: inputs.training, gates: inputs.gates, candles: inputs.candles };
  const ins = name === "heuristic" || name === "no_trade" ? base : { ...base, scores: inputs.scores, model: inputs.model };
  mkdirSync(join(ws, "config"), { recursive: true });
  copyFileSync(PROFILE, join(ws, "config/open_fxday.yaml"));
  await runRule(backtest, ws, { inputs: { ...ins, profile: ["config/open_fxday.yaml"] }, outputs: { dir: `output/ml_backtests/${name}/` }, params: { variant: name, mode: "rolling", ...extra } });
  return JSON.parse(readFileSync(join(ws, `output/ml_backtests/${name}/summary.json`), "utf8"));
}

test.before(async () => {
  inputs = await writeInputs(root);
});

test("each variant writes summary.json, nav.csv, trades.csv and nav.svg; P&L adds up", async () => {
  const h = await variant("heuristic");
  assert.equal(h.weeks, WEEKS);
  assert.is(h.capital, 100000 * INSTS.length);
  assert.ok(h.trades > 0);
  const dir = join(root, "output/ml_backtests/heuristic");
  const trades = readFileSync(join(dir, "trades.csv"), "utf8").trim().split("\n");
  assert.is(trades.length - 2, h.trades);
  assert.ok(trades[1]!.startsWith("week,instrument,entry_time"));
  const nav = readFileSync(join(dir, "nav.csv"), "utf8").trim().split("\n");
  assert.is(Number(nav[nav.length - 1]!.split(",")[2]), h.capital + h.pnl);
  assert.match(readFileSync(join(dir, "nav.svg"), "utf8"), /<svg[\s\S]*<path/);
  const weekSum = WEEKS.reduce((a, w) => a + h.per_week[w].pnl, 0);
  assert.ok(Math.abs(weekSum - h.pnl) < 1e-6, "weeks add up");
  assert.is(h.T, 4, "two dates a week, each week against its own account");
  // The same runs through the CLI, one instrument-week at a time.
  let cliPnl = 0, cliTrades = 0;
  for (const inst of INSTS) {
    for (const w of WEEKS) {
      const gates = inputs.gates.find((g) => g.includes(`gates_${w}`))!;
      const out = join(root, `cli-${inst}-${w}`);
      const end = new Date(Date.parse(`${w}T00:00:00Z`) + 7 * 86_400_000 - 60_000).toISOString();
      const r = spawnSync(CLI, ["backtest", "--candles", join(root, `data/candles/${inst}/${w}.parquet`), "--gates", join(root, gates), "--instrument", inst, "--start", w, "--end", end, "--out", out], { encoding: "utf8" });
      assert.is(r.status, 0, r.stderr);
      const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
      cliPnl += s.pnl;
      cliTrades += s.trades;
    }
  }
  assert.ok(Math.abs(cliPnl - h.pnl) < 1e-6, `CLI runs sum to ${cliPnl}, variant ${h.pnl}`);
  assert.is(cliTrades, h.trades);
});

test("the guardrail admits only gates scored >= the validation threshold; no_trade stays flat", async () => {
  const h = JSON.parse(readFileSync(join(root, "output/ml_backtests/heuristic/summary.json"), "utf8"));
  const m = await variant("toy");
  assert.equal(m.threshold, { chosen_on: "validation", method: "test", value: 0.5 });
  assert.is(m.model_digest, "d1g");
  assert.is(m.gates_scored, m.gates);
  assert.ok(m.minutes.ready < h.minutes.ready, "fewer ready minutes than the heuristic");
  const none = await variant("toy", { threshold: 0.9 });
  assert.is(none.trades, 0);
  assert.is(none.minutes.ready, 0);
  const flat = await variant("no_trade");
  assert.equal([flat.pnl, flat.trades, flat.sharpe, flat.max_dd], [0, 0, 0, 0]);
  await variant("toy"); // restore for the comparison
});

test("threshold validation_sharpe: picked on the validation week's backtest, applied unchanged", async () => {
  const s = await variant("toy", { threshold: "validation_sharpe" });
  const c = s.threshold.candidates as { value: number; sharpe: number }[];
  assert.ok(c.length >= 2, "several candidates");
  assert.ok(c.some((x) => x.value === 0.5), "the metrics.json threshold is a candidate");
  const best = c.reduce((a, b) => (b.sharpe > a.sharpe ? b : a));
  assert.is(s.threshold.value, best.value);
  assert.match(s.threshold.method, new RegExp(`validation weeks ${VAL_WEEK}`));
  const fixed = await variant("toy", { threshold: best.value });
  assert.is(fixed.pnl, s.pnl, "the chosen threshold applied unchanged to the backtest weeks");
  await variant("toy");
});

test("threshold validation_sharpe: other backtest-week candles and scores leave the choice identical", async () => {
  // Same inputs except the backtest weeks (other candles, other scores and confidence spread):
  // whatever reads a backtest week while choosing (scores for the quantiles, runs for the
  // Sharpe) would change the candidates or their Sharpe; the choice must not move.
  const s = await variant("toy", { threshold: "validation_sharpe" });
  const ws = tempRoot("backtest-perturbed");
  const same = await writeInputs(ws, undefined, WEEKS);
  assert.equal(same, inputs, "the same input lists");
  const p = await variant("toy", { threshold: "validation_sharpe" }, ws);
  assert.equal(p.threshold, s.threshold, "value, method and every candidate's validation Sharpe, P&L and trades");
  // The perturbation reaches the backtest weeks: their result moves, and so would each
  // candidate's Sharpe there (a choice made on those weeks could not stay identical).
  assert.is.not(p.pnl, s.pnl);
  let moved = 0;
  for (const c of s.threshold.candidates as { value: number }[]) {
    const [a, b] = [await variant("toy", { threshold: c.value }), await variant("toy", { threshold: c.value }, ws)];
    if (a.sharpe !== b.sharpe) moved++;
  }
  assert.is(moved, s.threshold.candidates.length, "every candidate's backtest-week Sharpe differs between the two workspaces");
  await variant("toy");
});

test("backtest weeks overlapping the training or validation weeks: an error naming them", async () => {
  const bad = tempRoot("backtest-overlap");
  inputs = await writeInputs(bad, { train: ["2025-09-29"], validation: ["2025-10-13"], test: WEEKS, backtest: WEEKS });
  const ins = { training: inputs.training, gates: inputs.gates, candles: inputs.candles, profile: [] as string[] };
  mkdirSync(join(bad, "config"), { recursive: true });
  copyFileSync(PROFILE, join(bad, "config/open_fxday.yaml"));
  ins.profile = ["config/open_fxday.yaml"];
  try {
    await runRule(backtest, bad, { inputs: ins, outputs: { dir: "out/" }, params: { variant: "heuristic" } });
    assert.unreachable("should have failed");
  } catch (e) {
    assert.instance(e, Error);
    assert.is((e as Error).name, "RuleError");
    assert.match((e as Error).message, /overlap the validation weeks of the models: 2025-10-13/);
  }
  try {
    await runRule(backtest, bad, { inputs: ins, outputs: { dir: "out2/" }, params: { variant: "heuristic", weeks: ["2025-09-29", "2025-10-06"] } });
    assert.unreachable("should have failed");
  } catch (e) {
    assert.match((e as Error).message, /overlap the training weeks of the models: 2025-09-29/);
  }
  inputs = await writeInputs(root);
});

test("a backtest week the scores do not cover is an error naming it (the guardrail would sit flat there)", async () => {
  // Scores without the last backtest week, whose gates and candles are there: before this
  // check the toy variant ran and silently never traded that week.
  const last = WEEKS[WEEKS.length - 1]!;
  await withDuckDb((c) => c.run(`COPY (SELECT * FROM read_parquet(${sqlString(join(root, inputs.scores[0]!))}) WHERE week <> ${sqlString(last)}) TO ${sqlString(join(root, "output/ml_scores/partial.parquet"))} (FORMAT parquet)`));
  const ins = { training: inputs.training, gates: inputs.gates, candles: inputs.candles, scores: ["output/ml_scores/partial.parquet"], model: inputs.model, profile: ["config/open_fxday.yaml"] };
  const err = await runRule(backtest, root, { inputs: ins, outputs: { dir: "output/ml_backtests/partial/" }, params: { variant: "toy" } }).then(() => null, (e: Error) => e);
  assert.ok(err, "refused");
  assert.is(err!.name, "RuleError");
  assert.match(err!.message, `backtest toy: output/ml_scores/partial.parquet has no scores for backtest week(s) ${last} (it scores ${VAL_WEEK}, ${WEEKS.slice(0, -1).join(", ")}`);
  // The heuristic needs no scores: the same weeks run.
  assert.equal((await variant("heuristic")).weeks, WEEKS);
});

test("comparison: every variant on the same weeks, against the heuristic", async () => {
  await runRule(comparison, root, {
    inputs: { heuristic: ["output/ml_backtests/heuristic/"], no_trade: ["output/ml_backtests/no_trade/"], models: ["output/ml_backtests/toy/"] },
    outputs: { json: "output/ml_backtests/comparison.json", md: "output/ml_backtests/comparison.md", svg: "output/ml_backtests/comparison_nav.svg" },
  });
  const svg = readFileSync(join(root, "output/ml_backtests/comparison_nav.svg"), "utf8");
  for (const v of ["heuristic", "toy", "no_trade"]) assert.ok(svg.includes(`>${v}<`), `${v} in the legend`);
  const c = JSON.parse(readFileSync(join(root, "output/ml_backtests/comparison.json"), "utf8"));
  assert.equal(c.variants.map((v: { variant: string }) => v.variant), ["heuristic", "toy", "no_trade"]);
  const [h, toy] = c.variants;
  assert.is(toy.pnl_vs_heuristic, toy.pnl - h.pnl);
  assert.is(toy.beats_heuristic, toy.pnl > h.pnl);
  const md = readFileSync(join(root, "output/ml_backtests/comparison.md"), "utf8");
  assert.match(md, /\| heuristic \|/);
  assert.match(md, /\| toy \| 0\.5000 \(validation\)/);
});

test("pipeline: targets/backtest.yaml builds the comparison from hand-made sources", async () => {
  const ws = tempRoot("backtest-pipeline");
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  mkdirSync(join(ws, "targets"));
  copyFileSync(join(REPO, "targets/backtest.yaml"), join(ws, "targets/backtest.yaml"));
  writeFileSync(
    join(ws, "pipeline.yaml"),
    `version: 1\ninclude: [targets/*.yaml]\naxes:\n  instrument: [${INSTS.join(", ")}]\n  week: { span: [${VAL_WEEK}, ${WEEKS[1]}], step: week }\n  model: [toy]\nhosts:\n  gpu: { transport: local, resources: { gpu: 1 } }\n`,
  );
  await writeIngestedInputs(ws, await writeInputs(ws)); // the backtests read the ingested bundle (data/ml_corpus/)
  const r = cli(ws, ["--json", "output/ml_backtests/comparison.json"], 120_000);
  assert.is(r.code, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const ran = parseEvents(r.stdout).filter((e) => e.type === "action-start").map((e) => (e as { id: string }).id).sort();
  assert.equal(ran, ["backtest[model=toy]", "backtest_comparison", "backtest_heuristic", "backtest_no_trade"]);
  for (const v of ["heuristic", "toy", "no_trade"]) assert.ok(existsSync(join(ws, `output/ml_backtests/${v}/nav.svg`)), v);
  const again = cli(ws, ["--json", "output/ml_backtests/comparison.json"], 120_000);
  assert.is(parseEvents(again.stdout).filter((e) => e.type === "action-start").length, 0, "nothing to redo");
});

test.run();

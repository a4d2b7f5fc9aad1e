/**
 * The backtests from the ingested bundle (issue 14): the rule given `corpus: data/ml_corpus/`
 * (the Stage-1 bundle carrying the backtest and validation weeks' rolling gates and candles,
 * unpacked by ml_ingest) writes byte for byte what it writes from the per-week files, for
 * every variant (the model's threshold chosen on the validation weeks, as targets/backtest.yaml
 * does); the bundle carries only the last weeks; a week it does not carry is refused, naming
 * INGEST.json; an ingest changed on disk is refused.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import backtest from "../../rules/backtest.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { INSTS, VAL_WEEK, WEEKS, writeIngestedInputs, writeInputs } from "./fixtures.js";
import { REPO } from "../helpers/rig.js";
import { selectBacktestMembers } from "../../src/bundle/backtest-members.js";

const root = tempRoot("backtest-bundle");
let inputs: Awaited<ReturnType<typeof writeInputs>>;
let corpus: string[];
const VARIANTS = ["heuristic", "no_trade", "toy"];

async function run(name: string, from: Record<string, string[]>, out: string, extra: Record<string, unknown> = {}) {
  const models: Record<string, string[]> = name === "toy" ? { scores: inputs.scores, model: inputs.model } : {};
  const params = { variant: name, mode: "rolling", ...(name === "toy" ? { threshold: "validation_sharpe" } : {}), ...extra };
  await runRule(backtest, root, { inputs: { training: inputs.training, ...from, ...models, profile: ["config/open_fxday.yaml"] }, outputs: { dir: `${out}/${name}/` }, params });
}

test.before(async () => {
  inputs = await writeInputs(root);
  mkdirSync(join(root, "config"), { recursive: true });
  copyFileSync(join(REPO, "config/open_fxday.yaml"), join(root, "config/open_fxday.yaml"));
  // An earlier week whose files the bundle must leave behind (not among the last weeks).
  const early = "2025-09-22";
  writeFileSync(join(root, `output/gates/rolling/gates_${early}_${VAL_WEEK}.jsonl`), readFileSync(join(root, inputs.gates[0]!)));
  for (const inst of INSTS) copyFileSync(join(root, `data/candles/${inst}/${VAL_WEEK}.parquet`), join(root, `data/candles/${inst}/${early}.parquet`));
  inputs.gates.push(`output/gates/rolling/gates_${early}_${VAL_WEEK}.jsonl`);
  inputs.candles.push(...INSTS.map((i) => `data/candles/${i}/${early}.parquet`));
  corpus = await writeIngestedInputs(root, inputs);
});

test("the bundle carries the last weeks' rolling gates and candles under backtest/, listed in INGEST.json", () => {
  const rec = JSON.parse(readFileSync(join(root, "data/ml_corpus/INGEST.json"), "utf8"));
  assert.is(rec.version, 2);
  assert.equal(rec.backtest.weeks, WEEKS);
  assert.equal(rec.backtest.validation_weeks, [VAL_WEEK]);
  assert.equal(rec.backtest.requested, { backtest_weeks: 2, validation_weeks: 1 });
  const files = readdirSync(join(root, "data/ml_corpus/backtest"), { recursive: true, encoding: "utf8" }).filter((p) => /\.(jsonl|parquet)$/.test(p)).sort();
  const expected = [...INSTS.flatMap((i) => [VAL_WEEK, ...WEEKS].map((w) => `candles/${i}/${w}.parquet`)), ...[VAL_WEEK, ...WEEKS].map((w) => `gates/rolling/${readdirSync(join(root, "output/gates/rolling")).find((f) => f.startsWith(`gates_${w}`))}`)].sort();
  assert.equal(files, expected, "nothing of the earlier week");
  for (const f of rec.backtest.files) assert.ok(readFileSync(join(root, "data/ml_corpus/SHA256SUMS"), "utf8").includes(`${f.sha256}  ${f.path}\n`), `${f.path} in SHA256SUMS`);
  const index = JSON.parse(readFileSync(join(root, "data/ml_corpus/BUNDLE_INDEX.json"), "utf8"));
  assert.is(index.version, 2);
  assert.equal(index.backtest.gates, rec.backtest.gates);
});

test("every variant: from the ingested bundle, byte for byte what the per-week files give", async () => {
  for (const v of VARIANTS) {
    await run(v, { gates: inputs.gates, candles: inputs.candles }, "output/per-week");
    await run(v, { corpus }, "output/bundle");
    const a = join(root, "output/per-week", v), b = join(root, "output/bundle", v);
    const names = readdirSync(a).sort();
    assert.equal(names, ["nav.csv", "nav.svg", "summary.json", "trades.csv"]);
    assert.equal(readdirSync(b).sort(), names);
    for (const n of names) assert.ok(readFileSync(join(a, n)).equals(readFileSync(join(b, n))), `${v}/${n} identical`);
  }
  const s = JSON.parse(readFileSync(join(root, "output/bundle/toy/summary.json"), "utf8"));
  assert.equal(s.weeks, WEEKS);
  assert.ok(s.trades > 0 && s.threshold.chosen_on === "validation", "a real run, the threshold chosen on the carried validation week");
});

test("a week the bundle does not carry is refused, naming INGEST.json", async () => {
  try {
    await run("heuristic", { corpus }, "output/bad", { weeks: ["2025-10-20"] });
    assert.unreachable("should refuse");
  } catch (e) {
    assert.match((e as Error).message, /no rolling gates for week\(s\) 2025-10-20 in the bundle \(data\/ml_corpus\/INGEST\.json field "backtest" carries the gates of 2025-09-29, 2025-10-06, 2025-10-13/);
  }
});

test("a carried file changed after the ingest is refused", async () => {
  const rec = JSON.parse(readFileSync(join(root, "data/ml_corpus/INGEST.json"), "utf8"));
  const f = join(root, "data/ml_corpus", rec.backtest.gates[WEEKS[0]!]);
  const good = readFileSync(f);
  writeFileSync(f, good.toString("utf8").replace('"admit":true', '"admit":false'));
  try {
    await run("heuristic", { corpus }, "output/tampered");
    assert.unreachable("should refuse");
  } catch (e) {
    assert.match((e as Error).message, /gates_2025-10-06_2025-10-13\.jsonl: does not match .*INGEST\.json/);
  } finally {
    writeFileSync(f, good);
  }
});

test("the bundle's selection: the last weeks, clamped to a short span; a missing candle file or two run modes are refused", () => {
  const g = (w: string, e: string, m = "rolling") => `/ws/output/gates/${m}/gates_${w}_${e}.jsonl`;
  const gates = [g("2025-05-12", "2025-05-19"), g("2025-05-19", "2025-05-26"), g("2025-05-26", "2025-06-02")];
  const candles = ["2025-05-12", "2025-05-19", "2025-05-26"].map((w) => `/ws/data/candles/EUR_USD/${w}.parquet`);
  const a = selectBacktestMembers(gates, candles, 1, 1);
  assert.equal([a.index.validation_weeks, a.index.weeks], [["2025-05-19"], ["2025-05-26"]]);
  assert.equal(a.files.map((f) => f.path), ["backtest/candles/EUR_USD/2025-05-19.parquet", "backtest/candles/EUR_USD/2025-05-26.parquet", "backtest/gates/rolling/gates_2025-05-19_2025-05-26.jsonl", "backtest/gates/rolling/gates_2025-05-26_2025-06-02.jsonl"]);
  const b = selectBacktestMembers(gates, candles, 2, 5);
  assert.equal([b.index.validation_weeks, b.index.weeks, b.index.requested], [["2025-05-12"], ["2025-05-19", "2025-05-26"], { backtest_weeks: 2, validation_weeks: 5 }]);
  assert.throws(() => selectBacktestMembers(gates, candles.slice(1), 3, 0), /input "backtest_candles": no data\/candles\/EUR_USD\/2025-05-12\.parquet for the carried week 2025-05-12/);
  assert.throws(() => selectBacktestMembers([...gates, g("2025-06-02", "2025-06-09", "isolation")], candles, 1, 0), /expected the gates of one run mode, got isolation, rolling/);
});

test.run();

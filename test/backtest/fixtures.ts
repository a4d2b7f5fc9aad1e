/**
 * Hand-made backtest inputs in a workspace, laid out as the pipeline has them: candle parquet
 * per instrument-week (a seeded random walk, weekdays only), gate JSONL per week (one admitted
 * FLAT gate every 7 minutes, every 5th not admitted), features.json splits, a scores parquet
 * (format dagbuild.ml_scores) and a model metrics.json with a validation-chosen threshold.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Candle } from "../../src/market/candle.js";
import { writeCandles } from "../../src/market/candle-store.js";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";
import { prng } from "../helpers/prng.js";

/** The backtest weeks. */
export const WEEKS = ["2025-10-06", "2025-10-13"];
/** The validation week (inputs written too: threshold selection backtests on it). */
export const VAL_WEEK = "2025-09-29";
const ALL_WEEKS = [VAL_WEEK, ...WEEKS];
export const INSTS = ["EUR_USD", "USD_JPY"];
const DAY = 86_400_000;

const put = (root: string, rel: string, text: string) => {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
};
const nextWeek = (w: string) => new Date(Date.parse(`${w}T00:00:00Z`) + 7 * DAY).toISOString().slice(0, 10);

/** Two days of M1 candles (Mon, Tue 08:00-12:00) of one instrument-week. */
export function candlesOf(inst: string, week: string, seed: number): Candle[] {
  const rnd = prng(seed);
  let p = inst === "USD_JPY" ? 150 : 1.15;
  const out: Candle[] = [];
  for (const d of [0, 1]) {
    for (let k = 0; k < 240; k++) {
      const t = Date.parse(`${week}T08:00:00Z`) + d * DAY + k * 60_000;
      const o = p;
      p *= 1 + (rnd() - 0.5) * 4e-4;
      out.push({ t, o, h: Math.max(o, p), l: Math.min(o, p), c: p, volume: 10 });
    }
  }
  return out;
}

/**
 * Gate lines of one week over the instruments; the score (scores parquet) plants P(up):
 * 0.8 before a rise, 0.2 otherwise (`perturbed`: 0.95 and 0.35, another confidence spread).
 */
export function gatesOf(week: string, candles: Map<string, Candle[]>, perturbed = false): { lines: string; scores: { inst: string; ts: number; score: number }[] } {
  let lines = "";
  const scores: { inst: string; ts: number; score: number }[] = [];
  for (const inst of INSTS) {
    const ks = candles.get(`${inst}/${week}`)!;
    for (let i = 0; i < ks.length; i += 7) {
      const g = { admit: (i / 7) % 5 !== 4, direction: "FLAT", instrument: inst, lambda: 0.3, regime: { confidence: 0.5, label: "neutral" }, repetitions: 1, run_mode: "rolling", ts_ms: ks[i]!.t };
      lines += `${JSON.stringify(g)}\n`;
      const fwd = ks[Math.min(ks.length - 1, i + 10)]!.c - ks[i]!.c;
      scores.push({ inst, ts: ks[i]!.t, score: perturbed ? (fwd > 0 ? 0.95 : 0.35) : fwd > 0 ? 0.8 : 0.2 });
    }
  }
  return { lines, scores };
}

/**
 * Writes every input; returns workspace-relative input lists for the backtest rule. The weeks
 * in `perturb` get other candles (another seed) and other scores: the rest is byte-identical.
 */
export async function writeInputs(
  root: string,
  splits: Record<string, string[]> = { train: ["2025-09-22"], validation: [VAL_WEEK], test: WEEKS, backtest: WEEKS },
  perturb: readonly string[] = [],
) {
  const candles = new Map<string, Candle[]>();
  let seed = 1;
  const candleFiles: string[] = [];
  for (const inst of INSTS) {
    for (const w of ALL_WEEKS) {
      const ks = candlesOf(inst, w, perturb.includes(w) ? 1000 + seed++ : seed++);
      candles.set(`${inst}/${w}`, ks);
      const rel = `data/candles/${inst}/${w}.parquet`;
      await writeCandles(join(root, rel), ks);
      candleFiles.push(rel);
    }
  }
  const gateFiles: string[] = [];
  const allScores: { inst: string; ts: number; score: number; week: string }[] = [];
  for (const w of ALL_WEEKS) {
    const g = gatesOf(w, candles, perturb.includes(w));
    const rel = `output/gates/rolling/gates_${w}_${nextWeek(w)}.jsonl`;
    put(root, rel, g.lines);
    gateFiles.push(rel);
    for (const s of g.scores) allScores.push({ ...s, week: w });
  }
  put(root, "output/ml_training/features.json", `${JSON.stringify({ format: "test", splits })}\n`);
  put(root, "output/ml_models/toy/metrics.json", `${JSON.stringify({ threshold: { chosen_on: "validation", method: "test", value: 0.5 } })}\n`);
  mkdirSync(join(root, "output/ml_scores"), { recursive: true });
  await withDuckDb(async (conn) => {
    await conn.run("CREATE TABLE s (instrument VARCHAR, ts_ms BIGINT, run_mode VARCHAR, week VARCHAR, split VARCHAR, score DOUBLE, model VARCHAR, model_digest VARCHAR)");
    const values = allScores.map((s) => `(${sqlString(s.inst)}, ${s.ts}, 'rolling', ${sqlString(s.week)}, ${sqlString(s.week === VAL_WEEK ? "validation" : "test")}, ${s.score}, 'toy', 'd1g')`).join(", ");
    await conn.run(`INSERT INTO s VALUES ${values}`);
    await conn.run(`COPY s TO ${sqlString(join(root, "output/ml_scores/toy.parquet"))} (FORMAT parquet)`);
  });
  return { candles: candleFiles, gates: gateFiles, training: ["output/ml_training/"], scores: ["output/ml_scores/toy.parquet"], model: ["output/ml_models/toy/"] };
}

/**
 * The same inputs as the gpu host has them: packed by the bundle rule (rules/bundle.ts, the
 * last `backtestWeeks` weeks and the `validationWeeks` before them) and unpacked by the ingest
 * rule (rules/ingest-bundle.ts) into `data/ml_corpus/`. Returns the backtest rule's "corpus" input.
 */
export async function writeIngestedInputs(
  root: string,
  inputs: { gates: string[]; candles: string[] },
  counts: { backtestWeeks: number; validationWeeks: number } = { backtestWeeks: WEEKS.length, validationWeeks: 1 },
): Promise<string[]> {
  const { default: bundle } = await import("../../rules/bundle.js");
  const { default: ingest } = await import("../../rules/ingest-bundle.js");
  const { runRule } = await import("../corpus/helpers.js");
  const out = { bundle: "output/ml_corpus_test.tgz", manifest: "output/ml_corpus_test.sha256" };
  await runRule(bundle, root, {
    inputs: { reports: ["output/ml_training/features.json"], backtest_gates: inputs.gates, backtest_candles: inputs.candles },
    outputs: out,
    params: { backtest_weeks: String(counts.backtestWeeks), validation_weeks: String(counts.validationWeeks) },
  });
  await runRule(ingest, root, { inputs: { bundle: [out.bundle], manifest: [out.manifest] }, outputs: { dir: "data/ml_corpus/" } });
  return ["data/ml_corpus/"];
}

/**
 * Corpus and baseline benchmark, in one run:
 *  1. corpus build throughput: 26 weeks x 7 instruments x ~445 gates (rolling), weekly parts
 *     (JSONL -> parquet) then the merge (parquet -> corpus), rows/second for each phase;
 *  2. GBM training: the same data and params through libxgboost via koffi (rules/baseline-gbm's
 *     path) and through the `xgboost` 1.7.4 CLI (config file + CSV), side by side, with the ratio.
 *     Both sides include loading their data (DMatrix from memory vs the CLI parsing its CSV).
 *
 *   npx tsc -p . && node dist/bench/corpus.js [--weeks 26] [--per 445] [--rows 60000] [--rounds 200]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { buildPart } from "../src/corpus/parts.js";
import { buildCorpus } from "../src/corpus/corpus.js";
import { Booster, DMatrix } from "../src/ml/xgboost.js";
import { makeNestedGates, prng, writeGates } from "../test/fixtures/corpus/make-gates.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const weeks = arg("weeks", 26), per = arg("per", 445), nRows = arg("rows", 60000), rounds = arg("rounds", 200);
const dir = mkdtempSync(join(tmpdir(), "dagbuild-bench-corpus-"));
try {
  // 1. corpus build
  const files: { gates: string; week: string; part: string }[] = [];
  const t0 = new Date(Date.UTC(2025, 4, 12)).getTime();
  for (let w = 0; w < weeks; w++) {
    const week = new Date(t0 + w * 7 * 86_400_000).toISOString().slice(0, 10);
    const gates = join(dir, `gates_${week}.jsonl`);
    writeGates(gates, makeNestedGates({ week, mode: "rolling", perInstrument: per, seed: w }));
    files.push({ gates, week, part: join(dir, `part_${week}.parquet`) });
  }
  let rows = 0;
  const a = performance.now();
  for (const f of files) rows += (await buildPart(f.gates, f.gates, { run_mode: "rolling", week: f.week, source: "synthetic" }, f.part)).rows;
  const b = performance.now();
  const stats = await buildCorpus({ parts: files.map((f) => f.part), legacy: [], decode_bitplanes: false, out: join(dir, "corpus.parquet") });
  const c = performance.now();
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(" ")} (timings on a shared machine are inflated)`);
  console.log(`corpus: ${rows} gates in ${weeks} weekly parts`);
  console.log(`  parts (JSONL -> parquet): ${((b - a) / 1000).toFixed(2)} s, ${Math.round(rows / ((b - a) / 1000))} rows/s`);
  console.log(`  merge (parquet -> corpus): ${((c - b) / 1000).toFixed(2)} s, ${Math.round(stats.rows / ((c - b) / 1000))} rows/s`);
  console.log(`  adding one week = one part + merge: ~${(((b - a) / weeks + (c - b)) / 1000).toFixed(2)} s`);

  // 2. GBM: koffi vs CLI on identical data
  const nf = 20;
  const rnd = prng(11);
  const X = new Float32Array(nRows * nf);
  const y = new Float32Array(nRows);
  for (let i = 0; i < nRows; i++) {
    for (let j = 0; j < nf; j++) X[i * nf + j] = rnd();
    y[i] = X[i * nf]! + 0.8 * (rnd() - 0.5) > 0.5 ? 1 : 0;
  }
  const csv: string[] = [];
  // Math.fround values printed with 9 significant digits round-trip to the same float32.
  for (let i = 0; i < nRows; i++) csv.push([y[i], ...Array.from(X.subarray(i * nf, (i + 1) * nf), (v) => v.toPrecision(9))].join(","));
  writeFileSync(join(dir, "train.csv"), csv.join("\n") + "\n");
  const params = { objective: "binary:logistic", tree_method: "hist", max_depth: 3, eta: 0.05, min_child_weight: 20, subsample: 0.8, colsample_bytree: 0.8, base_score: 0.5, seed: 7, nthread: 1, verbosity: 0 };
  const k0 = performance.now();
  const dm = new DMatrix(X, nRows, nf, y);
  const bst = Booster.create(dm, params);
  bst.train(dm, rounds);
  bst.save(join(dir, "koffi.json"));
  bst.free();
  dm.free();
  const k1 = performance.now();
  const conf = [
    "task = train",
    `data = "${join(dir, "train.csv")}?format=csv&label_column=0"`,
    `num_round = ${rounds}`,
    "save_period = 0",
    `model_out = "${join(dir, "cli.json")}"`,
    ...Object.entries(params).map(([k, v]) => `${k} = ${v}`),
  ].join("\n");
  writeFileSync(join(dir, "train.conf"), conf + "\n");
  const c0 = performance.now();
  const r = spawnSync("xgboost", [join(dir, "train.conf")], { encoding: "utf8", cwd: dir });
  const c1 = performance.now();
  if (r.error || r.status !== 0) {
    console.log(`SKIP xgboost CLI: ${r.error?.message ?? r.stderr.trim().split("\n").at(-1)}`);
    console.log(`gbm: koffi ${((k1 - k0) / 1000).toFixed(2)} s (${nRows} rows x ${nf} features, ${rounds} rounds, nthread 1)`);
  } else {
    const kt = (k1 - k0) / 1000, ct = (c1 - c0) / 1000;
    console.log(`gbm: ${nRows} rows x ${nf} features, ${rounds} rounds, nthread 1`);
    console.log(`  koffi (libxgboost.so.0): ${kt.toFixed(2)} s`);
    console.log(`  xgboost CLI (csv):       ${ct.toFixed(2)} s`);
    console.log(`  ratio koffi/CLI: ${(kt / ct).toFixed(2)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Feature-builder benchmark: the Stage 2 builder over a corpus (default: the embedded
 * pipeline's, built by `npx dagbuild`), with rows/s and windows/s, and in the same run a DuckDB
 * `COPY ... TO` parquet of the same rows and columns (the peer for the builder's parquet step).
 * DuckDB is held to one thread (DAGBUILD_DUCKDB_THREADS=1 unless set), as the goal is "on one core".
 *
 *   npx tsc -p . && node dist/bench/features.js [--corpus FILE] [--stride 1,4] [--runs 3]
 */
import { mkdtempSync, readdirSync, rmSync, mkdirSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { sqlString, withDuckDb, DETERMINISTIC_PARQUET } from "../src/io/duckdb.js";
import { sqlIdent } from "../src/ml/columns.js";
import { buildTrainingData } from "../src/ml/training/build.js";
import { resolveTrainingParams } from "../src/ml/training/params.js";

process.env.DAGBUILD_DUCKDB_THREADS ??= "1";
function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
const defaultCorpus = () => {
  const d = "output/ml_corpus";
  const f = readdirSync(d).find((n) => /^gates_.*\.parquet$/.test(n));
  if (!f) throw new Error("no corpus: run `npx dagbuild output/ml_corpus` first or pass --corpus");
  return join(d, f);
};
const corpus = arg("corpus", "") || defaultCorpus();
const runs = Number(arg("runs", "3"));
const strides = arg("stride", "1,4").split(",").map(Number);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const dir = mkdtempSync(join(tmpdir(), "dagbuild-bench-features-"));
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(" ")}; corpus ${corpus}; DuckDB threads ${process.env.DAGBUILD_DUCKDB_THREADS}; median of ${runs}`);
try {
  for (const stride of strides) {
    const params = resolveTrainingParams({ stride });
    const total: number[] = [], parquet: number[] = [], peer: number[] = [];
    let rows = 0, windows = 0, cols: string[] = [];
    for (let r = 0; r < runs; r++) {
      const out = join(dir, `out-${stride}-${r}`);
      mkdirSync(out);
      const phases: Record<string, number> = {};
      const t0 = performance.now();
      const s = await buildTrainingData({ corpus, outDir: out, params, inputs: {}, onPhase: (p, ms) => (phases[p] = ms) });
      total.push(performance.now() - t0);
      parquet.push(phases.parquet!);
      rows = Object.values(s.counts.rows).reduce((a, b) => a + b, 0);
      windows = Object.values(s.counts.windows).reduce((a, w) => a + w.train + w.validation + w.test, 0);
      cols = s.features.map((f) => f.name.includes("=") ? f.name.split("=")[0]! : f.name);
      rmSync(out, { recursive: true });
      // The peer: the same rows and columns straight from the corpus to one parquet file.
      const uniq = [...new Set(cols)];
      const t1 = performance.now();
      await withDuckDb((c) =>
        c.run(`COPY (SELECT instrument, ts, ts_ms, run_mode, week, ${uniq.map(sqlIdent).join(", ")}, roc_forward_pct_60, hazard FROM read_parquet(${sqlString(corpus)}) WHERE run_mode = 'rolling' ORDER BY run_mode, instrument, ts_ms) TO ${sqlString(join(dir, "peer.parquet"))} ${DETERMINISTIC_PARQUET}`),
      );
      peer.push(performance.now() - t1);
    }
    const T = median(total) / 1000, P = median(parquet), D = median(peer);
    console.log(`stride ${stride}: ${rows} rows, ${windows} windows (seq ${params.seq_lengths.join(",")}), ${cols.length} features`);
    console.log(`  whole builder: ${T.toFixed(2)} s  (${Math.round(rows / T)} rows/s, ${Math.round(windows / T)} windows/s; goal < 10 s)`);
    console.log(`  parquet step: ${P.toFixed(0)} ms vs DuckDB COPY alone ${D.toFixed(0)} ms: ratio ${(P / D).toFixed(2)} (goal <= 2)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import rule from "../../rules/ml-training.js";
import { withDuckDb, sqlString } from "../../src/io/duckdb.js";
import { readSafetensors } from "../../src/ml/safetensors.js";
import { makeWindows } from "../../src/ml/training/windows.js";
import { makeSplits } from "../../src/ml/training/splits.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { makeRows, writeCorpus, type GateRow } from "./make-corpus.js";

const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"];
const root = tempRoot("ml-training");

async function build(rows: GateRow[], tag: string, params: Record<string, unknown> = {}): Promise<{ dir: string; fj: any; log: string[] }> {
  await writeCorpus(join(root, `in/${tag}.parquet`), rows);
  const log = await runRule(rule, root, { inputs: { corpus: [`in/${tag}.parquet`] }, outputs: { data: `out/${tag}/` }, params: { seq_lengths: [8], ...params } });
  const dir = join(root, "out", tag);
  return { dir, fj: JSON.parse(readFileSync(join(dir, "features.json"), "utf8")), log };
}

async function readParquet(path: string, cols: string): Promise<unknown[][]> {
  return withDuckDb(async (c) => (await c.runAndReadAll(`SELECT ${cols} FROM read_parquet(${sqlString(path)})`)).getRows());
}

test("the normaliser sees training rows only: a test-week value change moves no statistic", async () => {
  const rows = makeRows({ weeks: WEEKS });
  const a = await build(rows, "norm-a");
  const edited = rows.map((r) => (r.week === WEEKS[4] ? { ...r, structure_coherence: r.structure_coherence * 1000 + 5 } : r));
  const b = await build(edited, "norm-b");
  assert.equal(a.fj.splits.test, [WEEKS[4]]);
  assert.equal(b.fj.features, a.fj.features, "centers and scales are identical");
  const coh = a.fj.features.find((f: any) => f.name === "structure_coherence");
  assert.ok(coh && coh.scale > 0 && Math.abs(coh.center - 0.5) < 0.1, "z-score of a uniform column");
  const [[ta]] = await readParquet(join(a.dir, "test.parquet"), "max(structure_coherence)");
  const [[tb]] = await readParquet(join(b.dir, "test.parquet"), "max(structure_coherence)");
  assert.ok((tb as number) > (ta as number) * 100, "the test rows themselves did change");
  // And the training rows are centred by their own mean.
  const [[mean]] = await readParquet(join(a.dir, "train.parquet"), "avg(structure_coherence)");
  assert.ok(Math.abs(mean as number) < 1e-5, `training mean after z-score is ${mean}`);
});

test("constant and all-null columns are dropped and listed; every default is recorded", async () => {
  const rows = makeRows({ weeks: WEEKS }).map((r) => ({ ...r, structure_entropy: null }));
  const { fj } = await build(rows, "dropped");
  const why = Object.fromEntries(fj.dropped_features.map((d: any) => [d.name, d.why]));
  assert.is(why.structure_pinned_alignment, "constant");
  assert.is(why.structure_entropy, "all_null");
  assert.not.ok(fj.features.some((f: any) => f.name === "structure_entropy"));
  for (const k of ["horizon", "run_mode", "normalise", "stride", "eval_stride", "max_gap_min", "seq_lengths", "embargo_min", "onehot", "codes"]) assert.ok(k in fj.params, `params.${k} recorded`);
  assert.is(fj.params.horizon, 60);
  assert.ok(fj.features.some((f: any) => f.name.startsWith("regime=") && f.kind === "onehot"));
  assert.equal(fj.codes.instrument.vocabulary, ["EUR_USD", "USD_JPY"]);
});

test("purge: with horizon 60, a training row 10 minutes before the validation split is dropped", async () => {
  const rows = makeRows({ weeks: WEEKS, instruments: ["EUR_USD"] });
  const valStart = Date.parse(`${WEEKS[3]}T00:00:00Z`);
  // Extra training-week rows (the Sunday before the validation Monday): 10 and 70 minutes before it.
  const tmpl = rows.find((r) => r.week === WEEKS[2])!;
  rows.push({ ...tmpl, ts_ms: valStart - 70 * 60_000 }, { ...tmpl, ts_ms: valStart - 10 * 60_000 });
  rows.sort((x, y) => x.ts_ms - y.ts_ms);
  const { dir, fj, log } = await build(rows, "purge", { train_weeks: 3, validation_weeks: 1 });
  const ts = (await readParquet(join(dir, "train.parquet"), "ts_ms")).map((r) => Number(r[0]));
  assert.ok(ts.includes(valStart - 70 * 60_000), "70 minutes before: kept");
  assert.not.ok(ts.includes(valStart - 10 * 60_000), "10 minutes before: purged");
  assert.is(fj.counts.purged_rows.train, 1);
  assert.ok(log.some((l) => /train: 3 weeks, \d+ rows \(1 purged\)/.test(l)), "the log reports the purge per split");
});

test("windows never cross an instrument, a run mode, a split or a long gap; the label is the last gate's", () => {
  // Two series (ids 0, 1); series 0 has a long gap after row 5; split changes at row 12 of series 1.
  const n = 20;
  const series = Int32Array.from({ length: n }, (_, i) => (i < 10 ? 0 : 1));
  const ts = Float64Array.from({ length: n }, (_, i) => i * 16 * 60_000 + (i >= 6 && i < 10 ? 10 * 86_400_000 : 0));
  const split = Int8Array.from({ length: n }, (_, i) => (i >= 14 ? 1 : 0));
  const splitRow = Int32Array.from({ length: n }, (_, i) => (i === 17 ? -1 : i));
  const ws = makeWindows({ series, ts_ms: ts, split, splitRow }, 3, 1, 3000 * 60_000);
  const ends = [...ws.ends.train, ...ws.ends.validation];
  for (const e of ends) {
    const first = e - 2;
    assert.is(series[first], series[e], `window ending ${e} stays in one series`);
    assert.is(split[first], split[e], `window ending ${e} stays in one split`);
    for (let i = first + 1; i <= e; i++) assert.ok(ts[i]! - ts[i - 1]! <= 3000 * 60_000, `window ending ${e} crosses no long gap`);
  }
  assert.equal([...ws.ends.train], [2, 3, 4, 5, 8, 9, 12, 13]);
  assert.equal([...ws.ends.validation], [16, 18, 19]);
  assert.equal(ws.skipped, { gap: 2, earlier_split: 2, purged_label: 1 });
});

test("sequence tensors: X's last step is the parquet row of `row`, labels are its labels; run modes never mix", async () => {
  const rows = makeRows({ weeks: WEEKS, modes: ["isolation", "rolling"] });
  const { dir, fj } = await build(rows, "seq", { run_mode: ["rolling", "isolation"], stride: 3 });
  const F = fj.features.length;
  const names = fj.features.map((f: any) => `"${f.name}"`).join(", ");
  for (const split of ["train", "validation", "test"]) {
    const st = await readSafetensors(join(dir, `${split}.seq8.safetensors`));
    const X = st.tensors.get("X")!;
    const row = st.tensors.get("row")!.data as BigInt64Array;
    const ys = st.tensors.get("y_sign")!.data as Uint8Array;
    assert.equal(X.shape, [row.length, 8, F]);
    assert.is(row.length, fj.counts.windows.seq8[split]);
    const table = await readParquet(join(dir, `${split}.parquet`), `${names}, y_sign, run_mode, instrument, ts_ms`);
    const x = X.data as Float32Array;
    for (let w = 0; w < row.length; w++) {
      const r = table[Number(row[w])]!;
      for (let j = 0; j < F; j++) assert.is(x[(w * 8 + 7) * F + j], Math.fround(r[j] as number));
      assert.is(ys[w], Number(r[F]));
      // The first step is 7 gates earlier in the same series: it is in this split's table too.
      const firstRow = table[Number(row[w]) - 7];
      assert.ok(firstRow && firstRow[F + 1] === r[F + 1] && firstRow[F + 2] === r[F + 2], "one run mode and instrument per window");
    }
    const meta = st.metadata;
    assert.equal(JSON.parse(meta.feature_names!), fj.features.map((f: any) => f.name));
    assert.ok(meta.normaliser && meta.params && meta.input_digests);
  }
});

test("the training stride thins training windows only; validation and test windows end on every gate", () => {
  const n = 30;
  const rows = {
    series: new Int32Array(n),
    ts_ms: Float64Array.from({ length: n }, (_, i) => i * 60_000),
    split: Int8Array.from({ length: n }, (_, i) => (i < 20 ? 0 : 1)),
    splitRow: Int32Array.from({ length: n }, (_, i) => i),
  };
  const ws = makeWindows(rows, 4, [5, 1, 1], 3000 * 60_000);
  assert.equal([...ws.ends.train], [3, 8, 13, 18]);
  assert.equal([...ws.ends.validation], [23, 24, 25, 26, 27, 28, 29]);
});

test("a backtest span that overlaps training or validation weeks is an error naming the weeks", async () => {
  assert.throws(() => makeSplits(WEEKS, { by: "fraction", train: 0.6, validation: 0.2 }, ["2025-05-26", "2025-06-09"]), /overlaps the training or validation weeks: 2025-05-26, 2025-06-02/);
  const ok = makeSplits(WEEKS, { by: "fraction", train: 0.6, validation: 0.2 }, ["2025-06-09", "2025-06-09"]);
  assert.equal(ok.backtest, ["2025-06-09"]);
  try {
    await build(makeRows({ weeks: WEEKS }), "bt", { backtest_span: ["2025-05-12", "2025-05-12"] });
    assert.unreachable("should refuse");
  } catch (e) {
    assert.match((e as Error).message, /backtest span 2025-05-12\.\.2025-05-12 overlaps the training or validation weeks: 2025-05-12/);
  }
});

test("a backtest span reaching past the test weeks (unscored weeks) is an error naming them", async () => {
  // count split with an explicit test count: 2025-06-09 is in no split, so no model scores it.
  const spec = { by: "count", train: 2, validation: 1, test: 1 } as const;
  assert.equal(makeSplits(WEEKS, spec, ["2025-06-02", "2025-06-02"]).backtest, ["2025-06-02"]);
  assert.throws(() => makeSplits(WEEKS, spec, ["2025-06-02", "2025-06-09"]), /backtest span 2025-06-02\.\.2025-06-09 has weeks outside the test split \(2025-06-02\.\.2025-06-02\): 2025-06-09; .*widen the test split or shorten backtest_span/);
  try {
    await build(makeRows({ weeks: WEEKS }), "bt-past", { train_weeks: 2, validation_weeks: 1, test_weeks: 1, backtest_span: ["2025-06-02", "2025-06-09"] });
    assert.unreachable("should refuse");
  } catch (e) {
    assert.match((e as Error).message, /backtest span 2025-06-02\.\.2025-06-09 has weeks outside the test split .*: 2025-06-09/);
  }
});

test("unknown and ill-typed params are refused by name", async () => {
  for (const [params, msg] of [
    [{ horizn: 60 }, /param "horizn": unknown param/],
    [{ horizon: 45 }, /param "horizon": must be one of 5\/15\/30\/60/],
    [{ onehot: ["regime"], codes: ["regime"] }, /param "codes": regime is also in onehot/],
  ] as const) {
    try {
      await build(makeRows({ weeks: WEEKS.slice(0, 3) }), "bad", params);
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, msg);
    }
  }
});

const PY = "/usr/bin/python3";
const hasNumpy = existsSync(PY) && spawnSync(PY, ["-c", "import numpy"]).status === 0;
(hasNumpy ? test : test.skip)("Python with numpy reads a safetensors file back, equal to the builder's values", async () => {
  const { dir } = await build(makeRows({ weeks: WEEKS }), "py");
  const file = join(dir, "validation.seq8.safetensors");
  const script = `
import json, struct, sys, numpy as np
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
base = 8 + n
dt = {'F32': '<f4', 'U8': 'u1', 'I64': '<i8'}
out = {}
for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    a = np.frombuffer(b[base + s:base + e], dtype=dt[v['dtype']]).reshape(v['shape'])
    out[k] = {'shape': list(a.shape), 'sum': float(a.astype(np.float64).sum()), 'first': [float(x) for x in a.reshape(-1)[:5]]}
print(json.dumps(out))
`;
  const r = spawnSync(PY, ["-c", script, file], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const py = JSON.parse(r.stdout);
  const st = await readSafetensors(file);
  for (const [name, t] of st.tensors) {
    assert.equal(py[name].shape, [...t.shape], `${name} shape`);
    const vals = Array.from(t.data as ArrayLike<number | bigint>, Number);
    assert.equal(py[name].first, vals.slice(0, 5), `${name} values`);
    let s = 0;
    for (const v of vals) s += v;
    assert.ok(Math.abs(py[name].sum - s) <= 1e-6 * Math.max(1, Math.abs(s)), `${name} sum ${py[name].sum} vs ${s}`);
  }
});
if (!hasNumpy) console.log("SKIP python safetensors read-back: /usr/bin/python3 with numpy not found");

test("the builder leaves exactly the documented files", async () => {
  const { dir, fj } = await build(makeRows({ weeks: WEEKS }), "files", { seq_lengths: [4, 8] });
  assert.equal(readdirSync(dir).sort(), fj.files);
  assert.is(fj.files.length, 3 + 6 + 1);
});

test("an ingested bundle directory: the corpus named by INGEST.json, re-hashed against it; a stale record is a located error", async () => {
  const dir = join(root, "ingested");
  const rel = "output/ml_corpus/gates_2025-05-12_2025-06-09.parquet";
  mkdirSync(join(dir, "output", "ml_corpus"), { recursive: true });
  await writeCorpus(join(dir, rel), makeRows({ weeks: WEEKS }));
  const bytes = readFileSync(join(dir, rel));
  const digest = createHash("sha256").update(bytes).digest("hex");
  const record = (sha256: string) => ({
    format: "dagbuild.ingest", version: 1, stem: "ml_corpus_2025-05-12_2025-06-09",
    bundle: { name: "ml_corpus_2025-05-12_2025-06-09.tgz", sha256: "ab".repeat(32), bytes: 1 },
    manifest: { name: "ml_corpus_2025-05-12_2025-06-09.sha256", sha256: "cd".repeat(32) },
    members: 1, bytes: bytes.length, corpus: { path: rel, sha256, bytes: bytes.length },
  });
  writeFileSync(join(dir, "INGEST.json"), JSON.stringify(record(digest)));
  await runRule(rule, root, { inputs: { corpus: ["ingested/"] }, outputs: { data: "out/ingested/" }, params: { seq_lengths: [8] } });
  const fj = JSON.parse(readFileSync(join(root, "out/ingested/features.json"), "utf8"));
  assert.equal(fj.inputs, { [`ingested/${rel}`]: { sha256: digest, bytes: bytes.length }, "bundle:ml_corpus_2025-05-12_2025-06-09.tgz": { sha256: "ab".repeat(32) } });
  writeFileSync(join(dir, "INGEST.json"), JSON.stringify(record("00".repeat(32))));
  await runRule(rule, root, { inputs: { corpus: ["ingested/"] }, outputs: { data: "out/ingested-stale/" }, params: { seq_lengths: [8] } }).then(
    () => assert.unreachable("a corpus that differs from INGEST.json was used"),
    (e: Error) => assert.match(e.message, /^ml-training: .*gates_2025-05-12_2025-06-09\.parquet: digest mismatch: INGEST\.json has 0{64}/),
  );
  rmSync(join(dir, "INGEST.json"));
  await runRule(rule, root, { inputs: { corpus: ["ingested/"] }, outputs: { data: "out/ingested-none/" }, params: { seq_lengths: [8] } }).then(
    () => assert.unreachable("a directory without INGEST.json was used"),
    (e: Error) => assert.match(e.message, /^ml-training: .*INGEST\.json: not a readable ingest record/),
  );
});

test("the split follows the weeks the bundle carries for the backtests (INGEST.json backtest), else a located error", async () => {
  const dir = join(root, "ingested-bt");
  const rel = "output/ml_corpus/gates_2025-05-12_2025-06-09.parquet";
  mkdirSync(join(dir, "output", "ml_corpus"), { recursive: true });
  await writeCorpus(join(dir, rel), makeRows({ weeks: WEEKS }));
  const bytes = readFileSync(join(dir, rel));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const record = (weeks: string[], validation: string[]) => ({
    format: "dagbuild.ingest", version: 2, stem: "ml_corpus_2025-05-12_2025-06-09",
    bundle: { name: "ml_corpus_2025-05-12_2025-06-09.tgz", sha256: "ab".repeat(32), bytes: 1 },
    manifest: { name: "ml_corpus_2025-05-12_2025-06-09.sha256", sha256: "cd".repeat(32) },
    members: 1, bytes: bytes.length, corpus: { path: rel, sha256, bytes: bytes.length },
    backtest: { mode: "rolling", weeks, validation_weeks: validation, instruments: [], gates: {}, candles: [], requested: { backtest_weeks: weeks.length, validation_weeks: validation.length }, files: [] },
  });
  // The pipeline's vars are strings: validation_weeks "1", test_weeks "1", the rest trains.
  const params = { seq_lengths: [8], validation_weeks: "1", test_weeks: "1" };
  writeFileSync(join(dir, "INGEST.json"), JSON.stringify(record([WEEKS[4]!], [WEEKS[3]!])));
  await runRule(rule, root, { inputs: { corpus: ["ingested-bt/"] }, outputs: { data: "out/bt-ok/" }, params });
  const fj = JSON.parse(readFileSync(join(root, "out/bt-ok/features.json"), "utf8"));
  assert.equal([fj.splits.train, fj.splits.validation, fj.splits.backtest], [WEEKS.slice(0, 3), [WEEKS[3]], [WEEKS[4]]]);
  writeFileSync(join(dir, "INGEST.json"), JSON.stringify(record([WEEKS[3]!, WEEKS[4]!], [WEEKS[2]!])));
  await runRule(rule, root, { inputs: { corpus: ["ingested-bt/"] }, outputs: { data: "out/bt-weeks/" }, params }).then(
    () => assert.unreachable("a split backtesting fewer weeks than the bundle carries"),
    (e: Error) => assert.match(e.message, /^ml-training: ingested-bt\/INGEST\.json: field "backtest\.weeks": the bundle carries the gates and candles of 2025-06-02, 2025-06-09 for the backtests, the split's backtest weeks .* are 2025-06-09;/),
  );
  writeFileSync(join(dir, "INGEST.json"), JSON.stringify(record([WEEKS[4]!], [])));
  await runRule(rule, root, { inputs: { corpus: ["ingested-bt/"] }, outputs: { data: "out/bt-val/" }, params }).then(
    () => assert.unreachable("validation weeks the bundle does not carry"),
    (e: Error) => assert.match(e.message, /field "backtest\.validation_weeks": the bundle carries none, the split's validation weeks 2025-06-02 .* include 2025-06-02/),
  );
  await runRule(rule, root, { inputs: { corpus: ["ingested-bt/"] }, outputs: { data: "out/bt-short/" }, params: { seq_lengths: [8], validation_weeks: "3", test_weeks: "2" } }).then(
    () => assert.unreachable("no training week left"),
    (e: Error) => assert.match(e.message, /split asks for 3 validation and 2 test weeks, the data has 5: no week left to train on/),
  );
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();

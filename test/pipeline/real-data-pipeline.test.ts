// Issue 12 "Must show": the real pipeline (targets/*.yaml, rules/*.ts) on real-format broker
// files the test makes itself, switched on from configuration alone (`--set`, no target file
// edited): a gzipped CSV export (two gzip members) with Saturday and pre-open Sunday rows,
// off-minute rows and a missing hour; an OANDA JSON export with an empty week; a legacy gate
// export in .jsonl.gz. Checks the counts the build reports and that the gates equal those of
// a workspace fed the cleaned input.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { cli, parseEvents, REPO } from "../helpers/rig.js";
import { LIBXGBOOST_PATH } from "../../src/ml/xgboost.js";
import { generateWeek } from "../../src/market/synthetic.js";
import { readCandleMeta } from "../../src/market/candle-store.js";
import type { Candle } from "../../src/market/candle.js";
import { makeNestedGates, sortedJson } from "../fixtures/corpus/make-gates.js";

const TIMEOUT = 300_000;
const made: string[] = [];
test.after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const WEEKS = ["2025-06-02", "2025-06-09", "2025-06-16", "2025-06-23", "2025-06-30"];
const CANDLE_WEEKS = [...WEEKS, "2025-07-07"];
const EMPTY_JPY_WEEK = "2025-06-16";
const SPAN_NAME = "2025-06-02_2025-07-07";
const T = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();

/** The user's pipeline file: axes and the synthetic default's vars; nothing about files. */
const PIPELINE = `version: 1
default: [stage1_status, telemetry_doc]
include: [targets/*.yaml]
vars: { source: synthetic, seed: "7", signal: "0.0" }
axes:
  instrument: [EUR_USD, USD_JPY]
  mode: [rolling, isolation]
  week: { span: [${WEEKS[0]}, ${WEEKS.at(-1)}], step: week }
  candle_week: { span: [${CANDLE_WEEKS[0]}, ${CANDLE_WEEKS.at(-1)}], step: week }
  model: [baseline_gbm, lstm, gru, transformer]
hosts:
  droplet: { transport: local }
  gpu: { transport: local, resources: { gpu: 1 } }
tools:
  xgboost: { version: "1.7.4" }
`;

function workspace(): string {
  const ws = mkdtempSync(join(tmpdir(), "dagbuild-real-"));
  made.push(ws);
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "targets", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  writeFileSync(join(ws, "pipeline.yaml"), PIPELINE);
  return ws;
}

const SET = (dir: string) => [
  "--set", "source=files",
  "--set", `files=${dir}/{instrument}_M1.*`,
  "--set", "allow_empty=true",
  "--set", "price_side=bid",
  "--set", "legacy=legacy/*.jsonl.gz",
  "--set", "legacy_price_side=bid",
];

function run(ws: string, args: string[]) {
  const r = cli(ws, ["--json", "-j", "2", ...args], TIMEOUT);
  if (r.code !== 0) throw new Error(`dagbuild ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-3000)}`);
  return parseEvents(r.stdout);
}

const csvLine = (k: Candle, at = k.t) => `${iso(at)},${k.o},${k.h},${k.l},${k.c},${k.volume}`;

/** Broker files, dirty and clean, and what the import must report per EUR_USD week. */
function makeExports(dirty: string, clean: string) {
  mkdirSync(dirty, { recursive: true });
  mkdirSync(clean, { recursive: true });
  const eur = CANDLE_WEEKS.flatMap((w) => generateWeek("EUR_USD", T(`${w}T00:00:00Z`), { seed: "broker-eur" }));
  const jpy = CANDLE_WEEKS.filter((w) => w !== EMPTY_JPY_WEEK).flatMap((w) => generateWeek("USD_JPY", T(`${w}T00:00:00Z`), { seed: "broker-jpy" }));
  // A missing hour: real missing data, absent from both inputs.
  const hole = [T("2025-06-11T10:00:00Z"), T("2025-06-11T11:00:00Z")];
  const kept = eur.filter((k) => k.t < hole[0]! || k.t >= hole[1]!);
  const dirtyLines: string[] = [];
  const cleanLines: string[] = [];
  const expect = new Map<string, { closed: number; aligned: number; lateDropped: number }>();
  const week = (t: number) => CANDLE_WEEKS.filter((w) => T(`${w}T00:00:00Z`) <= t).at(-1)!;
  const bump = (t: number, f: "closed" | "aligned" | "lateDropped") => {
    const e = expect.get(week(t)) ?? { closed: 0, aligned: 0, lateDropped: 0 };
    e[f]++;
    expect.set(week(t), e);
  };
  kept.forEach((k, i) => {
    if (i % 997 === 5) {
      // The broker stamped this minute 17 s late: aligned back to its minute.
      dirtyLines.push(csvLine(k, k.t + 17_000));
      bump(k.t, "aligned");
    } else dirtyLines.push(csvLine(k));
    cleanLines.push(csvLine(k));
    if (i % 1409 === 7) {
      // A second row 30 s into a minute that has its row: the row on the minute wins.
      dirtyLines.push(csvLine({ ...k, c: k.c + 0.0007, h: k.h + 0.0007 }, k.t + 30_000));
      bump(k.t, "lateDropped");
    }
  });
  // Stray Saturday rows and Sunday rows before the weekly open (FXCM's 2025-07-26 kind).
  const template = kept[100]!;
  for (const t of [T("2025-06-07T10:00:00Z"), T("2025-06-07T10:01:00Z"), T("2025-06-07T10:02:00Z"), T("2025-06-08T20:30:00Z"), T("2025-06-08T20:31:00Z"), T("2025-06-28T12:00:00Z")]) {
    dirtyLines.push(csvLine({ ...template, t }));
    bump(t, "closed");
  }
  const header = "time,open,high,low,close,volume";
  const half = Math.floor(dirtyLines.length / 2);
  // Two gzip members, as `cat a.gz b.gz` or a split export makes.
  writeFileSync(join(dirty, "EUR_USD_M1.csv.gz"), Buffer.concat([gzipSync(`${header}\n${dirtyLines.slice(0, half).join("\n")}\n`), gzipSync(`${dirtyLines.slice(half).join("\n")}\n`)]));
  writeFileSync(join(clean, "EUR_USD_M1.csv"), `${header}\n${cleanLines.join("\n")}\n`);
  // OANDA JSON export of USD_JPY, one week without data.
  const json = "[\n" + jpy.map((k) => JSON.stringify({ time: iso(k.t).replace(".000Z", ".000000000Z"), open: k.o, high: k.h, low: k.l, close: k.c, volume: k.volume })).join(",\n") + "\n]\n";
  writeFileSync(join(dirty, "USD_JPY_M1.json"), json);
  writeFileSync(join(clean, "USD_JPY_M1.json"), json);
  return { expect, eurKept: kept, jpy };
}

function legacyExport(ws: string): number {
  mkdirSync(join(ws, "legacy"), { recursive: true });
  const gates = makeNestedGates({ week: "2025-06-09", mode: "rolling", perInstrument: 12, seed: 5, instruments: ["EUR_USD", "USD_JPY"] });
  writeFileSync(join(ws, "legacy/fxcm_gates.jsonl.gz"), gzipSync(gates.map(sortedJson).join("\n") + "\n"));
  return gates.length;
}

const xgboostMissing = !existsSync(LIBXGBOOST_PATH);
if (xgboostMissing) console.log(`SKIP real-data pipeline: ${LIBXGBOOST_PATH} missing`);
const withLib = xgboostMissing ? test.skip : test;

withLib("broker CSV (gzip, Saturday rows, off-minute rows, a missing hour), JSON with an empty week and a legacy .jsonl.gz, from --set alone", async () => {
  const a = workspace();
  const b = workspace();
  const { expect, eurKept, jpy } = makeExports(join(a, "broker"), join(b, "clean"));
  const legacyRows = legacyExport(a);
  legacyExport(b);
  const targetsBefore = readdirSync(join(REPO, "targets")).map((f) => readFileSync(join(REPO, "targets", f), "utf8"));

  run(a, SET("broker"));
  run(b, [...SET("clean"), "gates_rolling", "gates_isolation"]);

  // The counts the import reports, per EUR_USD week, recorded in each candle file.
  for (const w of CANDLE_WEEKS) {
    const [m] = await readCandleMeta([join(a, `data/candles/EUR_USD/${w}.parquet`)]);
    const q = (m!.import as { quality: Record<string, number> }).quality;
    const e = expect.get(w) ?? { closed: 0, aligned: 0, lateDropped: 0 };
    assert.equal(q, { off_minute_aligned: e.aligned, off_minute_dropped: e.lateDropped, market_closed_dropped: e.closed, market_closed_kept: 0 }, `EUR_USD ${w}`);
    assert.is(m!.price_side, "bid");
    const present = eurKept.filter((k) => k.t >= T(`${w}T00:00:00Z`) && k.t < T(`${w}T00:00:00Z`) + 7 * 86_400_000).length;
    assert.is(m!.coverage!.present, present, `EUR_USD ${w}: present minutes`);
    assert.is(m!.coverage!.missing, 7200 - present);
  }
  assert.ok([...expect.values()].reduce((s, e) => s + e.closed, 0) === 6 && [...expect.values()].some((e) => e.aligned > 0 && e.lateDropped > 0), "the fixture has every kind");
  const [hour] = await readCandleMeta([join(a, "data/candles/EUR_USD/2025-06-09.parquet")]);
  assert.ok(hour!.coverage!.longest_gap_min >= 60, `the missing hour: ${JSON.stringify(hour!.coverage)}`);
  const [empty] = await readCandleMeta([join(a, `data/candles/USD_JPY/${EMPTY_JPY_WEEK}.parquet`)]);
  assert.is(empty!.coverage!.present, 0);
  assert.ok(jpy.length > 0);

  // The gates equal those of the cleaned input, in both run modes, every week.
  for (const mode of ["rolling", "isolation"]) {
    for (const w of WEEKS) {
      const end = new Date(T(`${w}T00:00:00Z`) + 7 * 86_400_000).toISOString().slice(0, 10);
      const rel = `output/gates/${mode}/gates_${w}_${end}.jsonl`;
      const got = readFileSync(join(a, rel), "utf8");
      assert.ok(got.length > 0, rel);
      assert.ok(got === readFileSync(join(b, rel), "utf8"), `${rel} differs from the cleaned input's gates`);
    }
  }

  // The status report: 2 instruments, the coverage, the empty week, the price side, legacy rows.
  const md = readFileSync(join(a, "output/Stage1_status_2025-07-07.md"), "utf8");
  assert.match(md, /\(5 weeks x 2 instruments x 2 modes\)/);
  assert.match(md, /2 instruments x 6 candle weeks; price side bid/);
  assert.match(md, new RegExp(`\\| ${EMPTY_JPY_WEEK} \\| \\d+/7200( \\(gap \\d+\\))? \\| empty \\|`));
  assert.match(md, new RegExp(`Candles USD_JPY ${EMPTY_JPY_WEEK}: no data`));
  assert.match(md, new RegExp(`Rows by source: [^\\n]*legacy_export ${legacyRows}`));
  assert.match(md, /Price side: bid\./);
  assert.ok(existsSync(join(a, `output/ml_corpus_${SPAN_NAME}.tgz`)));
  assert.ok(existsSync(join(a, "output/telemetry_schema.md")) && !existsSync(join(a, "docs/telemetry_schema.md")), "the doc is an output");

  // Recorded and shown: the same command line is a no-op; status names the --set of the build.
  assert.equal(run(a, SET("broker")).filter((e) => e.type === "action-start"), []);
  const st = cli(a, ["status", ...SET("broker")], TIMEOUT);
  assert.match(st.stdout, /^last build: .*--set files=broker\/\{instrument\}_M1\.\* .*--set source=files$/m);
  assert.match(st.stdout, /^stage1_status\s+1\s+0\s+0\s+fresh$/m);
  // No target file was edited.
  assert.equal(readdirSync(join(REPO, "targets")).map((f) => readFileSync(join(REPO, "targets", f), "utf8")), targetsBefore);
});

test.run();

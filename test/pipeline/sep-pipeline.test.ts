// The real SEP pipeline (targets/*.yaml, rules/*.ts) end to end on a small synthetic span:
// byte-identical rebuilds in two workspaces, a verifiable bundle, and the incremental shape of
// "one more week" (only that week's work, the corpus and what follows it).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cli, parseEvents, REPO } from "../helpers/rig.js";
import { LIBXGBOOST_PATH } from "../../src/ml/xgboost.js";

const TIMEOUT = 240_000;
const made: string[] = [];

/** A workspace that uses the project's rules and targets with a pipeline of its own. */
function workspace(weeks: [string, string], candleLast: string): string {
  const ws = mkdtempSync(join(tmpdir(), "dagbuild-sep-"));
  made.push(ws);
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "targets", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  mkdirSync(join(ws, "docs"));
  writeFileSync(join(ws, "pipeline.yaml"), pipeline(weeks, candleLast));
  return ws;
}

function pipeline(weeks: [string, string], candleLast: string): string {
  return `version: 1
default: [stage1_status, telemetry_doc]
include: [targets/*.yaml]
vars: { source: synthetic, seed: "7", signal: "0.0" }
axes:
  instrument: [EUR_USD, USD_JPY]
  mode: [rolling, isolation]
  week: { span: [${weeks[0]}, ${weeks[1]}], step: week }
  candle_week: { span: [${weeks[0]}, ${candleLast}], step: week }
  model: [baseline_gbm, lstm, gru, transformer]   # Stage 2's axis (targets/stage2.yaml; not built here)
hosts:
  droplet: { transport: local }
  gpu: { transport: local, resources: { gpu: 1 } }
tools:
  xgboost: { version: "1.7.4" }
`;
}

function run(ws: string, args: string[]) {
  const r = cli(ws, ["--json", "-j", "2", ...args], TIMEOUT);
  if (r.code !== 0) throw new Error(`dagbuild ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  const events = parseEvents(r.stdout);
  const ran = events.filter((e) => e.type === "action-start").map((e) => (e as { id: string }).id).sort();
  return { ran, events };
}

function plan(ws: string): string[] {
  const r = cli(ws, ["-n", "--json"], TIMEOUT);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout).actions as { id: string }[]).map((a) => a.id).sort();
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

const xgboostMissing = !existsSync(LIBXGBOOST_PATH);
if (xgboostMissing) console.log(`SKIP sep pipeline: ${LIBXGBOOST_PATH} missing (apt-get install -y libxgboost0)`);
/** Skipped (and counted as skipped) without libxgboost. */
const withLib = xgboostMissing ? test.skip : test;

test.after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

// Five weeks: the baseline's week split needs train, validation and test weeks.
const SPAN: [string, string] = ["2025-06-02", "2025-06-30"];
const SPAN_NAME = "2025-06-02_2025-07-07";

withLib("two clean builds are byte-identical; the bundle verifies with sha256sum and GNU tar", () => {
  const a = workspace(SPAN, "2025-07-07");
  const b = workspace(SPAN, "2025-07-07");
  run(a, []);
  run(b, []);
  for (const rel of [
    `output/ml_corpus/gates_${SPAN_NAME}.parquet`,
    `output/ml_corpus_${SPAN_NAME}.tgz`,
    `output/ml_corpus_${SPAN_NAME}.sha256`,
    "output/ml_corpus/baseline_report.json",
    "output/ml_models/baseline_xgb/model.json",
    "output/gates/rolling/gates_2025-06-30_2025-07-07.jsonl",
    "output/telemetry_schema.md",
  ]) {
    assert.ok(existsSync(join(a, rel)), `${rel} built`);
    assert.is(sha(join(a, rel)), sha(join(b, rel)), `${rel} identical in both workspaces`);
  }
  // `sha256sum -c` on the manifest (the bundle line) and GNU tar listing with mtime 0.
  const out = join(a, "output");
  const check = spawnSync("sha256sum", ["-c", `ml_corpus_${SPAN_NAME}.sha256`, "--ignore-missing"], { cwd: out, encoding: "utf8" });
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, `ml_corpus_${SPAN_NAME}.tgz: OK`);
  const listing = execFileSync("tar", ["-tzvf", join(out, `ml_corpus_${SPAN_NAME}.tgz`)], { encoding: "utf8" });
  assert.match(listing, "1970-01-01");
  assert.match(listing, `gates_${SPAN_NAME}.parquet`);
  // A second build is a no-op, and verify --rebuild reproduces the corpus and the bundle.
  assert.equal(run(a, []).ran, []);
  const v = cli(a, ["verify", "--rebuild", "bundle", "corpus"], TIMEOUT);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

withLib("one more week rebuilds only that week, the corpus and what follows; the dry run says so", () => {
  const ws = workspace(SPAN, "2025-07-07");
  run(ws, []);
  // The span grows by one week (and the candle span by one more, for its labels).
  writeFileSync(join(ws, "pipeline.yaml"), pipeline([SPAN[0], "2025-07-07"], "2025-07-14"));
  const planned = plan(ws);
  const expected = [
    "candles[instrument=EUR_USD,candle_week=2025-07-14]",
    "candles[instrument=USD_JPY,candle_week=2025-07-14]",
    "gates_rolling[week=2025-07-07]",
    "gates_isolation[week=2025-07-07]",
    "corpus_part[mode=rolling,week=2025-07-07]",
    "corpus_part[mode=isolation,week=2025-07-07]",
    "corpus",
    "telemetry_doc",
    "lead_lag",
    "baseline_gbm",
    "bundle",
    "stage1_status",
  ].sort();
  assert.equal(planned, expected, "the plan is exactly the new week and the aggregates");
  const { ran } = run(ws, []);
  // Early cutoff may spare an aggregate whose output did not change, never add work.
  assert.ok(ran.every((id) => planned.includes(id)), `ran only planned actions: ${ran.join(", ")}`);
  for (const id of expected.filter((x) => x.includes("07-07") || x.includes("07-14") || x === "corpus")) assert.ok(ran.includes(id), `${id} ran`);
  assert.ok(existsSync(join(ws, "output/ml_corpus/gates_2025-06-02_2025-07-14.parquet")));
});

test.run();

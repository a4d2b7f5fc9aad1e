import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import corpusPart from "../../rules/corpus-part.js";
import corpus from "../../rules/corpus.js";
import { withDuckDb, sqlString } from "../../src/io/duckdb.js";
import { CORPUS_COLUMNS } from "../../src/corpus/columns.js";
import { RuleError } from "../../src/engine/rule.js";
import { makeNestedGates, toFlat, writeGates } from "../fixtures/corpus/make-gates.js";
import { runRule, tempRoot } from "./helpers.js";

const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26"];
const root = tempRoot("corpus");

async function buildParts(): Promise<string[]> {
  const parts: string[] = [];
  for (const [wi, week] of WEEKS.entries()) {
    for (const mode of ["rolling", "isolation"] as const) {
      const gates = `output/gates/${mode}/gates_${week}.jsonl`;
      mkdirSync(join(root, `output/gates/${mode}`), { recursive: true });
      writeGates(join(root, gates), makeNestedGates({ week, mode, perInstrument: 30, seed: 100 + wi }));
      const part = `output/ml_corpus/parts/${mode}/${week}.parquet`;
      await runRule(corpusPart, root, {
        inputs: { gates: [gates] },
        outputs: { part },
        params: { run_mode: mode, week, source: "synthetic" },
      });
      parts.push(part);
    }
  }
  return parts;
}

async function rows(path: string, sql = "SELECT * FROM t ORDER BY ALL"): Promise<Record<string, unknown>[]> {
  return withDuckDb(async (c) => {
    await c.run(`CREATE VIEW t AS SELECT * FROM read_parquet(${sqlString(path)})`);
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  });
}

test("corpus twice gives byte-identical parquet; one row per key; all columns", async () => {
  const parts = await buildParts();
  await runRule(corpus, root, { inputs: { parts }, outputs: { corpus: "output/ml_corpus/a.parquet" } });
  const a = readFileSync(join(root, "output/ml_corpus/a.parquet"));
  // Rebuild everything from scratch: parts and merge.
  rmSync(join(root, "output/ml_corpus"), { recursive: true });
  await buildParts();
  await runRule(corpus, root, { inputs: { parts }, outputs: { corpus: "output/ml_corpus/b.parquet" } });
  const b = readFileSync(join(root, "output/ml_corpus/b.parquet"));
  assert.ok(a.equals(b), "corpus parquet differs between builds");
  const cols = await withDuckDb(async (c) =>
    (await c.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(join(root, "output/ml_corpus/b.parquet"))}))`)).getRows(),
  );
  const expected = CORPUS_COLUMNS.filter((c) => !c.bitplane);
  assert.equal(cols.map((r) => r[0]), expected.map((c) => c.name));
  assert.equal(cols.find((r) => r[0] === "ts")![1], "TIMESTAMP");
  assert.equal(cols.find((r) => r[0] === "reasons")![1], "VARCHAR[]");
  const stats = await rows(join(root, "output/ml_corpus/b.parquet"),
    "SELECT count(*)::INT AS n, count(DISTINCT (instrument, ts_ms, run_mode, source))::INT AS k, count(DISTINCT week)::INT AS w, sum(CASE WHEN label_complete THEN 0 ELSE 1 END)::INT AS inc FROM t");
  assert.equal(stats[0], { n: 3 * 2 * 7 * 30, k: 3 * 2 * 7 * 30, w: 3, inc: 3 * 2 * 7 * 2 });
  // Order is the key order (run_mode, source, instrument, ts_ms).
  const order = await rows(join(root, "output/ml_corpus/b.parquet"), "SELECT bool_and(ok) AS ok FROM (SELECT (run_mode, source, instrument, ts_ms) >= lag((run_mode, source, instrument, ts_ms)) OVER () OR lag(ts_ms) OVER () IS NULL AS ok FROM t)");
  assert.equal(order[0]!.ok, true);
});

test("flat legacy file and nested export of the same gates derive the same values", async () => {
  const gates = makeNestedGates({ week: "2025-06-02", mode: "rolling", perInstrument: 40, seed: 7 });
  mkdirSync(join(root, "legacy"), { recursive: true });
  writeGates(join(root, "legacy/nested.jsonl"), gates);
  writeGates(join(root, "legacy/flat.jsonl"), gates.map(toFlat));
  await runRule(corpus, root, {
    inputs: { legacy: ["legacy/flat.jsonl", "legacy/nested.jsonl"] },
    outputs: { corpus: "output/ml_corpus/legacy.parquet" },
    params: {
      legacy: {
        "legacy/flat.jsonl": { source: "legacy_flat", run_mode: "rolling" },
        "legacy/nested.jsonl": { source: "legacy_nested" },
      },
    },
  });
  const derived = "instrument, ts_ms, ts, admit, reasons, regime, regime_confidence, hazard, hazard_decile, repetitions, repetition_bucket, strand_id, list_filter(semantic_tags, x -> x <> 'strengthening_structure') AS tags, session_asia, session_london, session_new_york, week, run_mode, label_complete, roc_forward_pct_5, roc_forward_pct_360, structure_coherence, structure_stability, structure_entropy, structure_rupture";
  const p = join(root, "output/ml_corpus/legacy.parquet");
  const flat = await rows(p, `SELECT ${derived} FROM t WHERE source = 'legacy_flat' ORDER BY instrument, ts_ms`);
  const nested = await rows(p, `SELECT ${derived} FROM t WHERE source = 'legacy_nested' ORDER BY instrument, ts_ms`);
  assert.is(flat.length, 7 * 40);
  assert.equal(flat, nested);
  // The sample covers every derived value kind.
  const deciles = new Set(flat.map((r) => r.hazard_decile));
  const buckets = new Set(flat.map((r) => r.repetition_bucket));
  assert.ok(deciles.size >= 5, `deciles ${[...deciles]}`);
  assert.ok(buckets.has("5p") && buckets.has("1"));
  assert.ok(flat.some((r) => r.session_london && r.session_new_york), "no london+new_york overlap gate");
  assert.ok(flat.some((r) => (r.tags as string[]).includes("low_hazard_environment")));
  // Flat lines have no tau slope, so that tag is unknown there (never guessed).
  const tagged = await rows(p, "SELECT source, count(*)::INT AS n FROM t WHERE list_contains(semantic_tags, 'strengthening_structure') GROUP BY 1 ORDER BY 1");
  assert.equal(tagged.map((r) => r.source), ["legacy_nested"]);
  const h = flat.find((r) => r.hazard === 0.1) ?? flat[0]!;
  assert.is(h.strand_id, `${h.regime}_d${h.hazard_decile}_r${h.repetition_bucket}`);
});

test("bad gates line: located error naming file, line and field; nothing written", async () => {
  const gates = makeNestedGates({ week: "2025-05-12", mode: "rolling", perInstrument: 3, seed: 1 });
  const lines = gates.map((g) => JSON.stringify(g));
  const bad = { ...gates[4]!, hazard: "high" };
  lines[4] = JSON.stringify(bad);
  mkdirSync(join(root, "bad"), { recursive: true });
  writeFileSync(join(root, "bad/gates.jsonl"), lines.join("\n") + "\n");
  const run = (params: Record<string, unknown>) =>
    runRule(corpusPart, root, { inputs: { gates: ["bad/gates.jsonl"] }, outputs: { part: "bad/out/part.parquet" }, params });
  const params = { run_mode: "rolling", week: "2025-05-12", source: "synthetic" };
  try {
    await run(params);
    assert.unreachable("bad line accepted");
  } catch (e) {
    assert.instance(e, RuleError);
    assert.is((e as Error).message, 'bad/gates.jsonl:5: field "hazard": expected a finite number, got "high"');
  }
  lines[4] = "{not json";
  writeFileSync(join(root, "bad/gates.jsonl"), lines.join("\n") + "\n");
  try {
    await run(params);
    assert.unreachable("bad JSON accepted");
  } catch (e) {
    assert.match((e as Error).message, /^bad\/gates\.jsonl:5: not valid JSON/);
  }
  lines[4] = JSON.stringify(gates[4]);
  writeFileSync(join(root, "bad/gates.jsonl"), lines.join("\n") + "\n");
  try {
    await run({ ...params, week: "2025-05-19" });
    assert.unreachable("gate outside week accepted");
  } catch (e) {
    assert.match((e as Error).message, /^bad\/gates\.jsonl:1: field "ts_ms": .* is outside week 2025-05-19/);
  }
  lines.push(lines[2]!);
  writeFileSync(join(root, "bad/gates.jsonl"), lines.join("\n") + "\n");
  try {
    await run(params);
    assert.unreachable("duplicate accepted");
  } catch (e) {
    assert.match((e as Error).message, /^bad\/gates\.jsonl:22: field "ts_ms": duplicate gate/);
  }
  let leftovers: string[] = [];
  try {
    leftovers = (await import("node:fs")).readdirSync(join(root, "bad/out"));
  } catch {}
  assert.equal(leftovers, [], "half-written output left behind");
});

test("decoded bitplanes follow the §4 decoder", async () => {
  const gates = makeNestedGates({ week: "2025-05-12", mode: "rolling", perInstrument: 2, seed: 3, instruments: ["EUR_USD"] });
  writeGates(join(root, "bp.jsonl"), gates);
  await runRule(corpusPart, root, {
    inputs: { gates: ["bp.jsonl"] },
    outputs: { part: "bp/part.parquet" },
    params: { run_mode: "rolling", week: "2025-05-12", source: "synthetic", decode_bitplanes: true },
  });
  const r = (await rows(join(root, "bp/part.parquet"), "SELECT * FROM t ORDER BY ts_ms"))[0]!;
  const bytes = Buffer.from((gates[0]!.components as { bits_b64: string }).bits_b64, "base64");
  const b = bytes[5]!;
  assert.is((r.bitplane_dir as number[])[5], b >> 7);
  assert.ok(Math.abs((r.bitplane_abs_delta_est as number[])[5]! - (((b >> 4) & 7) + 0.5) / 8 * 2e-4) < 1e-15);
  assert.is((r.bitplane_volume_est as number[])[5], b & 1 ? 50 : 30);
  assert.is((r.bitplane_dir as number[]).length, 64);
});

test.after(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {}
});

test.run();

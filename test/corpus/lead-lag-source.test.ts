/**
 * lead_lag filters by source like the baseline (issue 12): merged `legacy*` rows stay out of
 * its window and its model by default; `source:` picks one source.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import corpusPart from "../../rules/corpus-part.js";
import corpus from "../../rules/corpus.js";
import leadLag from "../../rules/lead-lag.js";
import { makeNestedGates, writeGates } from "../fixtures/corpus/make-gates.js";
import { runRule, tempRoot } from "./helpers.js";

const root = tempRoot("lead-lag-source");
const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02"];
test.after(() => rmSync(root, { recursive: true, force: true }));

async function leadLagOf(corpusRel: string, tag: string, params: Record<string, unknown> = {}) {
  const features = `output/${tag}/features.csv`;
  const model = `output/${tag}/model.json`;
  await runRule(leadLag, root, { inputs: { corpus: [corpusRel] }, outputs: { features, model }, params: { weeks: 4, horizons: [15, 60], ...params } });
  const m = JSON.parse(readFileSync(join(root, model), "utf8"));
  delete m.lineage; // names the corpus file, which differs by construction
  return { csv: readFileSync(join(root, features), "utf8"), model: m };
}

test("merged legacy rows do not change lead_lag's window or model; source: selects them", async () => {
  const parts: string[] = [];
  mkdirSync(join(root, "g"), { recursive: true });
  for (const [i, week] of WEEKS.entries()) {
    writeGates(join(root, `g/${week}.jsonl`), makeNestedGates({ week, mode: "rolling", perInstrument: 15, seed: 10 + i }));
    const part = `output/parts/${week}.parquet`;
    await runRule(corpusPart, root, { inputs: { gates: [`g/${week}.jsonl`] }, outputs: { part }, params: { run_mode: "rolling", week, source: "synthetic" } });
    parts.push(part);
  }
  // A legacy export with other values, one week later than the parts (it would move the window).
  mkdirSync(join(root, "legacy"), { recursive: true });
  writeGates(join(root, "legacy/export.jsonl"), [...WEEKS.slice(1), "2025-06-09"].flatMap((week, i) => makeNestedGates({ week, mode: "rolling", perInstrument: 15, seed: 70 + i })));
  await runRule(corpus, root, { inputs: { parts }, outputs: { corpus: "output/plain.parquet" } });
  await runRule(corpus, root, {
    inputs: { parts, legacy: ["legacy/export.jsonl"] },
    outputs: { corpus: "output/merged.parquet" },
    params: { legacy: { "legacy/export.jsonl": { source: "legacy_fxcm", run_mode: "rolling" } } },
  });
  const plain = await leadLagOf("output/plain.parquet", "plain");
  const merged = await leadLagOf("output/merged.parquet", "merged");
  assert.is(merged.csv, plain.csv, "same features with and without the merged legacy rows");
  assert.equal(merged.model, plain.model, "same model");
  assert.equal(merged.model.weeks, WEEKS, "the legacy week 2025-06-09 does not enter the window");
  assert.is(merged.model.sources, "every source but legacy*");
  const legacy = await leadLagOf("output/merged.parquet", "legacy", { source: "legacy_fxcm" });
  assert.equal(legacy.model.weeks, [...WEEKS.slice(1), "2025-06-09"]);
  assert.is(legacy.model.sources, "source = legacy_fxcm");
  assert.not.equal(legacy.model.horizons, plain.model.horizons);
});

test.run();

/**
 * The telemetry doc (issue 12): a build writes output/telemetry_schema.md and refuses docs/;
 * the committed docs/telemetry_schema.md is the data-free rendering of columns.ts, in sync.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { build, makeWs, REPO } from "../helpers/rig.js";
import { existsSync, symlinkSync } from "node:fs";
import { loadGraph } from "../../src/engine/graph.js";
import telemetryDoc from "../../rules/telemetry-doc.js";
import { RuleError } from "../../src/engine/rule.js";
import { CORPUS_COLUMNS } from "../../src/corpus/columns.js";
import { renderSchemaDoc, SCHEMA_DOC_PATH } from "../../src/corpus/telemetry-doc.js";
import { runRule, tempRoot } from "./helpers.js";

const root = tempRoot("telemetry-committed");
test.after(() => rmSync(root, { recursive: true, force: true }));

test("the committed doc is the columns table, without data values, and up to date", () => {
  const doc = readFileSync(join(REPO, SCHEMA_DOC_PATH), "utf8");
  assert.is(doc, renderSchemaDoc(), "stale: run npm run docs:telemetry");
  for (const c of CORPUS_COLUMNS) assert.ok(doc.includes(`| \`${c.name}\` | ${c.type} |`), c.name);
  for (const row of doc.split("\n").filter((l) => l.startsWith("| `"))) {
    assert.is(row.split(/(?<!\\)\|/).length, 5, `three cells, no example column: ${row}`);
  }
  assert.not.match(doc, /sha256|\d+ rows|gates_\d{4}/, "no corpus file, digest or row count");
  const check = spawnSync(process.execPath, [join(REPO, "scripts/telemetry-doc.mjs"), "--check"], { encoding: "utf8" });
  assert.is(check.status, 0, check.stderr);
});

test("a build may not write the doc under docs/", async () => {
  const e = await runRule(telemetryDoc, root, { inputs: { corpus: ["x.parquet"] }, outputs: { doc: "docs/telemetry_schema.md" } }).catch((x: unknown) => x);
  assert.instance(e, RuleError);
  assert.match((e as Error).message, /under docs\/ \(tracked\); write it under output\//);
});

test("targets/stage1.yaml writes output/telemetry_schema.md and bundles that", () => {
  const y = readFileSync(join(REPO, "targets/stage1.yaml"), "utf8");
  assert.not.match(y, /docs\/telemetry_schema\.md(?! is refreshed)/);
  assert.match(y, /outputs: \{ doc: output\/telemetry_schema\.md \}/);
});

test("in a real build too: a pipeline declaring the doc under docs/ fails; no target of the project writes a tracked path", async () => {
  const ws = makeWs(`version: 1\ntargets:\n  doc:\n    outputs: { doc: docs/telemetry_schema.md }\n    deps: { corpus: in/c.parquet }\n    rule: rules/telemetry-doc.ts\n`, { fake: false, files: { "in/c.parquet": "x" } });
  for (const f of ["rules", "src", "dist", "node_modules", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  const r = build(ws);
  assert.is(r.code, 1);
  assert.match(r.stdout + r.stderr, /output docs\/telemetry_schema\.md is under docs\/ \(tracked\)/);
  assert.not.ok(existsSync(join(ws, "docs/telemetry_schema.md")));
  // Every output of the project's own pipeline is under output/, data/ or cache/ (git-ignored).
  const loaded = await loadGraph(REPO);
  assert.ok(loaded.ok);
  if (!loaded.ok) return;
  for (const a of loaded.graph.actions.values()) {
    for (const o of Object.values(a.outputs)) assert.match(o.path, /^(output|data|cache)\//, `${a.id} writes ${o.path}`);
  }
});

test.run();

/**
 * Load-phase input hardening: param values a key cannot tell apart (NaN, ±Infinity, -0),
 * YAML alias bombs, invalid UTF-8 and paths outside the workspace are located errors, so the
 * CLI exits 2 before anything runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadGraph } from "../../src/engine/graph.js";
import { loadErr, loadOk, RULES, short, workspace } from "../fixtures/pipelines/rig.js";

const target = (params: string) => [
  "version: 1",
  "targets:",
  "  a:",
  "    outputs: [out/a]",
  "    rule: rules/a.ts",
  `    params: ${params}`,
];

test("params NaN, Infinity, -Infinity and -0 are located errors (they would share a key with null or 0)", async () => {
  for (const [text, what] of [[".nan", "NaN"], [".inf", "Infinity"], ["-.inf", "-Infinity"], ["-0", "-0"], ["-0.0", "-0"]] as const) {
    const d = await loadErr({ ...RULES, "pipeline.yaml": target(`{ ok: 1, deep: { list: [1, ${text}] } }`) });
    assert.equal(d.map(short), ["pipeline.yaml:6:40 param-value"], text);
    assert.match(d[0]!.message, "params.deep.list[1]");
    assert.match(d[0]!.message, what);
  }
  // Ordinary numbers (0, negative, float) still load.
  await loadOk({ ...RULES, "pipeline.yaml": target("{ a: 0, b: -1.5, c: 1e300 }") });
});

test("a non-finite value from a params_file is located in that file", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a:", "    outputs: [out/a]", "    rule: rules/a.ts", "    params_file: { file: p.yaml, keys: [model] }"],
    "p.yaml": ["model:", "  lr: 0.1", "  clip: .inf"],
  });
  assert.equal(d.map(short), ["p.yaml:3:9 param-value"]);
  assert.match(d[0]!.message, "model.clip");
});

test("a YAML alias bomb is a located error, not an unbounded expansion", async () => {
  const lines = ["version: 1", "vars:", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i <= 6; i++) lines.push(`  l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]`);
  const t0 = Date.now();
  const d = await loadErr({ "pipeline.yaml": lines });
  assert.ok(Date.now() - t0 < 5000, "bounded");
  assert.equal(d.map(short), ["pipeline.yaml:4:12 yaml-syntax"]);
  assert.match(d[0]!.message, "alias");
  // A few ordinary aliases are fine.
  await loadOk({ ...RULES, "pipeline.yaml": ["version: 1", "vars:", "  base: &b hello", "  again: *b", "targets:", "  a:", "    outputs: [out/a]", "    rule: rules/a.ts", "    params: { x: *b }"] });
});

test("invalid UTF-8 in a pipeline file is a located error", async () => {
  const ws = workspace({ ...RULES, "pipeline.yaml": "" });
  const head = Buffer.from("version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    rule: rules/a.ts\n    params: { name: \"caf");
  writeFileSync(join(ws, "pipeline.yaml"), Buffer.concat([head, Buffer.from([0xe9]), Buffer.from("\" }\n")]));
  const r = await loadGraph(ws);
  assert.not.ok(r.ok, "must not load with U+FFFD in place of the byte");
  if (r.ok) return;
  assert.equal(r.diagnostics.map(short), ["pipeline.yaml:6:25 invalid-utf8"]);
  assert.match(r.diagnostics[0]!.message, "0xe9");
});

test("includes, hosts_file and params_file outside the workspace say so", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": ["version: 1", "include: [../other.yaml]", "hosts_file: ../hosts.yaml", "targets:", "  a:", "    outputs: [out/a]", "    rule: rules/a.ts", "    params_file: { file: ../p.yaml, keys: [k] }"],
  });
  assert.equal(d.map(short), ["pipeline.yaml:2:11 include-missing", "pipeline.yaml:3:13 include-missing", "pipeline.yaml:8:26 params-file"]);
  for (const x of d) assert.match(x.message, "outside the workspace");
});

test("a glob inside a directory output is a located error; a glob over one does not look inside", async () => {
  const files = {
    ...RULES,
    "gen/stale.txt": "left by an earlier build\n",
    "src/a.txt": "a\n",
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  gen:",
      "    outputs: [\"gen/\"]",
      "    rule: rules/a.ts",
      "  use:",
      "    outputs: [out/use]",
      "    deps: [\"gen/*.txt\"]",
      "    rule: rules/b.ts",
    ],
  };
  const d = await loadErr(files);
  assert.equal(d.map(short), ["pipeline.yaml:8:12 missing-source"]);
  assert.match(d[0]!.message, "depend on `gen/` itself");
  // `**/*.txt` passes over gen/: it sees src/a.txt, never the stale files inside gen/.
  const g = await loadOk({ ...files, "pipeline.yaml": (files["pipeline.yaml"] as string[]).map((l) => l.replace('"gen/*.txt"', '"**/*.txt"')) });
  assert.equal(g.actions.get("use")!.deps["0"]!.map((x) => x.path), ["src/a.txt"]);
});

test.run();

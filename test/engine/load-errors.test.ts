/** Load-phase errors: every kind, located at the offending YAML node, all reported at once. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { renderDiagnostics } from "../../src/engine/diagnostics.js";
import { loadErr, RULES, short } from "../fixtures/pipelines/rig.js";

const kinds = async (files: Parameters<typeof loadErr>[0]) => (await loadErr(files)).map(short);

test("yaml syntax error is located", async () => {
  const d = await kinds({ "pipeline.yaml": ["version: 1", "targets:", "  a: [unclosed"] });
  assert.ok(d.length >= 1);
  assert.match(d[0]!, /^pipeline\.yaml:\d+:\d+ yaml-syntax$/);
});

test("duplicate YAML key is a syntax error at the second key", async () => {
  const d = await kinds({ "pipeline.yaml": ["version: 1", "vars: {a: x}", "vars: {b: y}"] });
  assert.equal(d, ["pipeline.yaml:3:1 yaml-syntax"]);
});

test("unknown key points at the key; wrong type at the value", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a:",
      "    outputs: [out/a]",
      "    rule: rules/a.ts",
      "    hots: gpu", // line 6: typo
      "  b:",
      "    outputs: { o: 3 }", // line 8, col 19
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:6:5 schema", "pipeline.yaml:8:19 schema"]);
  assert.match(d[0]!.message, /unknown key `hots`/);
  assert.match(d[1]!.message, /must be a string/);
});

test("unknown top-level key and missing version", async () => {
  const d = await kinds({ "pipeline.yaml": ["targetz: {}"] });
  assert.equal(d.sort(), ["pipeline.yaml:1:1 schema", "pipeline.yaml:1:1 schema"]);
});

test("missing include: literal and glob, each at its list item", async () => {
  const d = await kinds({ "pipeline.yaml": ["version: 1", "include:", "  - targets/*.yaml", "  - extra.yaml"] });
  assert.equal(d, ["pipeline.yaml:3:5 include-missing", "pipeline.yaml:4:5 include-missing"]);
});

test("schema errors inside an included file are located in that file", async () => {
  const d = await kinds({
    "pipeline.yaml": ["version: 1", "include: [more.yaml]"],
    "more.yaml": ["targets:", "  x:", "    outputs: [o]", "    run: echo", "    frob: 1"],
  });
  assert.equal(d, ["more.yaml:5:5 schema"]);
});

test("duplicate target across two files names both", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": ["version: 1", "include: [more.yaml]", "targets:", "  a: { outputs: [x], rule: rules/a.ts }"],
    "more.yaml": ["targets:", "  b: { outputs: [y], rule: rules/a.ts }", "  a: { outputs: [z], rule: rules/a.ts }"],
  });
  assert.equal(d.map(short), ["more.yaml:3:3 duplicate-target"]);
  assert.equal(d[0]!.notes?.[0]?.loc, { file: "pipeline.yaml", line: 4, col: 3 });
});

test("two targets writing one output: both locations", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a:",
      "    outputs: { o: out/same.txt }", // 4:19
      "    rule: rules/a.ts",
      "  b:",
      "    outputs: [out/./same.txt]", // 7:15 (normalized to the same path)
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:7:15 duplicate-output"]);
  assert.equal(d[0]!.notes?.[0]?.loc, { file: "pipeline.yaml", line: 4, col: 19 });
  assert.match(d[0]!.message, /`a` and `b` both write `out\/same.txt`/);
});

test("partitions writing one output (axis missing from the path) are reported once", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "axes: { m: [x, y, z] }",
      "targets:",
      "  a: { partition: [m], outputs: [out/a.txt], rule: rules/a.ts }",
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:4:34 duplicate-output"]);
});

test("an output inside another target's directory output", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a: { outputs: [models/], rule: rules/a.ts }",
      "  b: { outputs: [models/lstm.bin], rule: rules/a.ts }",
    ],
  });
  assert.equal(d, ["pipeline.yaml:4:18 duplicate-output"]);
});

test("cycle: printed with each step located at its dep", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a:",
      "    outputs: [out/a]",
      "    deps: { fromc: out/c }", // 5:20
      "    rule: rules/a.ts",
      "  b:",
      "    outputs: [out/b]",
      "    deps: [out/a]", // 9:12
      "    rule: rules/a.ts",
      "  c:",
      "    outputs: [out/c]",
      "    deps: [out/b]", // 13:12
      "    rule: rules/a.ts",
      "  ok:",
      "    outputs: [out/ok]",
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(d.length, 1);
  assert.equal(d[0]!.kind, "cycle");
  assert.match(d[0]!.message, /a → c → b → a/);
  assert.equal(
    d[0]!.notes!.map((n) => `${n.loc!.line}:${n.loc!.col}`),
    ["5:20", "13:12", "9:12"],
  );
  assert.match(d[0]!.notes![0]!.message, /`a` needs `out\/c` \(dep `fromc`\) from `c`/);
});

test("self-dependency is a cycle of one", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a: { outputs: [o], deps: [o], rule: rules/a.ts }"],
  });
  assert.equal(d, ["pipeline.yaml:3:29 cycle"]);
});

test("a chain cycle across 20 partitions is one error", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "axes: { week: { span: [2025-01-06, 2025-05-19], step: week } }",
      "targets:",
      "  a:",
      "    partition: [week]",
      "    outputs: [\"out/{week}\"]",
      "    deps: [\"out/{week+1}\", \"out/{week-1}\"]",
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(d, ["pipeline.yaml:7:12 cycle"]);
});

test("missing source input at the dep node, once per dep with a count", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "axes: { m: [x, y] }",
      "targets:",
      "  a:",
      "    partition: [m]",
      "    outputs: [\"out/{m}\"]",
      "    deps: { cfg: \"config/{m}.yaml\", ok: rules/a.ts }", // 7:18
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:7:18 missing-source"]);
  assert.match(d[0]!.message, /`config\/x.yaml` \(dep `cfg` of `a\[m=x\]`\).*and 1 more/);
});

test("a glob dep that matches nothing", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a: { outputs: [o], deps: [\"data/*.csv\"], rule: rules/a.ts }"],
  });
  assert.equal(d, ["pipeline.yaml:3:29 missing-source"]);
});

test("unknown rule module", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a:", "    outputs: [o]", "    rule: rules/missing.ts"],
  });
  assert.equal(d, ["pipeline.yaml:5:11 unknown-rule"]);
});

test("unknown host with a hosts section; unknown tool at its list item", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "hosts: { gpu: { transport: local } }",
      "tools: { xgb: { version: '1.7' } }",
      "targets:",
      "  a:",
      "    outputs: [o]",
      "    rule: rules/a.ts",
      "    host: gpo", // 8:11
      "    tools: [xgb, lgbm]", // 9:18
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:8:11 unknown-host", "pipeline.yaml:9:18 unknown-tool"]);
  assert.match(d[0]!.message, /unknown host `gpo` \(hosts: local, gpu\)/);
});

test("unknown template variable and misuse of axes in outputs", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "vars: { src: synthetic }",
      "axes: { m: [x, y], n: [p, q] }",
      "targets:",
      "  a:",
      "    partition: [m]",
      "    outputs: [\"out/{m}/{n}\"]", // 7:15: n is not in the partition
      "    params: { s: \"{srcc}\", ok: \"{src}-{m}\" }", // 8:18
      "    rule: rules/a.ts",
      "  b:",
      "    outputs: [\"out/{m-1}\"]", // 11:15: unbound axis in an output
      "    run: \"cat {deps.nope} > {out}\"", // 12:10: no dep named nope
    ],
  });
  assert.equal(d.map(short), [
    "pipeline.yaml:7:15 unknown-variable",
    "pipeline.yaml:8:18 unknown-variable",
    "pipeline.yaml:11:15 unknown-variable",
    "pipeline.yaml:12:10 unknown-variable",
  ]);
  assert.match(d[1]!.message, /\{srcc\}/);
});

test("unknown axis in partition", async () => {
  const d = await kinds({
    ...RULES,
    "pipeline.yaml": ["version: 1", "axes: { m: [x] }", "targets:", "  a:", "    partition: [m, week]", "    outputs: [o]", "    rule: rules/a.ts"],
  });
  assert.equal(d, ["pipeline.yaml:5:20 unknown-axis"]);
});

test("params_file: missing file, missing key, key set twice", async () => {
  const d = await loadErr({
    ...RULES,
    "config/params.yaml": ["replay: { p: 1 }", "other: 2"],
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a:",
      "    outputs: [a]",
      "    rule: rules/a.ts",
      "    params_file: { file: config/nope.yaml, keys: [replay] }", // 6:26
      "  b:",
      "    outputs: [b]",
      "    rule: rules/a.ts",
      "    params: { other: 3 }",
      "    params_file:",
      "      file: config/params.yaml",
      "      keys: [replay, missing, other]", // 13:22 missing, 13:31 other
    ],
  });
  assert.equal(d.map(short), ["pipeline.yaml:6:26 params-file", "pipeline.yaml:13:22 params-file", "pipeline.yaml:13:31 params-file"]);
});

test("week span bounds that are not Mondays are located", async () => {
  const d = await loadErr({
    "pipeline.yaml": ["version: 1", "axes:", "  week: { span: [2025-05-13, 2025-06-01], step: week }"],
  });
  assert.equal(d.map(short), ["pipeline.yaml:3:18 schema", "pipeline.yaml:3:30 schema"]);
  assert.match(d[0]!.message, /2025-05-13 is not a Monday.*2025-05-12/);
});

test("a bad --host override is an unlocated unknown-host", async () => {
  const d = await loadErr({ ...RULES, "pipeline.yaml": ["version: 1", "targets: { a: { outputs: [o], rule: rules/a.ts } }"] }, {
    hostOverrides: { gpu: "local" },
  });
  assert.equal(d.map(short), ["- unknown-host"]);
});

test("several errors of different kinds are reported together, sorted by location", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "include: [nope.yaml]", // 2:11 include-missing
      "hosts: { gpu: { transport: local } }",
      "axes: { m: [x] }",
      "targets:",
      "  a:",
      "    partition: [m, z]", // 7:20 unknown-axis
      "    outputs: [o]",
      "    rule: rules/a.ts",
      "  b:",
      "    outputs: [\"{v}\"]", // 11:16 unknown-variable
      "    rule: rules/zz.ts", // 12:11 unknown-rule
      "    host: cpu", // 13:11 unknown-host
      "    extra: 1", // 14:5 schema (in c, below, no: in b) -> b is skipped
      "  c:",
      "    outputs: [c]",
      "    rule: rules/zz.ts", // 17:11 unknown-rule
      "    host: cpu", // 18:11 unknown-host
    ],
  });
  assert.equal(d.map(short), [
    "pipeline.yaml:2:11 include-missing",
    "pipeline.yaml:7:20 unknown-axis",
    "pipeline.yaml:14:5 schema",
    "pipeline.yaml:17:11 unknown-rule",
    "pipeline.yaml:18:11 unknown-host",
  ]);
});

test("renderDiagnostics: file:line:col: error[kind]: message, notes indented, count", async () => {
  const d = await loadErr({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a: { outputs: [o], rule: rules/a.ts }", "  b: { outputs: [o], rule: rules/a.ts }"],
  });
  const text = renderDiagnostics(d, { color: false });
  assert.equal(
    text,
    "pipeline.yaml:4:18: error[duplicate-output]: `a` and `b` both write `o`\n" +
      "  pipeline.yaml:3:18: note: `a` declares it here\n" +
      "1 error; nothing was run\n",
  );
  assert.match(renderDiagnostics(d, { color: true }), /\x1b\[31m/);
});

test("schema messages: bad names and values say what is allowed", async () => {
  const d = await loadErr({
    "pipeline.yaml": ["version: 1", "axes:", "  inst: [a/b, ok]", "  deps: [x]", "targets:", "  'bad name': { outputs: [o], run: x }"],
  });
  assert.equal(d.map(short), ["pipeline.yaml:3:10 schema", "pipeline.yaml:4:3 schema", "pipeline.yaml:6:3 schema"]);
  assert.match(d[0]!.message, /must be a partition value/);
  assert.match(d[1]!.message, /`deps` and `out` are reserved/);
  assert.match(d[2]!.message, /invalid name `bad name` in `targets`/);
});

test("the cached standalone validators agree with ajv compiled in memory", async () => {
  const { Ajv } = await import("ajv");
  const { readFileSync } = await import("node:fs");
  const { schemaValidators } = await import("../../src/engine/schema.js");
  const cached = await schemaValidators();
  const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false });
  ajv.addSchema(JSON.parse(readFileSync("schema/pipeline.schema.json", "utf8")));
  const fresh = ajv.getSchema("https://dagbuild.dev/schema/pipeline.schema.json")!;
  const doc = { version: 2, axes: { deps: [1], w: { span: ["x"], step: "day" } }, hosts: { h: { transport: "ftp" } }, targets: { t: { outputs: 3 } } };
  assert.is(cached.pipeline(doc), false);
  assert.is(fresh(doc), false);
  assert.equal(cached.pipeline.errors, fresh.errors);
  assert.ok(cached.pipeline({ version: 1 }));
});

test.run();

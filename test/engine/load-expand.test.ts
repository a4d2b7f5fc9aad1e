/** Load phase: partitions, templates and dependency resolution of valid pipelines. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Graph } from "../../src/engine/graph-types.js";
import { isoWeekId } from "../../src/engine/partitions.js";
import { bindTemplate, evaluate, parseTemplate } from "../../src/engine/templates.js";
import { loadOk, RULES } from "../fixtures/pipelines/rig.js";

const depPaths = (g: Graph, id: string, name: string) => {
  const a = g.actions.get(id);
  if (!a) throw new Error(`no action ${id}; have ${[...g.actions.keys()].slice(0, 5).join(", ")}...`);
  return (a.deps[name] ?? []).map((d) => d.path);
};

const PIPE = [
  "version: 1",
  "vars: { source: synthetic }",
  "axes:",
  "  instrument: [AUD_USD, EUR_USD, GBP_USD]",
  "  mode: [rolling, isolation]",
  "  week: { span: [2025-05-12, 2025-06-02], step: week }",
  "targets:",
  "  candles:",
  "    partition: [instrument, week]",
  "    outputs: { candles: \"data/candles/{instrument}/{week}.parquet\" }",
  "    rule: rules/a.ts",
  "    params: { source: \"{source}\", seed: 7, end: \"{week.end}\" }",
  "  gates:",
  "    partition: [mode, week]",
  "    outputs:",
  "      gates: \"output/gates/{mode}/gates_{week}_{week.end}.jsonl\"",
  "      state: \"output/gates/{mode}/state_{week}_{week.end}.json\"",
  "    deps:",
  "      candles: \"data/candles/{instrument}/{week}.parquet\"",
  "      tail: \"data/candles/{instrument}/{week+1}.parquet\"",
  "      state: \"output/gates/{mode}/state_{week-1}_{week-1.end}.json\"",
  "      profile: config/profile.yaml",
  "    rule: rules/b.ts",
  "  corpus:",
  "    outputs: [\"output/corpus/gates_{week.span}.parquet\"]",
  "    deps: { gates: \"output/gates/{mode}/gates_{week}_{week.end}.jsonl\" }",
  "    run: \"cat {deps} > {out} # {week.first}..{week.last}\"",
];
const FILES = { ...RULES, "config/profile.yaml": "x: 1\n", "pipeline.yaml": PIPE };

test("lists × spans: one action per combination, ids in partition order", async () => {
  const g = await loadOk(FILES);
  const candles = g.targets.get("candles")!;
  assert.equal(candles.length, 3 * 4);
  assert.equal(candles[0], "candles[instrument=AUD_USD,week=2025-05-12]");
  assert.equal(candles[1], "candles[instrument=AUD_USD,week=2025-05-19]");
  assert.equal(candles[11], "candles[instrument=GBP_USD,week=2025-06-02]");
  assert.equal(g.targets.get("gates")!.length, 2 * 4);
  assert.equal(g.targets.get("corpus"), ["corpus"]);
  assert.equal([...g.actions.keys()].slice(0, 12), candles, "actions are in declaration order");
  const a = g.actions.get("gates[mode=isolation,week=2025-05-19]")!;
  assert.equal(a.partition, { mode: "isolation", week: "2025-05-19" });
  assert.equal(a.outputs.gates, { path: "output/gates/isolation/gates_2025-05-19_2025-05-26.jsonl", dir: false });
  assert.equal(a.loc, { file: "pipeline.yaml", line: 13, col: 3 });
  assert.equal(a.rule, { kind: "module", module: "rules/b.ts" });
  assert.equal(a.host, "local");
});

test("params: templates substituted per partition", async () => {
  const g = await loadOk(FILES);
  assert.equal(g.actions.get("candles[instrument=EUR_USD,week=2025-06-02]")!.params, {
    source: "synthetic",
    seed: 7,
    end: "2025-06-09",
  });
});

test("chain deps: previous partition; the first has none", async () => {
  const g = await loadOk(FILES);
  assert.equal(depPaths(g, "gates[mode=rolling,week=2025-05-12]", "state"), []);
  assert.equal(depPaths(g, "gates[mode=rolling,week=2025-05-19]", "state"), [
    "output/gates/rolling/state_2025-05-12_2025-05-19.json",
  ]);
  const ref = g.actions.get("gates[mode=rolling,week=2025-05-19]")!.deps.state![0]!;
  assert.equal(ref, { kind: "output", path: ref.path, producer: "gates[mode=rolling,week=2025-05-12]" });
});

test("next-week deps: the last week has none; unbound axis expands to all values", async () => {
  const g = await loadOk(FILES);
  assert.equal(depPaths(g, "gates[mode=rolling,week=2025-05-26]", "tail"), [
    "data/candles/AUD_USD/2025-06-02.parquet",
    "data/candles/EUR_USD/2025-06-02.parquet",
    "data/candles/GBP_USD/2025-06-02.parquet",
  ]);
  assert.equal(depPaths(g, "gates[mode=rolling,week=2025-06-02]", "tail"), []);
  assert.equal(depPaths(g, "gates[mode=rolling,week=2025-06-02]", "candles").length, 3);
  assert.equal(g.actions.get("gates[mode=rolling,week=2025-06-02]")!.deps.profile, [{ kind: "source", path: "config/profile.yaml" }]);
});

test("aggregate deps: every value of every unbound axis, sorted; whole-axis values", async () => {
  const g = await loadOk(FILES);
  const a = g.actions.get("corpus")!;
  const paths = depPaths(g, "corpus", "gates");
  assert.equal(paths.length, 8);
  assert.equal(paths, [...paths].sort());
  assert.equal(paths[0], "output/gates/isolation/gates_2025-05-12_2025-05-19.jsonl");
  assert.equal(a.outputs["0"], { path: "output/corpus/gates_2025-05-12_2025-06-09.parquet", dir: false });
  assert.equal(a.rule, { kind: "shell", command: "cat {deps} > {out} # 2025-05-12..2025-06-02" });
});

test("topological order: deps first, ties in declaration order", async () => {
  const g = await loadOk(FILES);
  const pos = new Map(g.order.map((id, i) => [id, i]));
  assert.equal(g.order.length, g.actions.size);
  for (const a of g.actions.values()) {
    for (const refs of Object.values(a.deps)) {
      for (const r of refs) if (r.kind === "output") assert.ok(pos.get(r.producer)! < pos.get(a.id)!, `${r.producer} before ${a.id}`);
    }
  }
  assert.equal(g.order[0], "candles[instrument=AUD_USD,week=2025-05-12]");
  assert.equal(g.order[g.order.length - 1], "corpus");
  assert.equal(g.producers.get("data/candles/EUR_USD/2025-05-19.parquet"), "candles[instrument=EUR_USD,week=2025-05-19]");
});

test("ISO week ids and Monday boundaries across a year end", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "axes: { week: { span: [2024-12-23, 2025-01-06], step: week, format: iso } }",
      "targets:",
      "  w:",
      "    partition: [week]",
      "    outputs: [\"out/{week}_{week.start}_{week.end}\"]",
      "    rule: rules/a.ts",
    ],
  });
  assert.equal(g.targets.get("w"), ["w[week=2024-W52]", "w[week=2025-W01]", "w[week=2025-W02]"]);
  assert.equal(g.actions.get("w[week=2025-W01]")!.outputs["0"]!.path, "out/2025-W01_2024-12-30_2025-01-06");
  assert.equal(isoWeekId(Date.UTC(2025, 4, 12)), "2025-W20");
  assert.equal(isoWeekId(Date.UTC(2026, 11, 28)), "2026-W53");
});

test("globs match declared outputs and source files, compiled once per pattern", async () => {
  const g = await loadOk({
    ...RULES,
    "data/raw/a.csv": "1\n",
    "data/raw/sub/b.csv": "2\n",
    "data/raw/c.txt": "3\n",
    "pipeline.yaml": [
      "version: 1",
      "axes: { m: [x, y] }",
      "targets:",
      "  make:",
      "    partition: [m]",
      "    outputs: [\"data/raw/gen_{m}.csv\"]",
      "    rule: rules/a.ts",
      "  flat: { outputs: [o1], deps: [\"data/raw/*.csv\"], rule: rules/a.ts }",
      "  deep: { outputs: [o2], deps: [\"data/**/*.csv\", \"data/raw/?.txt\"], rule: rules/a.ts }",
    ],
  });
  assert.equal(g.actions.get("flat")!.deps["0"], [
    { kind: "source", path: "data/raw/a.csv" },
    { kind: "output", path: "data/raw/gen_x.csv", producer: "make[m=x]" },
    { kind: "output", path: "data/raw/gen_y.csv", producer: "make[m=y]" },
  ]);
  assert.equal(depPaths(g, "deep", "0"), ["data/raw/a.csv", "data/raw/gen_x.csv", "data/raw/gen_y.csv", "data/raw/sub/b.csv"]);
  assert.equal(depPaths(g, "deep", "1"), ["data/raw/c.txt"]);
  assert.ok(g.order.indexOf("make[m=y]") < g.order.indexOf("flat"));
});

test("directory outputs: trailing slash, deps inside resolve to the producer", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  train: { outputs: { model: output/ml_models/lstm/ }, rule: rules/a.ts }",
      "  eval: { outputs: [out/eval.json], deps: [output/ml_models/lstm/weights.bin, output/ml_models/lstm], rule: rules/a.ts }",
    ],
  });
  assert.equal(g.actions.get("train")!.outputs.model, { path: "output/ml_models/lstm", dir: true });
  assert.equal(g.actions.get("eval")!.deps, {
    "0": [{ kind: "output", path: "output/ml_models/lstm/weights.bin", producer: "train" }],
    "1": [{ kind: "output", path: "output/ml_models/lstm", producer: "train" }],
  });
  assert.equal(g.order, ["train", "eval"]);
});

test("deps shaped like the output resolve like deps spelled otherwise", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "vars: { first: x }",
      "axes: { m: [x, y], w: { span: [2025-05-12, 2025-05-19], step: week } }",
      "targets:",
      "  p: { partition: [m, w], outputs: [\"out/{m}/{w}_{w.end}\"], rule: rules/a.ts }",
      "  c:",
      "    partition: [w]",
      "    deps:",
      "      aligned: \"out/{m}/{w}_{w.end}\"", // same shape: index arithmetic
      "      spelled: \"out/{first}/{w.start}_{w.end}\"", // a var and .start: string lookup
      "      mixed: \"out/x/{w}_{w-1.end}\"", // inconsistent week: names nothing for w > first
      "    outputs: [\"c/{w}\"]",
      "    rule: rules/a.ts",
    ],
  }).catch((e: Error) => e);
  assert.instance(g, Error, "the inconsistent dep is reported missing");
  const ok = await loadOk({
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "vars: { first: x }",
      "axes: { m: [x, y], w: { span: [2025-05-12, 2025-05-19], step: week } }",
      "targets:",
      "  p: { partition: [m, w], outputs: [\"out/{m}/{w}_{w.end}\"], rule: rules/a.ts }",
      "  c:",
      "    partition: [w]",
      "    deps: { aligned: \"out/{m}/{w-1}_{w-1.end}\", spelled: \"out/{first}/{w.start}_{w.end}\" }",
      "    outputs: [\"c/{w}\"]",
      "    rule: rules/a.ts",
    ],
  });
  const c = ok.actions.get("c[w=2025-05-19]")!;
  assert.equal(c.deps.aligned, [
    { kind: "output", path: "out/x/2025-05-12_2025-05-19", producer: "p[m=x,w=2025-05-12]" },
    { kind: "output", path: "out/y/2025-05-12_2025-05-19", producer: "p[m=y,w=2025-05-12]" },
  ]);
  assert.equal(c.deps.spelled, [{ kind: "output", path: "out/x/2025-05-19_2025-05-26", producer: "p[m=x,w=2025-05-19]" }]);
  assert.equal(ok.actions.get("c[w=2025-05-12]")!.deps.aligned, []);
});

test("paths are normalized workspace-relative", async () => {
  const g = await loadOk({
    ...RULES,
    "config/p.yaml": "a: 1\n",
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a: { outputs: [./out//a.txt], deps: [config/../config/./p.yaml], rule: ./rules/a.ts }",
    ],
  });
  const a = g.actions.get("a")!;
  assert.equal(a.outputs["0"]!.path, "out/a.txt");
  assert.equal(depPaths(g, "a", "0"), ["config/p.yaml"]);
  assert.equal(a.rule, { kind: "module", module: "rules/a.ts" });
});

test("templates: escapes, literal braces, shifts and whole-axis values", () => {
  const axis = { name: "w", kind: "week" as const, ids: ["2025-05-12", "2025-05-19"], starts: ["2025-05-12", "2025-05-19"], ends: ["2025-05-19", "2025-05-26"], loc: { file: "p", line: 1, col: 1 } };
  const scope = { vars: new Map([["v", "V"]]), axes: new Map([["w", axis]]), partition: [axis] };
  const errs: string[] = [];
  const b = bindTemplate(parseTemplate("{{x}} ${a,b} {v}/{w}/{w-1.end}/{w.span}/{w.last}"), scope, "dep", errs)!;
  assert.equal(errs, []);
  assert.equal(evaluate(b, [1]), "{x} ${a,b} V/2025-05-19/2025-05-19/2025-05-12_2025-05-26/2025-05-19");
  assert.equal(evaluate(b, [0]), undefined, "a shift out of range drops the dep");
  bindTemplate(parseTemplate("{w+1}"), scope, "output", errs);
  bindTemplate(parseTemplate("{v.start}"), scope, "param", errs);
  bindTemplate(parseTemplate("{w.foo}"), scope, "param", errs);
  assert.equal(errs.length, 3);
});

test.run();

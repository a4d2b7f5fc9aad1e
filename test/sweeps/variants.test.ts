/**
 * Data variants of a sweep at load time (issue 13): a target partitioned by a projection
 * (`partition: [trial.horizon]`) has one action per distinct value, each trial's
 * `{trial.horizon}` dep resolves to its producer, and a trial whose value has no producer is a
 * located load error naming the dep and the value.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadErr, loadOk, RULES, short, type Files, workspace } from "../fixtures/pipelines/rig.js";
import { loadGraph } from "../../src/engine/graph.js";
import type { ActionNode, Graph } from "../../src/engine/graph-types.js";
import { REPO } from "../helpers/rig.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const GRID = "trial: { grid: { units: [8, 16, 32], horizon: [30, 60], seq_len: [16, 32] } }";

/** A sweep over `grid` whose trials read `data` variants named by `dataPartition` and `dataOut`. */
function variantWs(opts: { grid?: string; dataPartition: string; dataOut: string; trialDep: string; dataParams?: string; extraAxes?: string[] }): Files {
  return {
    ...RULES,
    "pipeline.yaml": ["version: 1", "include: [targets/sweeps.yaml]"],
    "targets/sweeps.yaml": [
      "axes:",
      `  ${opts.grid ?? GRID}`,
      ...(opts.extraAxes ?? []).map((l) => `  ${l}`),
      "targets:",
      "  data:",
      `    partition: ${opts.dataPartition}`,
      `    outputs: { data: "${opts.dataOut}" }`,
      "    rule: rules/b.ts",
      `    params: ${opts.dataParams ?? '{ horizon: "{trial.horizon}" }'}`,
      "  sweep:",
      "    partition: [trial]",
      '    outputs: { model: "out/sweeps/{trial}/" }',
      `    deps: { training: "${opts.trialDep}" }`,
      "    rule: rules/a.ts",
      '    params: { units: "{trial.units}", horizon: "{trial.horizon}", seq_len: "{trial.seq_len}" }',
    ],
  };
}

const byTarget = (g: Awaited<ReturnType<typeof loadOk>>, t: string) => [...g.actions.values()].filter((a) => a.target === t);

test("a projection partitions a target by the distinct values of one sweep key; each trial's dep names its variant", async () => {
  const g = await loadOk(variantWs({ dataPartition: "[trial.horizon]", dataOut: "out/data/h{trial.horizon}/", trialDep: "out/data/h{trial.horizon}/" }));
  const data = byTarget(g, "data");
  assert.equal(data.map((a) => a.id), ["data[trial.horizon=30]", "data[trial.horizon=60]"]);
  assert.equal(data.map((a) => a.params), [{ horizon: 30 }, { horizon: 60 }], "the value keeps its JSON type");
  assert.equal(data.map((a) => a.outputs.data!.path), ["out/data/h30", "out/data/h60"]);
  const trials = byTarget(g, "sweep");
  assert.is(trials.length, 12);
  for (const t of trials) {
    const h = t.params.horizon as number;
    assert.equal(t.deps.training, [{ kind: "output", path: `out/data/h${h}`, producer: `data[trial.horizon=${h}]` }], t.id);
  }
});

test("two projections give their product; seq_lengths can be templated on the window length", async () => {
  const g = await loadOk(
    variantWs({
      dataPartition: "[trial.horizon, trial.seq_len]",
      dataOut: "out/data/h{trial.horizon}_seq{trial.seq_len}/",
      dataParams: '{ horizon: "{trial.horizon}", seq_lengths: ["{trial.seq_len}"] }',
      trialDep: "out/data/h{trial.horizon}_seq{trial.seq_len}/",
    }),
  );
  const data = byTarget(g, "data");
  assert.equal(data.map((a) => a.id), [
    "data[trial.horizon=30,trial.seq_len=16]",
    "data[trial.horizon=30,trial.seq_len=32]",
    "data[trial.horizon=60,trial.seq_len=16]",
    "data[trial.horizon=60,trial.seq_len=32]",
  ]);
  assert.equal(data[1]!.params, { horizon: 30, seq_lengths: [32] });
  const producers = new Set(byTarget(g, "sweep").map((t) => (t.deps.training![0] as { producer: string }).producer));
  assert.is(producers.size, 4, "every variant is read by some trial");
  const t = g.actions.get("sweep[trial=horizon-60_seq_len-16_units-32]")!;
  assert.equal(t.deps.training, [{ kind: "output", path: "out/data/h60_seq16", producer: "data[trial.horizon=60,trial.seq_len=16]" }]);
});

test("a grown grid keeps the old variants' ids and adds one per new value", async () => {
  const ws = (grid: string) => variantWs({ grid, dataPartition: "[trial.horizon]", dataOut: "out/data/h{trial.horizon}/", trialDep: "out/data/h{trial.horizon}/" });
  const ids = async (grid: string) => byTarget(await loadOk(ws(grid)), "data").map((a) => a.id);
  assert.equal(await ids("trial: { grid: { units: [8, 16, 32, 64], horizon: [30, 60], seq_len: [16] } }"), ["data[trial.horizon=30]", "data[trial.horizon=60]"]);
  assert.equal(await ids("trial: { grid: { units: [8], horizon: [60, 30, 90], seq_len: [16] } }"), ["data[trial.horizon=60]", "data[trial.horizon=30]", "data[trial.horizon=90]"]);
});

test("a trial whose horizon has no producer is a located missing-source error naming the dep and the path", async () => {
  const d = await loadErr(
    variantWs({
      extraAxes: ["horizons: [30, 60]"],
      grid: "trial: { grid: { units: [8, 16], horizon: [30, 60, 90], seq_len: [16] } }",
      dataPartition: "[horizons]",
      dataOut: "out/data/h{horizons}/",
      dataParams: '{ horizon: "{horizons}" }',
      trialDep: "out/data/h{trial.horizon}/",
    }),
  );
  assert.equal(d.map(short), ["targets/sweeps.yaml:13:23 missing-source"]);
  assert.match(d[0]!.message, /`out\/data\/h90` \(dep `training` of `sweep\[trial=horizon-90_seq_len-16_units-8\]`\) is no target's output and does not exist \(and 1 more like it\)/);
});

test("an unbuilt variant is not read from a directory an earlier build left: a located error naming the value", async () => {
  const files = variantWs({
    extraAxes: ["horizons: [30, 60]"],
    grid: "trial: { grid: { units: [8, 16], horizon: [30, 60, 90], seq_len: [16] } }",
    dataPartition: "[horizons]",
    dataOut: "out/data/h{horizons}/",
    dataParams: '{ horizon: "{horizons}" }',
    trialDep: "out/data/h{trial.horizon}/",
  });
  const root = workspace(files);
  mkdirSync(join(root, "out/data/h90"), { recursive: true });
  writeFileSync(join(root, "out/data/h90/features.json"), "{}");
  const r = await loadGraph(root);
  assert.is(r.ok, false);
  const d = r.ok ? [] : r.diagnostics;
  assert.equal(d.map(short), ["targets/sweeps.yaml:13:23 missing-source"]);
  assert.match(d[0]!.message, /dep `training` of `sweep\[trial=horizon-90_seq_len-16_units-8\]` \(`\{trial.horizon\}` = 90\) names `out\/data\/h90`, which no target produces/);
  assert.match(d[0]!.message, /outputs \(of `data`\).*\(and 1 more trials\)/);
});

test("bad projections are located errors", async () => {
  const base = { dataOut: "out/data/h{trial.horizon}/", trialDep: "out/data/h{trial.horizon}/" };
  const cases: [string, RegExp][] = [
    ["[trial.horizn]", /sweep axis `trial` has no param `horizn` \(params: horizon, seq_len, units\)/],
    ["[plain.x]", /`plain` is a list axis; only a sweep axis has keys to project on/],
    ["[nope.horizon]", /unknown axis `nope.horizon` in partition of `data`/],
    ["[trial, trial.horizon]", /has both `trial` and its projection `trial.horizon`: keep one/],
  ];
  for (const [partition, re] of cases) {
    const d = await loadErr(variantWs({ ...base, dataPartition: partition, extraAxes: ["plain: [a, b]"] }));
    assert.ok(d.some((x) => re.test(x.message) && short(x).startsWith("targets/sweeps.yaml:") && x.kind === "unknown-axis"), `${partition}: ${d.map((x) => `${short(x)} ${x.message}`).join("\n")}`);
  }
});

test("{trial.KEY} of another key in a projected target is refused (not in its partition)", async () => {
  const d = await loadErr(variantWs({ dataPartition: "[trial.horizon]", dataOut: "out/data/h{trial.horizon}_u{trial.units}/", trialDep: "out/data/h{trial.horizon}/" }));
  assert.ok(d.some((x) => /axis `trial` is not in this target's partition \[trial.horizon\]/.test(x.message)), d.map((x) => x.message).join("\n"));
});

/** Each trial's training dep: a data action of the trial's own horizon, whose lengths include its window. */
function readersOf(graph: Graph, trials: readonly ActionNode[]): Map<string, string[]> {
  const readers = new Map<string, string[]>();
  for (const t of trials) {
    const [dep] = t.deps.training!;
    assert.is(dep!.kind, "output", t.id);
    const producer = graph.actions.get((dep as { producer: string }).producer)!;
    const lengths = [producer.params.seq_lengths].flat();
    assert.is(producer.params.horizon, t.params.horizon, `${t.id} reads the data of its own horizon`);
    assert.ok(lengths.includes(t.params.seq_len), `${t.id}: window ${t.params.seq_len} among ${JSON.stringify(lengths)}`);
    readers.set(producer.id, [...(readers.get(producer.id) ?? []), t.id]);
  }
  return readers;
}

test("targets/sweeps.yaml: the LSTM grid is 12 trials over units x horizon, 2 data variants each read by 6; the GRU search reads one variant per drawn (horizon, window)", async () => {
  const r = await loadGraph(REPO);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${short(d)} ${d.message}`).join("\n"));
  const lstm = byTarget(r.graph, "sweep_lstm");
  assert.is(lstm.length, 12);
  assert.is(byTarget(r.graph, "sweep_lstm_data").length, 2);
  assert.equal([...readersOf(r.graph, lstm).values()].map((x) => x.length), [6, 6]);
  assert.equal(new Set(lstm.map((t) => t.params.lr)).size, 1, "lr is fixed");
  const gru = byTarget(r.graph, "sweep_gru");
  assert.is(gru.length, 8);
  const pairs = new Set(gru.map((t) => `${t.params.horizon}/${t.params.seq_len}`));
  // Two projections give the product of their values (2 x 2); a build of the search makes only
  // the variants its trials read: one per distinct (horizon, window length) drawn.
  assert.is(byTarget(r.graph, "sweep_gru_data").length, 4);
  assert.is(readersOf(r.graph, gru).size, pairs.size, "one variant read per distinct (horizon, window length)");
  for (const k of ["units", "layers", "dropout", "lr", "seq_len", "horizon"]) assert.ok(new Set(gru.map((t) => JSON.stringify(t.params[k]))).size > 1, `the GRU search varies ${k}`);
  assert.ok(gru.every((t) => t.siblings !== undefined), "GRU trials see their siblings (pruning)");
});

test.run();

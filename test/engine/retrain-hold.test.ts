/**
 * The retraining-cadence decision (src/engine/retrain-hold.ts): the pure parts (refreshes
 * counted after a record's build time, materials that differ in their inputs only, the
 * cadence verdict) and the Checker's decision on a real workspace, one condition at a time:
 * held only for an input change, with intact outputs, not forced, after 1..N-1 refreshed weeks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadGraph } from "../../src/engine/graph.js";
import { Checker, dirAware, type OutputLookup } from "../../src/engine/plan.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";
import { ActionCache } from "../../src/engine/cache/action-cache.js";
import { Cas } from "../../src/engine/cache/cas.js";
import { workspacePaths } from "../../src/engine/workspace.js";
import { select } from "../../src/engine/select.js";
import { runBuild } from "../../src/engine/scheduler.js";
import { MemorySink } from "../../src/engine/events.js";
import { KEY_SCHEMA_VERSION, type KeyMaterial } from "../../src/engine/fingerprint.js";
import { addedSince, cadenceHold, formatHold, onlyInputsDiffer, type RefreshMark } from "../../src/engine/retrain-hold.js";
import { makeWs, read, runsOf, write } from "../helpers/rig.js";

const BUILT = "2025-06-01T10:00:00.000Z";
const later = (h: number, weeks = 1): RefreshMark => ({ at: new Date(Date.parse(BUILT) + h * 3_600_000).toISOString(), weeks });

const base: KeyMaterial = {
  v: KEY_SCHEMA_VERSION,
  rule: { kind: "module", module: "rules/m.ts", hash: "r1" },
  params: { seed: 7, units: 8 },
  tools: { xgboost: "1.7.4" },
  inputs: { training: [["output/ml_training", "d1"]] },
  outputs: { model: "output/ml_models/lstm/" },
};

test("addedSince counts only the refreshes strictly after the build time, by their weeks", () => {
  assert.equal(addedSince([], BUILT), { refreshes: 0, weeks: 0 });
  assert.equal(addedSince([later(-1), { at: BUILT, weeks: 1 }], BUILT), { refreshes: 0, weeks: 0 }, "before or at the build: already in it");
  assert.equal(addedSince([later(-1), later(1), later(2, 2)], BUILT), { refreshes: 2, weeks: 3 });
  assert.equal(addedSince([{ at: "not a time", weeks: 1 }, later(1, 0)], BUILT), { refreshes: 0, weeks: 0 }, "unreadable entries explain nothing");
  assert.equal(addedSince([later(1)], "garbage"), { refreshes: 0, weeks: 0 });
});

test("onlyInputsDiffer: input digests and paths may differ; rule, params, tools, outputs and input names may not", () => {
  assert.ok(onlyInputsDiffer(base, base));
  assert.ok(onlyInputsDiffer(base, { ...base, inputs: { training: [["output/ml_training", "d2"]] } }));
  assert.ok(onlyInputsDiffer(base, { ...base, inputs: { training: [["output/corpus_2025-05-12_2025-06-09.txt", "d2"]] } }), "a span path moved");
  assert.not.ok(onlyInputsDiffer(base, { ...base, params: { seed: 8, units: 8 } }));
  assert.not.ok(onlyInputsDiffer(base, { ...base, rule: { ...base.rule, hash: "r2" } }));
  assert.not.ok(onlyInputsDiffer(base, { ...base, tools: { xgboost: "2.0.0" } }));
  assert.not.ok(onlyInputsDiffer(base, { ...base, outputs: { model: "output/ml_models/gru/" } }));
  assert.not.ok(onlyInputsDiffer(base, { ...base, inputs: { data: [["output/ml_training", "d1"]] } }));
  assert.not.ok(onlyInputsDiffer(base, { ...base, v: KEY_SCHEMA_VERSION + 1 }));
});

test("cadenceHold: held after 1..N-1 refreshed weeks, never without a refresh or a cadence", () => {
  const old = { material: base, built_at: BUILT };
  const cur = { ...base, inputs: { training: [["output/ml_training", "d2"]] as const } } as KeyMaterial;
  assert.equal(cadenceHold(4, old, cur, [later(1)]), { every: 4, weeksAdded: 1, refreshes: 1, builtAt: BUILT });
  assert.equal(cadenceHold(4, old, cur, [later(1), later(2, 2)])?.weeksAdded, 3);
  assert.is(cadenceHold(4, old, cur, [later(1), later(2, 3)]), undefined, "the 4th week: retrain");
  assert.is(cadenceHold(4, old, cur, []), undefined, "no refresh explains the change");
  assert.is(cadenceHold(4, old, cur, [later(-2)]), undefined, "a refresh before the build");
  assert.is(cadenceHold(undefined, old, cur, [later(1)]), undefined);
  assert.is(cadenceHold(4, old, { ...cur, params: { seed: 8 } }, [later(1)]), undefined);
  assert.is(formatHold({ kind: "input-changed", path: "output/ml_training/" }, { every: 4, weeksAdded: 2, refreshes: 1, builtAt: BUILT }), "input-changed output/ml_training/; retrain due in 2 weeks");
  assert.is(formatHold({ kind: "input-changed", path: "x" }, { every: 4, weeksAdded: 3, refreshes: 3, builtAt: BUILT }), "input-changed x; retrain due in 1 week");
});

const PIPELINE = `version: 1
targets:
  features:
    outputs: { f: out/features.txt }
    deps: { d: data.txt }
    rule: rules/fake.ts
    params: { horizon: 60 }
  model:
    outputs: { m: out/model.txt }
    deps: { d: out/features.txt }
    rule: rules/fake.ts
    params: { units: 8 }
    retrain_every: 2w
  scores:
    outputs: { s: out/scores.txt }
    deps: { m: out/model.txt, d: out/features.txt }
    rule: rules/fake.ts
`;

async function open(ws: string, history: readonly RefreshMark[], forced: readonly string[] = []) {
  const loaded = await loadGraph(ws);
  if (!loaded.ok) throw new Error(loaded.diagnostics.map((d) => d.message).join("; "));
  const graph = loaded.graph;
  const paths = workspacePaths(graph.root);
  const checker = new Checker(graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas), new Set(forced));
  checker.refreshHistory = () => history;
  const lookup: OutputLookup = dirAware(graph, (p) => {
    const producer = graph.producers.get(p);
    return producer ? checker.recordedOutput(producer, p) : undefined;
  });
  const decide = (id: string) => checker.decide(graph.actions.get(id)!, lookup);
  const build = (targets: readonly string[] = []) => {
    const sel = select(graph, targets);
    if (!sel.ok) throw new Error("select");
    return runBuild(checker, sel.ids, paths, new MemorySink(), { jobs: 1, keepGoing: false, signal: new AbortController().signal });
  };
  return { checker, decide, build };
}

const soon = (weeks = 1): RefreshMark => ({ at: new Date(Date.now() + 60_000).toISOString(), weeks });

test("the Checker holds an input-changed model after a refresh; the scheduler scores with the recorded model", async () => {
  const ws = makeWs(PIPELINE, { files: { "data.txt": "week 1\n" } });
  assert.ok((await (await open(ws, [])).build()).ok);
  runsOf(ws);
  const model1 = read(ws, "out/model.txt");
  write(ws, "data.txt", "week 1\nweek 2\n");
  // The upstream reruns on the new week first (same rule and params): the model's input changed.
  assert.ok((await (await open(ws, [])).build(["features"])).ok);

  assert.is((await open(ws, [])).decide("model").status, "stale", "no refresh: rebuilds");
  assert.is((await open(ws, [soon(2)])).decide("model").status, "stale", "2 weeks of a 2w cadence: rebuilds");
  const f = (await open(ws, [soon()], ["model"])).decide("model");
  assert.equal([f.status, f.status === "stale" && f.reason.kind], ["stale", "forced"]);
  const s = await open(ws, [soon()]);
  const d = s.decide("model");
  assert.is(d.status, "held");
  if (d.status !== "held") return;
  assert.equal([d.reason.kind, d.key, d.hold.weeksAdded, d.hold.every], ["input-changed", s.checker.state.actions.get("model")!.k, 1, 2]);

  const summary = await s.build();
  assert.equal([summary.ok, summary.held, summary.built], [true, ["model"], ["scores"]]);
  assert.equal([...runsOf(ws).keys()].sort(), ["features", "scores"]);
  assert.is(read(ws, "out/model.txt"), model1);
  assert.ok(read(ws, "out/scores.txt").includes(model1) && read(ws, "out/scores.txt").includes("week 2"));
  assert.is((await open(ws, [soon()])).decide("model").status, "held", "its state line was not rewritten: still held");

  // A hold needs the recorded outputs intact, and nothing but inputs changed.
  write(ws, "out/model.txt", "edited\n");
  assert.is((await open(ws, [soon()])).decide("model").status, "stale", "an edited output is not held");
  write(ws, "out/model.txt", model1);
  assert.is((await open(ws, [soon()])).decide("model").status, "held");
  write(ws, "pipeline.yaml", PIPELINE.replace("units: 8", "units: 9"));
  const p = (await open(ws, [soon()])).decide("model");
  assert.equal([p.status, p.status === "stale" && p.reason.kind], ["stale", "param-changed"]);
  // An upstream whose params changed (a new label horizon) is no refresh's doing: the model
  // retrains even within the cadence, in the plan (the features will rerun) as in the build.
  write(ws, "pipeline.yaml", PIPELINE.replace("horizon: 60", "horizon: 30"));
  const u = await open(ws, [soon()]);
  assert.is(u.decide("model").status !== "held", true, "an upstream param change is not held");
  const built = await u.build();
  assert.equal([built.ok, built.held, built.built], [true, [], ["features", "model", "scores"]]);
});

test("a model reading a source file that changed is not held: a refresh explains only its upstream's reruns", async () => {
  const direct = PIPELINE.replace("deps: { d: out/features.txt }\n    rule: rules/fake.ts\n    params: { units: 8 }", "deps: { d: data.txt }\n    rule: rules/fake.ts\n    params: { units: 8 }");
  assert.ok(direct !== PIPELINE);
  const ws = makeWs(direct, { files: { "data.txt": "week 1\n" } });
  assert.ok((await (await open(ws, [])).build()).ok);
  write(ws, "data.txt", "week 1\nweek 2\n");
  assert.is((await open(ws, [soon()])).decide("model").status, "stale");
});

test.run();

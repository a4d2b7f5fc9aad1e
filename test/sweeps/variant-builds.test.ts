/**
 * Sweeps over data params through the engine (issue 13): the training-data target partitioned
 * by `trial.horizon` runs once per distinct horizon and every trial with that horizon shares
 * it; a second build runs nothing; two more grid points run exactly two trials, and one data
 * build when (and only when) they bring a new horizon; a failed trial reruns alone; a trial
 * whose horizon has no producer stops the load with a located error.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, makeWs, ranIds, read, write } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";

/** Fake feature builder: appends its id to runs.log, writes features.json with its horizon. */
const FAKE_DATA = `// dagbuild sweep test: fake training data
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
export default {
  describe: "test fake: training data of one horizon",
  async run(ctx) {
    appendFileSync(join(ctx.root, "runs.log"), ctx.target + "[" + Object.entries(ctx.partition).map(([k, v]) => k + "=" + v).join(",") + "]\\n");
    writeFileSync(join(ctx.outputs.data, "features.json"), JSON.stringify({ params: { horizon: ctx.params.horizon } }));
  },
};
`;

/** Fake trial: appends its id, fails on <ws>/fail/<trial>, and refuses data of another horizon (the rule-side contract). */
const FAKE_TRIAL = `// dagbuild sweep test: fake trial reading its data variant
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
export default {
  describe: "test fake: a trial of one horizon",
  async run(ctx) {
    const trial = ctx.partition.trial;
    appendFileSync(join(ctx.root, "runs.log"), ctx.target + "[trial=" + trial + "]\\n");
    if (existsSync(join(ctx.root, "fail", trial))) throw new Error("fake failure of " + trial);
    const data = JSON.parse(readFileSync(join(ctx.inputs.training[0], "features.json"), "utf8"));
    if (data.params.horizon !== ctx.params.horizon) throw new Error("horizon " + ctx.params.horizon + " but the data has " + data.params.horizon);
    writeFileSync(join(ctx.outputs.model, "metrics.json"), JSON.stringify({ units: ctx.params.units, horizon: data.params.horizon }));
  },
};
`;

/** The pipeline: a units x horizon grid, its data partitioned by the horizon projection. */
function pipeline(units: readonly number[], horizons: readonly number[], dataPartition = "[trial.horizon]", dataOut = "out/data/h{trial.horizon}/"): string {
  return [
    "version: 1",
    "default: [ledger]",
    "axes:",
    `  trial: { grid: { units: [${units.join(", ")}], horizon: [${horizons.join(", ")}] } }`,
    "  horizons: [30, 60]",
    "targets:",
    "  data:",
    `    partition: ${dataPartition}`,
    `    outputs: { data: "${dataOut}" }`,
    "    rule: rules/fakedata.ts",
    `    params: { horizon: "${dataPartition === "[horizons]" ? "{horizons}" : "{trial.horizon}"}" }`,
    "  sweep:",
    "    partition: [trial]",
    '    outputs: { model: "out/sweeps/{trial}/" }',
    '    deps: { training: "out/data/h{trial.horizon}/" }',
    "    rule: rules/faketrial.ts",
    '    params: { units: "{trial.units}", horizon: "{trial.horizon}", lr: 0.001 }',
    "  ledger:",
    "    outputs: [out/ledger.txt]",
    '    deps: { trials: "out/sweeps/{trial}/" }',
    '    run: "for d in {deps}; do echo $(basename $d); done > {out}"',
    "",
  ].join("\n");
}

function variantWs(units: readonly number[], horizons: readonly number[]): string {
  const ws = makeWs(pipeline(units, horizons), { fake: false });
  writeModule(ws, "rules/fakedata.ts", FAKE_DATA);
  writeModule(ws, "rules/faketrial.ts", FAKE_TRIAL);
  return ws;
}

const trial = (units: number, horizon: number) => `sweep[trial=horizon-${horizon}_units-${units}]`;
const data = (horizon: number) => `data[trial.horizon=${horizon}]`;
const grid = (units: readonly number[], horizons: readonly number[]) => horizons.flatMap((h) => units.map((u) => trial(u, h)));
/** Executed action ids of one target. */
const of = (ids: readonly string[], target: string) => ids.filter((id) => id.startsWith(`${target}[`) || id === target);

test("12 trials over 2 horizons: each data variant built once and shared; a second build runs nothing; 2 points of an old horizon run 2 trials and no data", () => {
  const units = [1, 2, 3, 4, 5, 6];
  const ws = variantWs(units, [30, 60]);
  const first = buildOk(ws, ["-j", "2"]);
  assert.equal(of(first.executed, "data"), [data(30), data(60)], "one data build per distinct horizon");
  assert.equal(of(first.executed, "sweep"), grid(units, [30, 60]).sort());
  assert.equal(ranIds(ws), [data(30), data(60), ...grid(units, [30, 60])].sort(), "each ran once (runs.log)");
  for (const u of units) for (const h of [30, 60]) assert.equal(JSON.parse(read(ws, `out/sweeps/horizon-${h}_units-${u}/metrics.json`)), { units: u, horizon: h }, "each trial read its own horizon's data");
  assert.is(read(ws, "out/ledger.txt").trim().split("\n").length, 12);

  assert.equal(buildOk(ws, ["-j", "2"]).executed, [], "nothing runs the second time");
  assert.equal(ranIds(ws), []);

  write(ws, "pipeline.yaml", pipeline([...units, 7], [30, 60]));
  const grown = buildOk(ws, ["-j", "2"]);
  assert.equal(grown.executed, ["ledger", trial(7, 30), trial(7, 60)].sort(), "2 new trials, no new data variant");
  assert.equal(ranIds(ws), [trial(7, 30), trial(7, 60)].sort());
});

test("2 points of a new horizon: exactly 2 trials and exactly one data build", () => {
  const horizons = [15, 30, 60, 90, 240, 360];
  const ws = variantWs([1, 2], horizons);
  const first = buildOk(ws, ["-j", "2"]);
  assert.equal(of(first.executed, "data").length, 6);
  assert.equal(of(first.executed, "sweep").length, 12);
  ranIds(ws);

  write(ws, "pipeline.yaml", pipeline([1, 2], [...horizons, 5]));
  const grown = buildOk(ws, ["-j", "2"]);
  assert.equal(grown.executed, [data(5), "ledger", trial(1, 5), trial(2, 5)].sort());
  assert.equal(ranIds(ws), [data(5), trial(1, 5), trial(2, 5)].sort());
});

test("a failed trial leaves the others and the data in place and reruns alone", () => {
  const ws = variantWs([1, 2, 3, 4, 5, 6], [30, 60]);
  mkdirSync(join(ws, "fail"), { recursive: true });
  writeFileSync(join(ws, "fail", "horizon-60_units-3"), "");
  const r = build(ws, ["-j", "2", "--keep-going"]);
  assert.is.not(r.code, 0);
  assert.equal(r.failed, [trial(3, 60)]);
  assert.equal(r.skipped, ["ledger"]);
  ranIds(ws);
  rmSync(join(ws, "fail"), { recursive: true });
  const again = buildOk(ws, ["-j", "2"]);
  assert.equal(again.executed, ["ledger", trial(3, 60)].sort(), "neither data variant reruns");
  assert.equal(ranIds(ws), [trial(3, 60)]);
});

test("a trial whose horizon no data partition covers stops the build at load, located at the dep", () => {
  const ws = variantWs([1, 2], [30, 60]);
  write(ws, "pipeline.yaml", pipeline([1, 2], [30, 60, 90], "[horizons]", "out/data/h{horizons}/"));
  const r = build(ws, []);
  assert.is.not(r.code, 0);
  assert.match(r.stderr + r.stdout, /pipeline\.yaml:15:\d+: .*`out\/data\/h90` \(dep `training` of `sweep\[trial=horizon-90_units-1\]`\) is no target's output and does not exist/);
  assert.equal(ranIds(ws), [], "nothing ran");
});

test.run();

/** Sweep axes at load time: grid and seeded random expansion, stable ids, typed params, located errors. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadErr, loadOk, RULES, short, type Files } from "../fixtures/pipelines/rig.js";
import { trialId } from "../../src/engine/sweeps.js";

/** A pipeline with `axis` declared in an include file and one target partitioned by it. */
function sweepWs(axis: readonly string[], params = '{ units: "{trial.units}", lr: "{trial.lr}", tag: "u{trial.units}-{trial}" }'): Files {
  return {
    ...RULES,
    "pipeline.yaml": ["version: 1", "include: [targets/sweeps.yaml]"],
    "targets/sweeps.yaml": [
      "axes:",
      ...axis.map((l) => `  ${l}`),
      "targets:",
      "  sweep:",
      "    partition: [trial]",
      '    outputs: ["out/{trial}.txt"]',
      "    rule: rules/a.ts",
      `    params: ${params}`,
    ],
  };
}

const trials = async (files: Files) => {
  const g = await loadOk(files);
  return [...g.actions.values()].filter((a) => a.target === "sweep").map((a) => ({ trial: a.partition.trial!, params: a.params }));
};

test("a grid expands to every combination; ids come from the values, keys sorted", async () => {
  const t = await trials(sweepWs(["trial: { grid: { units: [8, 16], lr: [0.001, 0.003] } }"]));
  assert.equal(t.map((x) => x.trial), ["lr-0.001_units-8", "lr-0.001_units-16", "lr-0.003_units-8", "lr-0.003_units-16"]);
  // Whole-value templates keep their JSON type; embedded ones are text.
  assert.equal(t[1]!.params, { units: 16, lr: 0.001, tag: "u16-lr-0.001_units-16" });
  assert.is(typeof t[0]!.params.units, "number");
});

test("ids are stable: reordering keys or values, or growing the grid, keeps every old id", async () => {
  const a = await trials(sweepWs(["trial: { grid: { units: [8, 16], lr: [0.001, 0.003] } }"]));
  const b = await trials(sweepWs(["trial: { grid: { lr: [0.003, 0.001], units: [16, 8] } }"]));
  const grown = await trials(sweepWs(["trial: { grid: { units: [8, 16, 32], lr: [0.001, 0.003] } }"]));
  const ids = (x: typeof a) => x.map((t) => t.trial).sort();
  assert.equal(ids(b), ids(a));
  const old = new Set(ids(a));
  assert.equal(ids(grown).filter((id) => !old.has(id)), ["lr-0.001_units-32", "lr-0.003_units-32"]);
  // The same values give the same params whatever the grid around them.
  const p = (x: typeof a, id: string) => x.find((t) => t.trial === id)!.params;
  assert.equal(p(grown, "lr-0.003_units-8"), p(a, "lr-0.003_units-8"));
});

test("strings and booleans sweep too; an unprintable value gets a hashed id", async () => {
  const t = await trials(
    sweepWs(["trial: { grid: { units: [4], lr: [0.01], pool: [last, mean], odd: ['a b', 'c'] } }"], '{ pool: "{trial.pool}", odd: "{trial.odd}" }'),
  );
  assert.is(t.length, 4);
  const hashed = t.filter((x) => x.trial.startsWith("t-"));
  assert.is(hashed.length, 2, "the two trials with 'a b' (a space) are hashed");
  for (const h of hashed) assert.match(h.trial, /^t-[0-9a-f]{12}$/);
  assert.is(new Set(t.map((x) => x.trial)).size, 4);
  assert.ok(t.some((x) => x.trial === "lr-0.01_odd-c_pool-last_units-4"));
  assert.equal(trialId({ pool: "mean", units: 4 }), "pool-mean_units-4");
});

test("a seeded random search is reproducible, and raising n keeps the first trials", async () => {
  const space = "space: { units: [4, 8, 16, 32], lr: { log_uniform: [0.0001, 0.01] }, layers: { int: [1, 2] } }";
  const a = await trials(sweepWs([`trial: { random: { n: 5, seed: 1, ${space} } }`], '{ units: "{trial.units}", lr: "{trial.lr}", layers: "{trial.layers}" }'));
  const again = await trials(sweepWs([`trial: { random: { n: 5, seed: 1, ${space} } }`], '{ units: "{trial.units}", lr: "{trial.lr}", layers: "{trial.layers}" }'));
  const more = await trials(sweepWs([`trial: { random: { n: 8, seed: 1, ${space} } }`], '{ units: "{trial.units}", lr: "{trial.lr}", layers: "{trial.layers}" }'));
  const other = await trials(sweepWs([`trial: { random: { n: 5, seed: 2, ${space} } }`], '{ units: "{trial.units}", lr: "{trial.lr}", layers: "{trial.layers}" }'));
  assert.equal(again, a);
  assert.equal(more.slice(0, 5), a);
  assert.is(more.length, 8);
  assert.not.equal(other.map((t) => t.trial), a.map((t) => t.trial));
  for (const t of more) {
    const p = t.params as { units: number; lr: number; layers: number };
    assert.ok([4, 8, 16, 32].includes(p.units));
    assert.ok(p.lr >= 0.0001 && p.lr <= 0.01 && Number(p.lr.toPrecision(4)) === p.lr, `lr ${p.lr} in range, 4 significant digits`);
    assert.ok(p.layers === 1 || p.layers === 2);
    assert.is(t.trial, trialId(p), "the id is the values' id");
  }
});

test("bad sweep specs are located errors, all reported at once", async () => {
  const d = await loadErr(
    sweepWs([
      "trial: { grid: { units: [8, 8], start: [1], lr: [0.1] } }", // line 2
      "other: { random: { n: 9, seed: 1, space: { k: [1, 2], x: { log_uniform: [0, 1] } } } }", // line 3
    ]),
  );
  const msgs = d.map((x) => `${short(x)} ${x.message}`);
  assert.ok(msgs.some((m) => /^targets\/sweeps\.yaml:2:\d+ schema .*grid `units` lists 8 twice/.test(m)), msgs.join("\n"));
  assert.ok(msgs.some((m) => /^targets\/sweeps\.yaml:2:\d+ schema .*key `start` is reserved/.test(m)), msgs.join("\n"));
  assert.ok(msgs.some((m) => /^targets\/sweeps\.yaml:3:\d+ schema .*log_uniform: lo must be > 0/.test(m)), msgs.join("\n"));
});

test("a random space smaller than n, and a sweep with grid and random, are refused", async () => {
  const d = await loadErr(sweepWs(["trial: { random: { n: 5, seed: 1, space: { units: [4, 8], lr: [0.1] } } }"]));
  assert.ok(d.some((x) => /only 2 distinct trials, fewer than random.n = 5/.test(x.message) && short(x).startsWith("targets/sweeps.yaml:2:")), d.map((x) => x.message).join("\n"));
  const both = await loadErr(sweepWs(["trial: { grid: { units: [4] }, random: { n: 1, seed: 1, space: { units: [4] } } }"]));
  assert.ok(both.length >= 1 && both.every((x) => short(x).startsWith("targets/sweeps.yaml:2:")), both.map(short).join("\n"));
});

test("a template naming a param the sweep lacks is an unknown-variable error at the param", async () => {
  const d = await loadErr(sweepWs(["trial: { grid: { units: [8], lr: [0.1] } }"], '{ units: "{trial.unitz}" }'));
  assert.equal(d.map(short), ["targets/sweeps.yaml:8:22 unknown-variable"]);
  assert.match(d[0]!.message, /sweep axis `trial` has no param `unitz` \(params: lr, units\)/);
});

test("an axis declared in two files is an error naming both", async () => {
  const files = sweepWs(["trial: { grid: { units: [8], lr: [0.1] } }"]);
  files["pipeline.yaml"] = ["version: 1", "include: [targets/sweeps.yaml]", "axes:", "  trial: [a, b]"];
  const d = await loadErr(files);
  assert.equal(d.map(short), ["targets/sweeps.yaml:2:3 schema"]);
  assert.match(d[0]!.message, /axis `trial` is declared twice/);
  assert.is(d[0]!.notes?.[0]?.loc?.file, "pipeline.yaml");
});

test.run();

/**
 * Pruning of sweep trials (issue 13) with a fast fake model: `siblings:` hands a trial its
 * finished siblings' outputs outside its key; a trial below their median after k epochs stops
 * and calls ctx.notFinal, so its record is provisional: it reruns on every build (and only
 * it), is never restored, and a trial that was not pruned is final and never reruns.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { buildOk, cli, dryRun, exists, ranIds, write } from "../helpers/rig.js";
import { pruneAction, pruneWorkspace, trialOf } from "./prune-helpers.js";
import { buildLedger } from "../../src/ml/sweeps/ledger.js";

const PRUNE = { after: 1, min: 2 };
const all = (n: number) => Array.from({ length: n }, (_, i) => pruneAction(i + 1)).sort();
const seen = (ws: string) => readFileSync(join(ws, "seen.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; siblings: boolean; saw: string[] });
const stateKey = (ws: string, id: string): string => {
  let k = "";
  for (const line of readFileSync(join(ws, "cache/state.v1.jsonl"), "utf8").split("\n").slice(1))
    if (line && JSON.parse(line).a === id) k = JSON.parse(line).k;
  return k;
};
const status = (ws: string, u: number) => (exists(ws, `out/sweeps/${trialOf(u)}/status.json`) ? JSON.parse(readFileSync(join(ws, `out/sweeps/${trialOf(u)}/status.json`), "utf8")).status : "ok");
const trialDirs = (ws: string) => readdirSync(join(ws, "out/sweeps")).sort().map((t) => join(ws, "out/sweeps", t));

test("-j1, later trials worse: the first min_finished finish, the later ones are pruned and provisional", () => {
  const ws = pruneWorkspace({ units: 6, prune: PRUNE });
  const first = buildOk(ws, ["-j", "1"]);
  assert.equal(ranIds(ws), all(6));
  assert.equal([1, 2, 3, 4, 5, 6].map((u) => status(ws, u)), ["ok", "ok", "pruned", "pruned", "pruned", "pruned"]);
  // Each trial saw exactly the siblings that had finished (final) when it started.
  const saw = new Map(seen(ws).map((s) => [s.id, s.saw]));
  assert.equal(saw.get(pruneAction(1)), []);
  assert.equal(saw.get(pruneAction(2)), [pruneAction(1)]);
  for (const u of [3, 4, 5, 6]) assert.equal(saw.get(pruneAction(u)), [pruneAction(1), pruneAction(2)], "pruned siblings are not finished");
  assert.ok(first.events.some((e) => e.type === "note" && e.message.startsWith(`${pruneAction(3)}: provisional`)));

  // The dry run and the second build: exactly the 4 pruned trials rerun, as not-final.
  const plan = dryRun(ws, ["-j", "1"]);
  const trials = plan.actions.filter((a) => a.target === "sweep");
  assert.equal(trials.map((a) => a.id).sort(), all(6).slice(2));
  assert.equal(plan.actions.find((a) => a.id === "ledger")?.pending, true, "the ledger runs only if a rerun changes an output");
  for (const a of trials) assert.match(a.reason_text, /^not-final \(pruned: val AUC [\d.]+ < median [\d.]+ of 2 finished at epoch 1\)$/);
  const why = cli(ws, ["explain", pruneAction(3)]);
  assert.match(why.stdout, /not-final \(pruned: .*\n.*its last run said its outcome is provisional/);
  const second = buildOk(ws, ["-j", "1"]);
  assert.equal(ranIds(ws), all(6).slice(2), "only the pruned trials rerun; a finished trial never does");
  assert.equal(second.executed, all(6).slice(2), "pruned again with the same outputs: the ledger is cut off");
  assert.equal(second.restored, [], "a provisional outcome is never restored");

  // The ledger lists them as pruned and never picks one as the best.
  const ledger = buildLedger("fake", trialDirs(ws), null);
  assert.equal([ledger.header.trials_tried, ledger.header.ok, ledger.header.pruned], [6, 2, 4]);
  assert.is(ledger.header.selection.best, trialOf(1));
  const p3 = ledger.trials.find((t) => t.trial === trialOf(3))!;
  assert.equal([p3.status, p3.metrics], ["pruned", { val_auc: 0.871, epochs_run: 1 }]);
});

test("a sibling's output is outside the key: it changes, this trial's key does not; unpruned it is final and never reruns", () => {
  const ws = pruneWorkspace({ units: 6, prune: PRUNE });
  buildOk(ws, ["-j", "1"]);
  ranIds(ws);
  const k3 = stateKey(ws, pruneAction(3));
  const k2 = stateKey(ws, pruneAction(2));
  // Trial 1 gets much worse (its own input): the median trial 3 meets drops below it.
  write(ws, `in/${trialOf(1)}.txt`, "-0.5\n");
  const r = buildOk(ws, ["-j", "1"]);
  assert.equal(ranIds(ws), [pruneAction(1), pruneAction(3), pruneAction(4), pruneAction(5), pruneAction(6)]);
  assert.is(r.starts.get(pruneAction(1))!.reason.kind, "input-changed");
  assert.is(stateKey(ws, pruneAction(3)), k3, "the trial's key is the same whatever its siblings hold");
  assert.is(stateKey(ws, pruneAction(2)), k2);
  assert.equal([1, 2, 3, 4, 5, 6].map((u) => status(ws, u)), ["ok", "ok", "ok", "pruned", "pruned", "pruned"]);
  // Not pruned = the result of a run without pruning, byte for byte.
  const plain = pruneWorkspace({ units: 6 });
  buildOk(plain, ["-j", "1", `sweep[trial=${trialOf(3)}]`]);
  for (const f of ["metrics.json", "config.json", "train_log.jsonl"])
    assert.is(readFileSync(join(ws, `out/sweeps/${trialOf(3)}/${f}`), "utf8"), readFileSync(join(plain, `out/sweeps/${trialOf(3)}/${f}`), "utf8"), f);
  buildOk(ws, ["-j", "1"]);
  assert.equal(ranIds(ws), [pruneAction(4), pruneAction(5), pruneAction(6)], "trial 3 is final now: only the 3 pruned rerun");
});

test("process isolation: ctx.notFinal travels in the exec result file", () => {
  const ws = pruneWorkspace({ units: 4, prune: PRUNE });
  process.env.DAGBUILD_ISOLATION = "process";
  try {
    buildOk(ws, ["-j", "1"]);
  } finally {
    delete process.env.DAGBUILD_ISOLATION;
  }
  ranIds(ws);
  assert.equal(dryRun(ws).actions.filter((a) => a.target === "sweep").map((a) => a.id).sort(), [pruneAction(3), pruneAction(4)]);
});

test("dagbuild metrics shows a pruned trial as pruned", () => {
  const ws = pruneWorkspace({ units: 3, prune: PRUNE });
  buildOk(ws, ["-j", "1"]);
  const r = cli(ws, ["metrics", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const rows = (JSON.parse(r.stdout) as { rows: { id: string; status: string }[] }).rows;
  assert.equal(Object.fromEntries(rows.map((x) => [x.id, x.status])), { [pruneAction(1)]: "ok", [pruneAction(2)]: "ok", [pruneAction(3)]: "pruned" });
});

test("pruning off: no siblings reach the rule, nothing is pruned, the second build runs nothing", () => {
  const ws = pruneWorkspace({ units: 6 });
  buildOk(ws, ["-j", "1"]);
  assert.equal(ranIds(ws), all(6));
  assert.ok(seen(ws).every((s) => !s.siblings));
  assert.equal([1, 2, 3, 4, 5, 6].map((u) => status(ws, u)), ["ok", "ok", "ok", "ok", "ok", "ok"]);
  const again = buildOk(ws, ["-j", "1"]);
  assert.equal(again.executed, []);
  assert.equal(ranIds(ws), []);
});

test("siblings: an axis the target is not partitioned over is refused at load, located", () => {
  const ws = pruneWorkspace({ units: 2, prune: PRUNE });
  write(ws, "pipeline.yaml", readFileSync(join(ws, "pipeline.yaml"), "utf8").replace("siblings: { axis: trial", "siblings: { axis: week"));
  const r = cli(ws, ["-n"]);
  assert.is(r.code, 2);
  assert.match(r.stderr + r.stdout, /pipeline\.yaml:\d+:\d+.*siblings of `sweep`: axis `week` is not one of the target's partition axes \(trial\)/);
});

test.run();

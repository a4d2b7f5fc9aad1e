/**
 * src/ml/sweeps/pruning.ts on hand-made trial directories: which siblings count at epoch k
 * (finished training, epoch k reached, finite AUC), the median, min_finished, the hook, and
 * the settings' checks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { median, pruneBar, pruneSettings, pruningHook, siblingAucAt, TrialPruned } from "../../src/ml/sweeps/pruning.js";
import type { EpochLog } from "../../src/ml/nn/trainer.js";
import { tempRoot } from "../corpus/helpers.js";

const root = tempRoot("prune-unit");
test.after(() => rmSync(root, { recursive: true, force: true }));
const ep = (epoch: number, val_auc: number): EpochLog => ({ epoch, train_loss: 0.6, val_loss: 0.6, val_auc, seconds: 1, samples_per_s: 1 });
/** A trial directory: train_log.jsonl of `aucs`, metrics.json unless `status` (status.json instead). */
function trial(name: string, aucs: (number | null)[], status?: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "train_log.jsonl"), aucs.map((a, i) => JSON.stringify({ epoch: i + 1, val_auc: a })).join("\n") + "\n");
  writeFileSync(join(d, status ? "status.json" : "metrics.json"), status ? JSON.stringify({ format: "dagbuild.trial_status", version: 1, status }) : "{}");
  return d;
}

test("siblingAucAt: only finished trials that reached epoch k with a finite AUC count", () => {
  assert.is(siblingAucAt(trial("a", [0.6, 0.7]), 2), 0.7);
  assert.is(siblingAucAt(trial("b", [0.6]), 2), undefined, "stopped by patience before epoch 2");
  assert.is(siblingAucAt(trial("c", [0.6, 0.9], "pruned"), 2), undefined, "pruned itself");
  assert.is(siblingAucAt(trial("d", [0.6, null]), 2), undefined, "NaN AUC (written as null)");
  assert.is(siblingAucAt(join(root, "nowhere"), 1), undefined);
});

test("median, min_finished and the bar", () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  const sibs = ["a", "b", "c", "d"].map((id) => ({ id, dir: join(root, id) }));
  assert.equal(pruneBar({ afterEpochs: 1, minFinished: 3, same: [] }, sibs), { epoch: 1, median: 0.6, from: ["a", "b", "d"] });
  assert.is(pruneBar({ afterEpochs: 2, minFinished: 2, same: [] }, sibs), undefined, "only a reached epoch 2 with an AUC");
});

test("same: only siblings of this trial's horizon (and window) count; another task's AUCs never set its bar", () => {
  const group = (name: string, horizon: number, aucs: number[]) => {
    const d = trial(name, aucs);
    writeFileSync(join(d, "config.json"), JSON.stringify({ horizon, seq_len: 32 }));
    return { id: name, dir: d };
  };
  const sibs = [group("h30a", 30, [0.7]), group("h30b", 30, [0.72]), group("h60a", 60, [0.5]), group("h60b", 60, [0.52]), group("h60c", 60, [0.54])];
  const s = pruneSettings({ prune_after: 1, min_finished: 2, same: ["horizon", "seq_len"] })!;
  assert.equal(s.same, ["horizon", "seq_len"]);
  assert.equal(pruneBar(s, sibs, { horizon: 60, seq_len: 32 }), { epoch: 1, median: 0.52, from: ["h60a", "h60b", "h60c"] });
  assert.equal(pruneBar(s, sibs, { horizon: 30, seq_len: 32 }), { epoch: 1, median: 0.71, from: ["h30a", "h30b"] });
  assert.is(pruneBar(s, sibs, { horizon: 30, seq_len: 16 }), undefined, "no sibling of that window: too few to prune");
  assert.equal(pruneBar({ ...s, same: [] }, sibs)!.from.length, 5, "without same, every finished sibling counts");
  assert.throws(() => pruneSettings({ prune_after: 1, same: "horizon" }), /siblings\.options\.same: must be a list of param names/);
});

test("the hook throws TrialPruned below the median at epoch k only, with the epochs run", () => {
  const bar = { epoch: 2, median: 0.65, from: ["a", "b"] };
  const hook = pruningHook(bar);
  hook(ep(1, 0.1)); // epoch 1: never compared
  try {
    hook(ep(2, 0.6));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, TrialPruned);
    assert.equal((e as TrialPruned).epochs.map((x) => x.epoch), [1, 2]);
    assert.match((e as Error).message, /^pruned: validation AUC 0\.6000 < median 0\.6500 of 2 finished trials at epoch 2$/);
  }
  const pass = pruningHook(bar);
  pass(ep(1, 0.5));
  pass(ep(2, 0.65)); // equal to the median: kept
  pass(ep(2, Number.NaN)); // one class in validation: never pruned
  pass(ep(3, 0.1));
});

test("settings: off without prune_after; defaults; bad values name the field", () => {
  assert.is(pruneSettings(undefined), undefined);
  assert.is(pruneSettings({}), undefined);
  assert.equal(pruneSettings({ prune_after: 2 }), { afterEpochs: 2, minFinished: 3, same: [] });
  assert.throws(() => pruneSettings({ prune_after: 1.5 }), /siblings\.options\.prune_after: must be an integer >= 1/);
  assert.throws(() => pruneSettings({ prune_after: 1, min_finished: 0 }), /siblings\.options\.min_finished/);
  assert.throws(() => pruneSettings({ after: 1 }), /siblings\.options\.after: unknown/);
});

test.run();

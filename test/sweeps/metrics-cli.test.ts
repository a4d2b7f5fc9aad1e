/**
 * `dagbuild metrics` on a fake-model sweep: the table (sorted, swept params as columns,
 * --columns, --only-changed), --json, failed/missing trials, and `metrics diff` against the
 * previous action records (@prev) and against a git revision. Nothing is built by it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildOk, build, cli, ranIds } from "../helpers/rig.js";
import { setPipeline, sweepWorkspace, trialAction } from "./helpers.js";

interface Row { id: string; status: string; params: Record<string, unknown>; metrics: Record<string, number | string>; host?: string; columns?: Record<string, unknown> }
const metricsJson = (ws: string, args: string[] = []) => {
  const r = cli(ws, ["metrics", "--json", ...args]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { version: number; sort: string; columns: string[]; rows: Row[] };
};

const ws = sweepWorkspace({ units: 3 });

test("metrics --json: one row per trial, params as built, sorted by validation AUC (best first)", () => {
  buildOk(ws);
  ranIds(ws);
  const j = metricsJson(ws);
  assert.is(j.version, 1);
  assert.is(j.rows.length, 6);
  assert.ok(j.rows.every((r) => r.status === "ok" && r.host === "local"));
  const aucs = j.rows.map((r) => r.metrics.val_auc as number);
  assert.equal(aucs, [...aucs].sort((a, b) => b - a));
  // The fake model's AUC grows with units and falls with lr: best is units 3, lr 0.001.
  assert.is(j.rows[0]!.id, trialAction(3, 0.001));
  assert.equal(j.rows[0]!.params, { units: 3, lr: 0.001, seed: 0 });
  assert.equal(j.columns, ["lr", "units", "val_auc", "val_log_loss", "test_auc", "best_epoch", "seconds", "backend"], "swept params, then the default metrics");
  assert.equal(ranIds(ws), [], "metrics ran nothing");
});

test("metrics table: --sort, --asc, --columns with a dotted metrics.json path, --only-changed", () => {
  const r = cli(ws, ["metrics", "--sort", "units", "--asc", "--columns", "units,lr,val_auc,training.device"]);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0]!, /^model\s+status\s+units\s+lr\s+val_auc\s+training\.device$/);
  assert.is(lines.length, 7);
  const units = lines.slice(1).map((l) => Number(l.trim().split(/\s+/)[2]));
  assert.equal(units, [1, 1, 2, 2, 3, 3]);
  // status (and the model id) are always the first columns: naming them again adds no column.
  const again = cli(ws, ["metrics", "--columns", "status,units,id"]).stdout.split("\n")[0]!;
  assert.match(again, /^model\s+status\s+units$/);
  const only = metricsJson(ws, ["--only-changed"]);
  assert.equal(only.columns, ["lr", "units", "val_auc", "val_log_loss", "test_auc"], "constant metrics (epoch, seconds, backend) dropped");
  const bad = cli(ws, ["metrics", "--sortt", "x"]);
  assert.is(bad.code, 2);
});

test("a failed trial shows as failed, the others keep their metrics", () => {
  mkdirSync(join(ws, "fail"), { recursive: true });
  setPipeline(ws, { units: 4 });
  writeFileSync(join(ws, "fail", "lr-0.003_units-4"), "");
  const r = build(ws, ["--keep-going"]);
  assert.equal(r.failed, [trialAction(4, 0.003)]);
  const rows = metricsJson(ws).rows;
  assert.is(rows.find((x) => x.id === trialAction(4, 0.003))!.status, "failed");
  assert.is(rows.filter((x) => x.status === "ok").length, 7);
  setPipeline(ws, { units: 3 });
  ranIds(ws);
});

test("metrics diff @prev: old value, new value and change after a param change", () => {
  setPipeline(ws, { units: 3, seed: 2 });
  buildOk(ws);
  const r = cli(ws, ["metrics", "diff", "--json", "--only-changed"]);
  assert.is(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { rev: string; lines: { id: string; column: string; old: unknown; new: unknown; change: number | null }[] };
  assert.is(d.rev, "@prev");
  const id = trialAction(2, 0.003);
  const auc = d.lines.find((l) => l.id === id && l.column === "val_auc")!;
  assert.ok(auc, JSON.stringify(d.lines.slice(0, 4)));
  assert.is(auc.old, 0.5 + 0.002 - 0.003);
  assert.is(auc.new, 0.5 + 0.002 - 0.003 + 0.02);
  assert.is(auc.change, 0.02);
  const seed = d.lines.find((l) => l.id === id && l.column === "params.seed")!;
  assert.equal([seed.old, seed.new, seed.change], [0, 2, 2]);
  assert.ok(!d.lines.some((l) => l.column === "backend"), "--only-changed leaves out equal values");
  const text = cli(ws, ["metrics", "diff", trialAction(1, 0.001)]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^model\s+column\s+old\s+new\s+change\n/);
  assert.match(text.stdout, /params\.seed\s+0\s+2\s+2\n/);
  assert.is(text.stdout.trim().split("\n").filter((l) => l.startsWith("sweep")).every((l) => l.startsWith(trialAction(1, 0.001))), true, "a target argument selects the rows");
});

test("metrics diff REV reads metrics.json files of a git revision", () => {
  const git = (...a: string[]) => {
    const r = spawnSync("git", ["-c", "user.email=t@t", "-c", "user.name=t", ...a], { cwd: ws, encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    return r.stdout;
  };
  git("init", "-q");
  git("add", "-f", "pipeline.yaml", "out/sweeps");
  git("commit", "-qm", "seed 2");
  setPipeline(ws, { units: 3, seed: 5 });
  buildOk(ws);
  const d = JSON.parse(cli(ws, ["metrics", "diff", "HEAD", "--json"]).stdout) as { lines: { id: string; column: string; old: number; new: number; change: number }[]; from: Record<string, string> };
  const auc = d.lines.find((l) => l.id === trialAction(1, 0.001) && l.column === "val_auc")!;
  assert.is(Math.round(auc.change * 1000) / 1000, 0.03);
  assert.is(d.from[trialAction(1, 0.001)], "git HEAD");
  const bad = cli(ws, ["metrics", "diff", "no-such-rev"]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /not a git revision/);
});

test.run();

/**
 * Trials are ordinary partitions: a 12-trial grid runs once, a second build runs nothing, two
 * more grid points run exactly two trials, a failed trial leaves the others in place and reruns
 * alone; the shared input is built once; gpu tokens pin concurrent trials to distinct devices.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, exists, ranIds } from "../helpers/rig.js";
import { setPipeline, sweepWorkspace, trialAction } from "./helpers.js";
import { DeviceTokens } from "../../src/engine/device-tokens.js";

const allTrials = (units: number) => [0.001, 0.003].flatMap((lr) => Array.from({ length: units }, (_, i) => trialAction(i + 1, lr))).sort();

test("a 12-trial grid: built once; a second build runs nothing; two more grid points run exactly two trials", () => {
  const ws = sweepWorkspace({ units: 6 });
  const first = buildOk(ws, ["-j", "2"]);
  assert.equal(ranIds(ws), allTrials(6), "every trial ran once (the fake model's runs.log)");
  assert.equal(first.executed, ["data", "ledger", ...allTrials(6)].sort(), "the shared input ran once, for every trial");
  assert.is(readFileSync(join(ws, "out/ledger.txt"), "utf8").trim().split("\n").length, 12);

  const second = buildOk(ws, ["-j", "2"]);
  assert.equal(second.executed, [], "nothing runs the second time");
  assert.equal(ranIds(ws), []);

  setPipeline(ws, { units: 7 });
  const grown = buildOk(ws, ["-j", "2"]);
  assert.equal(ranIds(ws), [trialAction(7, 0.001), trialAction(7, 0.003)].sort(), "only the 2 new trials train");
  assert.equal(grown.executed, ["ledger", trialAction(7, 0.001), trialAction(7, 0.003)].sort());
  assert.is(readFileSync(join(ws, "out/ledger.txt"), "utf8").trim().split("\n").length, 14);
});

test("a failed trial leaves the others' results in place and reruns alone", () => {
  const ws = sweepWorkspace({ units: 6 });
  const bad = trialAction(3, 0.003);
  mkdirSync(join(ws, "fail"), { recursive: true });
  writeFileSync(join(ws, "fail", "lr-0.003_units-3"), "");
  const r = build(ws, ["-j", "2", "--keep-going"]);
  assert.is.not(r.code, 0);
  assert.equal(r.failed, [bad]);
  assert.equal(r.skipped, ["ledger"], "the ledger waits for every trial's outcome");
  assert.equal(ranIds(ws), allTrials(6));
  for (const id of allTrials(6)) {
    const trial = id.slice("sweep[trial=".length, -1);
    assert.is(exists(ws, `out/sweeps/${trial}/metrics.json`), id !== bad, `${id} output`);
  }

  rmSync(join(ws, "fail"), { recursive: true });
  const again = buildOk(ws, ["-j", "2"]);
  assert.equal(ranIds(ws), [bad], "only the failed trial reruns");
  assert.equal(again.executed, ["ledger", bad].sort());
  assert.ok(exists(ws, "out/sweeps/lr-0.003_units-3/metrics.json"));
});

test("trials holding a gpu token see CUDA_VISIBLE_DEVICES = its index; concurrent trials get distinct devices", () => {
  const ws = sweepWorkspace({ units: 3, gpus: 2, sleepMs: 250 });
  buildOk(ws, ["-j", "4"]);
  const spans = new Map<string, { start: number; end: number; dev: string }>();
  for (const line of readFileSync(join(ws, "trace.log"), "utf8").trim().split("\n")) {
    const [kind, id, t, dev] = line.split("\t") as [string, string, string, string];
    const s = spans.get(id) ?? { start: 0, end: 0, dev };
    if (kind === "start") s.start = Number(t);
    else s.end = Number(t);
    spans.set(id, s);
  }
  assert.is(spans.size, 6);
  const list = [...spans.values()];
  for (const s of list) assert.ok(s.dev === "0" || s.dev === "1", `device ${s.dev}`);
  let overlaps = 0;
  for (let i = 0; i < list.length; i++)
    for (let j = i + 1; j < list.length; j++) {
      const [a, b] = [list[i]!, list[j]!];
      if (a.start < b.end && b.start < a.end) {
        overlaps++;
        assert.is.not(a.dev, b.dev, "two trials running at once hold different gpus");
      }
    }
  assert.ok(overlaps > 0, "with gpu: 2 and -j 4, trials ran two at a time");
  // The device is in the trial's metrics (recorded by the fake model from ctx.env).
  const m = JSON.parse(readFileSync(join(ws, "out/sweeps/lr-0.001_units-1/metrics.json"), "utf8"));
  assert.ok(["0", "1"].includes(m.training.device));
  assert.is(m.training.process_device, "-", "worker threads: the shared process environment is left alone");
});

test("process isolation: the trial's own process environment holds its CUDA_VISIBLE_DEVICES", () => {
  const ws = sweepWorkspace({ units: 1, gpus: 2 });
  process.env.DAGBUILD_ISOLATION = "process";
  try {
    buildOk(ws, ["-j", "2"]);
  } finally {
    delete process.env.DAGBUILD_ISOLATION;
  }
  for (const t of ["lr-0.001_units-1", "lr-0.003_units-1"]) {
    const m = JSON.parse(readFileSync(join(ws, `out/sweeps/${t}/metrics.json`), "utf8"));
    assert.ok(["0", "1"].includes(m.training.device), t);
    assert.is(m.training.process_device, m.training.device, `${t}: applied to process.env of its own process`);
  }
});

test("device tokens: least-used indices first, released for reuse, none for undeclared resources", () => {
  const t = new DeviceTokens();
  t.acquire("a", "gpu", { gpu: 1 }, { gpu: 3 });
  t.acquire("b", "gpu", { gpu: 2 }, { gpu: 3 });
  assert.equal(t.env("a"), { CUDA_VISIBLE_DEVICES: "0" });
  assert.equal(t.env("b"), { CUDA_VISIBLE_DEVICES: "1,2" });
  t.release("a", "gpu");
  t.acquire("c", "gpu", { gpu: 1 }, { gpu: 3 });
  assert.equal(t.env("c"), { CUDA_VISIBLE_DEVICES: "0" });
  t.acquire("d", "local", { gpu: 1 }, {});
  t.acquire("e", "gpu", { cpu: 2 }, { cpu: 4, gpu: 3 });
  assert.is(t.env("d"), undefined);
  assert.is(t.env("e"), undefined);
  // An action asking for more than the host has (it runs alone) gets every device.
  t.release("b", "gpu");
  t.release("c", "gpu");
  t.acquire("f", "gpu", { gpu: 5 }, { gpu: 3 });
  assert.equal(t.env("f"), { CUDA_VISIBLE_DEVICES: "0,1,2" });
});

test.run();

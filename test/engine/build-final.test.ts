/**
 * `final_after`: outputs built from inputs that were still open (a week of live candles fetched
 * mid-week) are provisional, rebuilt on every build until a run starts after the given time;
 * unchanged outputs stop there (early cutoff), provisional outputs are never restored, and no
 * no-op manifest is written while one is provisional.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildOk, cli, dryRun, editPipeline, makeWs, waitFor } from "../helpers/rig.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";
import { workspacePaths } from "../../src/engine/workspace.js";
import { ActionCache } from "../../src/engine/cache/action-cache.js";
import { runStart } from "../../src/engine/plan.js";
import { parseUtcTime } from "../../src/engine/partitions.js";

const pipeline = (finalAfter: string, weeks: [string, string] = ["2025-01-06", "2025-01-13"]) => `version: 1
axes:
  week: { span: [${weeks[0]}, ${weeks[1]}], step: week }
targets:
  fetch:
    partition: [week]
    outputs: ["out/fetch/{week}.txt"]
    deps: ["src/{week}.txt"]
    rule: rules/fake.ts
    params: { x: 1 }
    final_after: "${finalAfter}"
  use:
    partition: [week]
    outputs: ["out/use/{week}.txt"]
    deps: ["out/fetch/{week}.txt"]
    rule: rules/fake.ts
`;

const files = (weeks: string[]) => Object.fromEntries(weeks.map((w) => [`src/${w}.txt`, `candles of ${w}\n`]));
const W = ["2025-01-06", "2025-01-13"];
const fetchIds = W.map((w) => `fetch[week=${w}]`);
const useIds = W.map((w) => `use[week=${w}]`);

test("a time in the past: built once, then fresh", () => {
  const ws = makeWs(pipeline("2000-01-01"), { files: files(W) });
  assert.equal(buildOk(ws).executed, [...fetchIds, ...useIds]);
  assert.equal(buildOk(ws).executed, []);
});

test("a time in the future: runs on every build as not-final, and unchanged outputs stop there", () => {
  const ws = makeWs(pipeline("2999-01-01T00:00Z"), { files: files(W) });
  assert.equal(buildOk(ws).executed, [...fetchIds, ...useIds]);
  const again = buildOk(ws);
  assert.equal(again.executed, fetchIds, "the provisional actions rerun; their dependants are cut off");
  assert.match(again.starts.get(fetchIds[0]!)!.reason_text ?? "", /^not-final \(built \d{4}-.*Z, final after 2999-01-01T00:00:00\.000Z\)$/);
  const plan = dryRun(ws);
  assert.equal(plan.actions.filter((a) => !a.pending).map((a) => a.id), fetchIds);
  assert.equal(plan.actions.filter((a) => a.pending).map((a) => a.id), useIds, "dependants run only if the refetch changes something");
  const explain = cli(ws, ["explain", fetchIds[0]!]);
  assert.match(explain.stdout, "before final_after 2999-01-01T00:00:00.000Z");
  const plain = cli(ws, []);
  assert.is(plain.code, 0);
  assert.match(plain.stderr, ": 2 built, 0 restored, 2 up to date", "a plain build reruns them too (no no-op manifest)");
});

test("templated per partition: only the week still open is provisional", async () => {
  const day = 86_400_000;
  const weekEnd = (t: number) => t - ((new Date(t).getUTCDay() + 6) % 7) * day - (t % day) + 7 * day;
  // The weeks are this clock's: a week that closes between two builds would change the answer.
  const end = weekEnd(Date.now());
  if (end - Date.now() < 120_000) await waitFor(() => Date.now() >= end, "this week to close", 180_000);
  const now = Date.now();
  const monday = now - ((new Date(now).getUTCDay() + 6) % 7) * day; // this week's Monday
  const thisWeek = new Date(monday).toISOString().slice(0, 10);
  const lastWeek = new Date(monday - 7 * day).toISOString().slice(0, 10);
  const ws = makeWs(pipeline("{week.end}", [lastWeek, thisWeek]), { files: files([lastWeek, thisWeek]) });
  buildOk(ws);
  assert.equal(buildOk(ws).executed, [`fetch[week=${thisWeek}]`]);
});

/**
 * When the last run of `id` started, as both records tell it: the state index's `b` and the
 * action record's `built_at - duration_ms` (what a restore would be judged by); the later one.
 */
function runStartOf(ws: string, id: string): number {
  const paths = workspacePaths(ws);
  const state = StateIndex.load(paths.state).actions.get(id);
  const rec = state ? new ActionCache(paths.ac).get(state.k) : undefined;
  if (state?.b === undefined || !rec) throw new Error(`no recorded run of ${id}`);
  return Math.max(state.b, runStart(rec));
}

test("the record's run start is the run's: a restore judged by final_after sees when it really started", () => {
  // built_at - duration_ms once came out later than the run's start by the commit's own time
  // (hashing, fsyncs): a final_after in that gap let a run that began before it be restored as final.
  const ws = makeWs(pipeline("2999-01-01T00:00Z"), { files: files(W) });
  buildOk(ws);
  const paths = workspacePaths(ws);
  const index = StateIndex.load(paths.state);
  for (const id of fetchIds) {
    const state = index.actions.get(id)!;
    assert.is(runStart(new ActionCache(paths.ac).get(state.k)!), state.b, id);
  }
});

test("a run that started before the time reruns once after it, then is final", async () => {
  // No real-time race: the time is placed just after the recorded run starts, not at a deadline a
  // little in the future (that failed whenever two builds outlasted the margin under load).
  // final_after is not key material: editing it changes nothing but finality.
  const ws = makeWs(pipeline("2999-01-01T00:00Z"), { files: files(W) });
  buildOk(ws);
  assert.equal(buildOk(ws).executed, fetchIds, "still open: rerun");
  const at = Math.max(...fetchIds.map((id) => runStartOf(ws, id))) + 1;
  editPipeline(ws, "2999-01-01T00:00Z", new Date(at).toISOString());
  await waitFor(() => Date.now() > at, "the clock to pass final_after", 5_000);
  const after = buildOk(ws);
  assert.equal(after.executed, fetchIds, "the first run after the time makes them final");
  assert.equal(after.restored, [], "a run that started before the time is not restored");
  assert.match(after.starts.get(fetchIds[0]!)!.reason_text ?? "", `final after ${new Date(at).toISOString()}`);
  assert.ok(fetchIds.every((id) => runStartOf(ws, id) >= at), "that run started after the time");
  assert.equal(buildOk(ws).executed, []);
});

test("provisional outputs are never restored from the cache", () => {
  const ws = makeWs(pipeline("2999-01-01"), { files: files(W) });
  buildOk(ws);
  editPipeline(ws, "x: 1", "x: 2");
  buildOk(ws);
  editPipeline(ws, "x: 2", "x: 1");
  const back = buildOk(ws);
  assert.equal(back.restored.filter((id) => id.startsWith("fetch")), [], "an old provisional fetch is not brought back");
  assert.equal(back.executed.filter((id) => id.startsWith("fetch")), fetchIds);
});

test("a final_after that is not a time is a located error", () => {
  const ws = makeWs(pipeline("next tuesday"), { files: files(W) });
  const r = cli(ws, ["-n"]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /pipeline\.yaml:\d+:\d+/);
  assert.match(r.stderr, "final_after of `fetch[week=2025-01-06]` is `next tuesday`");
  assert.match(r.stderr, "(and 1 more partitions)");
});

test("parseUtcTime: dates, UTC date-times, and nothing else", () => {
  assert.is(parseUtcTime("2025-01-06"), Date.UTC(2025, 0, 6));
  assert.is(parseUtcTime("2025-01-06T10:30Z"), Date.UTC(2025, 0, 6, 10, 30));
  assert.is(parseUtcTime("2025-01-06T10:30:05.5Z"), Date.UTC(2025, 0, 6, 10, 30, 5, 500));
  for (const bad of ["2025-02-30", "2025-01-06T24:00Z", "2025-01-06T10:30", "2025-01-06T10:30+02:00", "06/01/2025", ""]) {
    assert.is(parseUtcTime(bad), undefined, bad);
  }
});

test.run();

/**
 * Incremental builds through the CLI: no-op rebuilds, exact downstream sets, early cutoff,
 * param/rule changes with their reasons, restores from the cache, damaged outputs, dry-run
 * fidelity. The fake rule counts its runs in <ws>/runs.log (test/helpers/fake-rule.ts).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { utimesSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildOk, dryRun, editPipeline, makeWs, ranIds, read, runsOf, snapshot, write } from "../helpers/rig.js";
import { writeFakeLib, writeFakeRule } from "../helpers/fake-rule.js";

/** Partitions (leaf, mid), an aggregate (agg), a chain over weeks (chain) and a final join. */
const PIPELINE = `version: 1
axes:
  p: [a, b, c]
  week: { span: [2025-01-06, 2025-01-20], step: week }
targets:
  leaf:
    partition: [p]
    outputs: { main: "out/leaf/{p}.txt" }
    deps: { src: "src/{p}.txt" }
    rule: rules/fake.ts
    params: { x: 1, nested: { k: "v" } }
  mid:
    partition: [p]
    outputs: { main: "out/mid/{p}.txt" }
    deps: { leaf: "out/leaf/{p}.txt" }
    rule: rules/fake.ts
  agg:
    outputs: { main: out/agg.txt }
    deps: { mids: "out/mid/{p}.txt" }
    rule: rules/other.ts
  chain:
    partition: [week]
    outputs: { state: "out/chain/{week}.txt" }
    deps: { src: "src/w-{week}.txt", prev: "out/chain/{week-1}.txt" }
    rule: rules/other.ts
  final:
    outputs: { main: out/final.txt }
    deps: { agg: out/agg.txt, chain: "out/chain/{week.last}.txt" }
    rule: rules/other.ts
`;

const WEEKS = ["2025-01-06", "2025-01-13", "2025-01-20"];
const ALL = [
  "agg",
  ...WEEKS.map((w) => `chain[week=${w}]`),
  "final",
  ...["a", "b", "c"].map((p) => `leaf[p=${p}]`),
  ...["a", "b", "c"].map((p) => `mid[p=${p}]`),
].sort();

function files(): Record<string, string> {
  const f: Record<string, string> = {};
  for (const p of ["a", "b", "c"]) f[`src/${p}.txt`] = `source ${p}\n`;
  for (const w of WEEKS) f[`src/w-${w}.txt`] = `week ${w}\n`;
  return f;
}

/** A built workspace with the run counter reset. rules/other.ts is a second fake without the library. */
function fresh(pipeline = PIPELINE): string {
  const ws = makeWs(pipeline, { files: files() });
  writeFakeRule(ws, "rules/other.ts");
  const r = buildOk(ws);
  assert.equal(ranIds(ws), ALL.filter((id) => r.executed.includes(id)).sort());
  return ws;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

test("1. a second run executes nothing", () => {
  const ws = makeWs(PIPELINE, { files: files() });
  writeFakeRule(ws, "rules/other.ts");
  const first = buildOk(ws);
  assert.equal(first.executed, ALL, "first build runs every action");
  assert.equal(ranIds(ws), ALL, "the fake rule ran once per action (its id matches the engine's)");
  const second = buildOk(ws);
  assert.equal(second.executed, []);
  assert.equal(second.restored, []);
  assert.equal(second.done?.fresh, ALL.length);
  assert.equal(runsOf(ws).size, 0, "no rule ran");
});

test("2. touching files without changing their content executes nothing", () => {
  const ws = fresh();
  const later = new Date(Date.now() + 5_000);
  for (const rel of Object.keys(files())) utimesSync(join(ws, rel), later, later);
  for (const rel of Object.keys(snapshot(ws))) utimesSync(join(ws, rel), later, later);
  // Rewrite a source with identical bytes too (new mtime, same content).
  write(ws, "src/b.txt", "source b\n");
  const r = buildOk(ws);
  assert.equal(r.executed, []);
  assert.equal(r.restored, []);
  assert.equal(runsOf(ws).size, 0);
  assert.equal(buildOk(ws).executed, [], "still a no-op the time after");
  assert.equal(runsOf(ws).size, 0);
});

test("3. editing one input reruns exactly its downstream set", () => {
  const ws = fresh();
  // A partition: its leaf, its mid, the aggregate, the final join; no other partition.
  write(ws, "src/b.txt", "source b, edited\n");
  let r = buildOk(ws);
  const partitionSet = ["agg", "final", "leaf[p=b]", "mid[p=b]"];
  assert.equal(ranIds(ws), partitionSet);
  assert.equal(r.executed, partitionSet);
  assert.equal(r.starts.get("leaf[p=b]")?.reason_text, "input-changed src/b.txt");
  assert.equal(r.starts.get("mid[p=b]")?.reason_text, "input-changed out/leaf/b.txt");
  assert.equal(r.starts.get("agg")?.reason_text, "input-changed out/mid/b.txt");
  assert.ok(read(ws, "out/final.txt").includes("source b, edited"), "the edit reached the final output");

  // A chain link: that week and every later week, then the final join.
  write(ws, "src/w-2025-01-13.txt", "week two, edited\n");
  r = buildOk(ws);
  const chainSet = ["chain[week=2025-01-13]", "chain[week=2025-01-20]", "final"];
  assert.equal(ranIds(ws), chainSet);
  assert.equal(r.executed, chainSet);

  // The first link of the chain reruns the whole chain.
  write(ws, "src/w-2025-01-06.txt", "week one, edited\n");
  buildOk(ws);
  assert.equal(ranIds(ws), [...WEEKS.map((w) => `chain[week=${w}]`), "final"]);
});

test("4. early cutoff: an upstream rerun with identical outputs does not rerun dependants", () => {
  const ws = fresh(PIPELINE.replace(`params: { x: 1, nested: { k: "v" } }`, `params: { const: "constant leaf" }`));
  write(ws, "src/a.txt", "source a, edited\n");
  const r = buildOk(ws);
  assert.equal(ranIds(ws), ["leaf[p=a]"], "only the upstream reran");
  assert.equal(r.executed, ["leaf[p=a]"]);
  const done = r.events.find((e) => e.type === "action-done" && e.id === "leaf[p=a]") as { changed: boolean } | undefined;
  assert.equal(done?.changed, false, "the rerun reported its outputs unchanged");
  assert.equal(buildOk(ws).executed, [], "and the next build is a no-op");
  assert.equal(runsOf(ws).size, 0);
});

test("5a. a param change reruns with param-changed <key>", () => {
  const ws = fresh();
  editPipeline(ws, `params: { x: 1, nested: { k: "v" } }`, `params: { x: 1, nested: { k: "w" } }`);
  const r = buildOk(ws);
  assert.equal(ranIds(ws), ["agg", "final", "leaf[p=a]", "leaf[p=b]", "leaf[p=c]", "mid[p=a]", "mid[p=b]", "mid[p=c]"]);
  for (const p of ["a", "b", "c"]) assert.equal(r.starts.get(`leaf[p=${p}]`)?.reason_text, "param-changed nested.k");
  const reason = r.starts.get("leaf[p=a]")?.reason as { kind: string; key: string; old: unknown; new: unknown };
  assert.equal([reason.old, reason.new], ["v", "w"]);
  assert.equal(dryRun(ws).actions, [], "nothing left to do");
});

test("5b. editing the rule's code reruns its actions with rule-changed", () => {
  const ws = fresh();
  // Same behaviour, different source: only the actions of rules/fake.ts (leaf, mid) rerun,
  // and since their outputs are identical, rules/other.ts actions are cut off.
  writeFakeRule(ws, "rules/fake.ts", { lib: "rules/fakelib.ts", salt: "edited" });
  const r = buildOk(ws);
  const fakeActions = ["leaf[p=a]", "leaf[p=b]", "leaf[p=c]", "mid[p=a]", "mid[p=b]", "mid[p=c]"];
  assert.equal(ranIds(ws), fakeActions);
  for (const id of fakeActions) assert.equal(r.starts.get(id)?.reason.kind, "rule-changed", id);
  assert.equal(buildOk(ws).executed, []);
  // Editing the other rule reruns only its actions.
  writeFakeRule(ws, "rules/other.ts", { salt: "edited" });
  buildOk(ws);
  assert.equal(ranIds(ws), ["agg", ...WEEKS.map((w) => `chain[week=${w}]`), "final"]);
});

test("5c. a change in a module imported by the rule counts as a rule change", () => {
  const ws = fresh();
  writeFakeLib(ws, "lib-v2");
  const r = buildOk(ws);
  const fakeActions = ["leaf[p=a]", "leaf[p=b]", "leaf[p=c]", "mid[p=a]", "mid[p=b]", "mid[p=c]"];
  // The library value is in the outputs, so the aggregate and final rerun on their inputs.
  assert.equal(ranIds(ws), ["agg", "final", ...fakeActions].sort());
  for (const id of fakeActions) assert.equal(r.starts.get(id)?.reason.kind, "rule-changed", id);
  assert.equal(r.starts.get("agg")?.reason.kind, "input-changed");
  assert.ok(read(ws, "out/leaf/a.txt").includes("lib: lib-v2"));
});

test("6. a reverted change is restored from the cache without running", () => {
  const ws = fresh();
  const original = snapshot(ws);
  editPipeline(ws, "x: 1,", "x: 2,");
  buildOk(ws);
  assert.equal(runsOf(ws).size, 8, "the change ran leaf, mid, agg, final");
  assert.not.equal(snapshot(ws), original);
  editPipeline(ws, "x: 2,", "x: 1,");
  const r = buildOk(ws);
  assert.equal(runsOf(ws).size, 0, "zero rule runs");
  assert.equal(r.executed, []);
  assert.equal(r.restored, ["agg", "final", "leaf[p=a]", "leaf[p=b]", "leaf[p=c]", "mid[p=a]", "mid[p=b]", "mid[p=c]"]);
  for (const p of ["a", "b", "c"]) {
    const s = r.starts.get(`leaf[p=${p}]`)!;
    assert.ok(s.restore, "announced as a restore");
    assert.equal(s.reason_text, "param-changed x");
  }
  assert.equal(snapshot(ws), original, "outputs byte-identical to the original build");
  assert.equal(buildOk(ws).executed, []);
  assert.equal(buildOk(ws).restored, [], "the restore was recorded: the next build is a no-op");
});

test("7. a deleted output is output-missing, an edited one output-modified; both restored", () => {
  const ws = fresh();
  const original = snapshot(ws);
  rmSync(join(ws, "out/mid/a.txt"));
  write(ws, "out/leaf/c.txt", "tampered with\n");
  const plan = dryRun(ws);
  assert.equal(plan.actions.filter((a) => !a.pending).map((a) => [a.id, a.reason_text, a.restore]), [
    ["leaf[p=c]", "output-modified out/leaf/c.txt", true],
    ["mid[p=a]", "output-missing out/mid/a.txt", true],
  ]);
  // Their dependants only run if the restored outputs differ (they will not).
  assert.equal(sorted(plan.actions.filter((a) => a.pending).map((a) => a.id)), ["agg", "final", "mid[p=c]"]);
  const r = buildOk(ws);
  assert.equal(r.starts.get("mid[p=a]")?.reason_text, "output-missing out/mid/a.txt");
  assert.equal(r.starts.get("leaf[p=c]")?.reason_text, "output-modified out/leaf/c.txt");
  assert.equal(r.restored, ["leaf[p=c]", "mid[p=a]"], "both come back from the CAS");
  assert.equal(runsOf(ws).size, 0, "no rule ran; dependants saw identical inputs");
  assert.equal(snapshot(ws), original);
  assert.equal(buildOk(ws).executed, []);
  assert.equal(buildOk(ws).restored, []);

  // The same edit of a same-sized output (only the content hash can tell).
  const leafA = read(ws, "out/leaf/a.txt");
  write(ws, "out/leaf/a.txt", leafA.replace("source a", "SOURCE A"));
  const r2 = buildOk(ws);
  assert.equal(r2.restored, ["leaf[p=a]"]);
  assert.equal(r2.starts.get("leaf[p=a]")?.reason_text, "output-modified out/leaf/a.txt");
  assert.equal(read(ws, "out/leaf/a.txt"), leafA);
});

test("10. the dry run lists exactly what the real run executes", () => {
  const ws = makeWs(PIPELINE, { files: files() });
  writeFakeRule(ws, "rules/other.ts");
  const check = (what: string) => {
    const planned = dryRun(ws).actions;
    const r = buildOk(ws);
    assert.equal(sorted(planned.map((a) => a.id)), r.executed, `${what}: planned = executed`);
    assert.equal(ranIds(ws), r.executed, `${what}: executed = rule runs`);
    for (const a of planned) if (!a.pending) assert.equal(r.starts.get(a.id)?.reason_text, a.reason_text, `${what}: same reason for ${a.id}`);
    return planned;
  };
  assert.equal(check("clean workspace").length, ALL.length);
  // Every output in the affected set changes: an edit of leaf b's source and of week 2.
  write(ws, "src/b.txt", "source b v2\n");
  write(ws, "src/w-2025-01-13.txt", "week 2 v2\n");
  const planned = check("source edits");
  assert.equal(planned.length, 6);
  assert.ok(planned.find((a) => a.id === "mid[p=b]")?.pending, "downstream of a rerun is pending");
  // A param change of every leaf.
  editPipeline(ws, "x: 1,", "x: 3,");
  assert.equal(check("param change").length, 8);
  // A rule change of the other rule.
  writeFakeRule(ws, "rules/other.ts", { salt: "v2" });
  assert.equal(check("rule change").length, 5);
  assert.equal(check("no-op").length, 0);
});

test("10b. the dry run does not call an action pending when its own rule changed", () => {
  // chain[week=2025-01-13] depends on chain[week=2025-01-06]; both use rules/other.ts. After an
  // edit of that rule both run whatever their inputs do, so neither may be shown as
  // "runs only if its upstream outputs change" (pending) with an input-changed reason.
  const ws = fresh();
  writeFakeRule(ws, "rules/other.ts", { salt: "v2" });
  const planned = dryRun(ws).actions;
  const r = buildOk(ws);
  assert.equal(sorted(planned.map((a) => a.id)), r.executed);
  for (const a of planned) {
    assert.equal([a.id, a.reason.kind, a.pending], [a.id, "rule-changed", false], `plan of ${a.id}: ${a.reason_text}`);
    assert.equal(r.starts.get(a.id)?.reason_text, a.reason_text, `same reason for ${a.id} in the plan and the build`);
  }
});

test.run();

/**
 * `retrain_every`: a small weekly pipeline (fake rules) with a span axis, an aggregate over the
 * span (its path carries the span), features from it at a fixed path (as ml_training), a model
 * with `retrain_every: 2w` and scores depending on model and aggregate. After one
 * refresh the model is held and only the new week, the aggregate and the scores run (counted
 * by target, from the rule's own run log); the second refresh retrains it; an upstream param
 * change without a refresh retrains it at once; `--force` retrains it; `-n`, `refresh -n`,
 * explain, status, verify and lineage say held; no build writes a no-op manifest while held.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { build, cli, editPipeline, makeWs, parseEvents, read, runsOf, type CliResult } from "../helpers/rig.js";
import { engineFiles, RACY_MS } from "../../src/engine/cache/noop-writer.js";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PIPELINE = `version: 1
default: [scores]
axes:
  week: { span: [2025-05-12, 2025-05-26], step: week }
targets:
  weekly:
    partition: [week]
    outputs: { w: "out/weekly/{week}.txt" }
    rule: rules/fake.ts
  corpus:
    outputs: { c: "out/corpus_{week.span}.txt" }
    deps: { w: "out/weekly/{week}.txt" }
    rule: rules/fake.ts
    params: { n: 1 }
  features:
    outputs: { f: out/features.txt }
    deps: { c: "out/corpus_{week.span}.txt" }
    rule: rules/fake.ts
  model:
    outputs: { m: out/model.txt }
    deps: { c: "out/corpus_{week.span}.txt", f: out/features.txt }
    rule: rules/fake.ts
    retrain_every: 2w
  scores:
    outputs: { s: out/scores.txt }
    deps: { m: out/model.txt, c: "out/corpus_{week.span}.txt" }
    rule: rules/fake.ts
`;

/** Runs of the fake rule since the last call, per target (its own log, not the engine's events). */
function ranByTarget(ws: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, n] of runsOf(ws)) {
    const target = id.replace(/\[.*$/, "");
    out[target] = (out[target] ?? 0) + n;
  }
  return out;
}

/** A `--json` build's events: what it executed (not restored), what it held, each start's reason. */
function outcome(r: CliResult) {
  const events = parseEvents(r.stdout);
  const starts = events.filter((e) => e.type === "action-start") as Json[];
  return {
    ...r,
    executed: starts.filter((e) => !e.restore).map((e) => e.id as string).sort(),
    held: events.filter((e) => e.type === "action-held").map((e) => (e as { id: string }).id),
    reason: (id: string) => starts.find((e) => e.id === id)?.reason.kind as string | undefined,
    done: events.find((e) => e.type === "build-done") as Json,
  };
}
const refresh = (ws: string) => outcome(cli(ws, ["refresh", "--json"]));
const buildJson = (ws: string, args: string[] = []) => outcome(build(ws, args));

function ok(r: { code: number | null; stdout: string; stderr: string }, what: string): void {
  assert.is(r.code, 0, `${what}: ${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
}

/** Waits until every engine file is older than the racy window (a fresh compile would make the manifest refuse). */
async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Backdates the pipeline file so its stamp is not racy (the manifest would refuse it otherwise). */
function settlePipeline(ws: string): void {
  const t = Date.now() / 1000 - 30;
  utimesSync(join(ws, "pipeline.yaml"), t, t);
}

const manifests = (ws: string) => (existsSync(join(ws, "cache/noop")) ? readdirSync(join(ws, "cache/noop")).filter((n) => n.endsWith(".json")) : []);
/** What the fast path said (DAGBUILD_TRACE_NOOP=1): `hit`, or why it missed. */
const noopTrace = (stderr: string) => /dagbuild: no-op manifest: (.*)/.exec(stderr)?.[1] ?? "(none)";

test("one refresh: the model is held and the scores rebuild with it; the 2nd refresh retrains it", async () => {
  await engineSettled();
  const ws = makeWs(PIPELINE);
  ok(build(ws), "first build");
  assert.equal(ranByTarget(ws), { weekly: 3, corpus: 1, features: 1, model: 1, scores: 1 });
  const model1 = read(ws, "out/model.txt");

  // refresh -n counts the refresh it plans: the model is listed as held, not as an action.
  const dry = cli(ws, ["refresh", "-n", "--json"]);
  ok(dry, "refresh -n");
  const planned = JSON.parse(dry.stdout) as Json;
  assert.equal(planned.hosts.local.actions.map((a: Json) => a.id).sort(), ["corpus", "features", "scores", "weekly[week=2025-06-02]"]);
  assert.equal(planned.hosts.local.held.map((h: Json) => [h.id, h.reason.kind, h.retrain_due_in_weeks]), [["model", "input-changed", 1]]);
  assert.is(planned.held, 1);
  assert.match(cli(ws, ["refresh", "-n"]).stdout, /^ {2}held +model {2}\(input-changed out\/corpus_2025-05-12_2025-06-09\.txt; retrain due in 1 week\)$/m);
  assert.equal(ranByTarget(ws), {}, "-n runs nothing");

  const r1 = refresh(ws);
  ok(r1, "refresh 1");
  const counts1 = ranByTarget(ws);
  console.log(`retrain_every 2w, refresh 1: ran ${JSON.stringify(counts1)}, held ${JSON.stringify(r1.held)}`);
  assert.equal(counts1, { weekly: 1, corpus: 1, features: 1, scores: 1 }, "the new week, the aggregate and the scores; not the model");
  assert.equal(r1.executed, ["corpus", "features", "scores", "weekly[week=2025-06-02]"], "the engine's events agree");
  assert.equal(r1.held, ["model"]);
  assert.is(r1.done.held, 1);
  assert.is(read(ws, "out/model.txt"), model1, "the model's recorded output stays");
  const scores = read(ws, "out/scores.txt");
  assert.ok(scores.includes(model1) && scores.includes("== out/corpus_2025-05-12_2025-06-09.txt"), "the new scores come from the existing model and the new aggregate");

  // Held, not stale: every view says so, and nothing runs again.
  const again = buildJson(ws);
  ok(again, "build after the hold");
  assert.equal(again.executed, []);
  assert.equal(again.held, ["model"]);
  assert.equal(ranByTarget(ws), {});
  assert.match(cli(ws, ["-n"]).stdout, /^held +model {2}@local {2}\(input-changed out\/corpus_2025-05-12_2025-06-09\.txt; retrain due in 1 week\)$/m);
  assert.match(cli(ws, ["-n"]).stdout, "0 to run, 7 up to date, 1 held");
  const plan = JSON.parse(cli(ws, ["-n", "--json"]).stdout) as Json;
  assert.equal([plan.actions.length, plan.held.map((h: Json) => h.id), plan.held[0].hold.weeksAdded, plan.held[0].hold.every], [0, ["model"], 1, 2]);
  const ex = cli(ws, ["explain", "model"]).stdout;
  assert.match(ex, "model: held (input-changed out/corpus_2025-05-12_2025-06-09.txt; retrain due in 1 week)");
  assert.match(ex, "retrain_every 2w");
  assert.not.match(ex, "up to date");
  const st = JSON.parse(cli(ws, ["status", "--json"]).stdout) as Json;
  assert.equal(st.targets.find((t: Json) => t.target === "model"), { target: "model", fresh: 0, stale: 0, missing: 0, held: 1 });
  assert.match(cli(ws, ["status"]).stdout, /^model +0 +0 +0 +held \(1 held by retrain_every\)$/m);
  // verify: the outputs on disk are the recorded ones; a rebuild is skipped, not a false mismatch.
  const v = cli(ws, ["verify", "--json", "model"]);
  assert.equal([v.code, (JSON.parse(v.stdout) as Json).problems], [0, 0]);
  const vr = cli(ws, ["verify", "--rebuild", "--no-deps", "--json", "model"]);
  assert.is(vr.code, 0, vr.stdout);
  assert.equal((JSON.parse(vr.stdout) as Json).findings.map((f: Json) => f.kind), ["HELD"]);
  assert.equal(ranByTarget(ws), {}, "verify --rebuild did not run the held model");
  const lineage = cli(ws, ["lineage", "out/model.txt"]).stdout;
  assert.match(lineage, "held: retrain_every 2w, 1 week added since this record was built; retrain due in 1 week");
  assert.match(lineage, "in f: out/features.txt");
  assert.match(lineage, "<- features (SUPERSEDED: rebuilt since; this action is held by its retrain_every cadence)");
  assert.is((JSON.parse(cli(ws, ["lineage", "--json", "out/model.txt"]).stdout) as Json).actions[0].held.weeksAdded, 1);

  // The 2nd week: 2 weeks added since the model was built, the hold lapses.
  const r2 = refresh(ws);
  ok(r2, "refresh 2");
  const counts2 = ranByTarget(ws);
  console.log(`retrain_every 2w, refresh 2: ran ${JSON.stringify(counts2)}, held ${JSON.stringify(r2.held)}`);
  assert.equal(counts2, { weekly: 1, corpus: 1, features: 1, model: 1, scores: 1 });
  assert.equal(r2.held, []);
  assert.is(r2.reason("model"), "input-changed", "it rebuilds with its normal reason");
  assert.is.not(read(ws, "out/model.txt"), model1);
});

test("an upstream change without a refresh retrains at once; --force retrains a held model", () => {
  const ws = makeWs(PIPELINE);
  ok(build(ws), "first build");
  runsOf(ws);
  editPipeline(ws, "params: { n: 1 }", "params: { n: 2 }");
  const p = buildJson(ws);
  ok(p, "param change");
  assert.equal(ranByTarget(ws), { corpus: 1, features: 1, model: 1, scores: 1 }, "no refresh explains the new corpus: the model retrains");
  assert.equal([p.held, p.reason("model")], [[], "input-changed"]);

  const r = refresh(ws);
  ok(r, "refresh");
  assert.equal([ranByTarget(ws), r.held], [{ weekly: 1, corpus: 1, features: 1, scores: 1 }, ["model"]], "held after the refresh");
  const f = buildJson(ws, ["--force", "model"]);
  ok(f, "--force model");
  assert.equal(ranByTarget(ws), { model: 1, scores: 1 });
  assert.equal([f.reason("model"), f.held], ["forced", []]);
  assert.equal(buildJson(ws).held, [], "retrained: its record is newer than the refresh");
  assert.equal(ranByTarget(ws), {});
});

test("a build writes no no-op manifest while something is held (and writes one once nothing is)", async () => {
  await engineSettled();
  process.env.DAGBUILD_TRACE_NOOP = "1";
  try {
    const ws = makeWs(PIPELINE.replace("retrain_every: 2w", "retrain_every: 3w"));
    ok(build(ws), "first build");
    ok(build(ws, ["refresh"]), "refresh");
    settlePipeline(ws);
    runsOf(ws);
    const a = cli(ws, []);
    ok(a, "build while held");
    assert.match(a.stderr, "dagbuild: no no-op manifest: model is held by its retrain_every cadence");
    assert.match(a.stderr, /held {4}model {2}\(input-changed \S+; retrain due in 2 weeks\)/);
    assert.equal(manifests(ws), []);
    const b = cli(ws, ["-n"]);
    assert.is(noopTrace(b.stderr), "no-manifest");
    assert.match(b.stdout, "0 to run, 7 up to date, 1 held", "the fast path did not answer for it");
    // Control: once the model retrains, nothing is held, and the manifest is written and hits.
    ok(cli(ws, ["--force", "model"]), "--force model");
    settlePipeline(ws);
    const c = cli(ws, []);
    ok(c, "clean build");
    assert.equal(manifests(ws).length, 1, c.stderr);
    assert.is(noopTrace(cli(ws, []).stderr), "hit");
    assert.equal(ranByTarget(ws), { model: 1, scores: 1 });
  } finally {
    delete process.env.DAGBUILD_TRACE_NOOP;
  }
});

test("retrain_every must be a number of weeks: the error names the file and the field", () => {
  const ws = makeWs(PIPELINE.replace("retrain_every: 2w", "retrain_every: 14d"));
  const r = cli(ws, ["-n"]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /pipeline\.yaml:\d+.*retrain_every.*a number of weeks like 4w/);
  assert.equal(parseEvents(r.stdout), []);
});

test.run();

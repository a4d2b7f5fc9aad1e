/**
 * Failures: --keep-going vs stopping early, nothing recorded for a failed action (the next
 * build retries it), and outputs that appear atomically (a failing rule's partial output never
 * replaces the previous one).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, editPipeline, exists, makeWs, ranIds, read, snapshot } from "../helpers/rig.js";

const PIPELINE = `version: 1
targets:
  bad:
    outputs: { main: out/bad.txt, second: out/bad2.txt }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
    params: { fail: true }
  child:
    outputs: { main: out/child.txt }
    deps: { bad: out/bad.txt }
    rule: rules/fake.ts
  grandchild:
    outputs: { main: out/grandchild.txt }
    deps: { child: out/child.txt }
    rule: rules/fake.ts
  good1:
    outputs: { main: out/good1.txt }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
  good2:
    outputs: { main: out/good2.txt }
    deps: { good1: out/good1.txt }
    rule: rules/fake.ts
  mixed:
    outputs: { main: out/mixed.txt }
    deps: { good: out/good2.txt, bad: out/bad2.txt }
    rule: rules/fake.ts
`;
const FILES = { "src/in.txt": "input\n" };

function stateLines(ws: string): string[] {
  return exists(ws, "cache/state.v1.jsonl") ? read(ws, "cache/state.v1.jsonl").split("\n").filter(Boolean) : [];
}

function recordIds(ws: string): string[] {
  const dir = join(ws, "cache/ac");
  if (!existsSync(dir)) return [];
  const ids: string[] = [];
  for (const sub of readdirSync(dir)) for (const f of readdirSync(join(dir, sub))) if (f.endsWith(".json")) ids.push(JSON.parse(read(ws, `cache/ac/${sub}/${f}`)).id);
  return ids.sort();
}

test("12a. without --keep-going the build stops at the first failure", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  const r = build(ws, ["-j", "1"]);
  assert.equal(r.code, 1);
  assert.equal(ranIds(ws), ["bad"], "nothing started after the failure");
  assert.equal(r.failed, ["bad"]);
  assert.ok(r.done && !r.done.ok && r.done.built === 0);
  assert.not.ok(exists(ws, "out/good1.txt"));
});

test("12b. --keep-going: dependants skipped, independent actions built, exit 1, nothing recorded for the failure", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  const r = build(ws, ["-j", "1", "--keep-going"]);
  assert.equal(r.code, 1);
  assert.equal(r.failed, ["bad"]);
  assert.equal(r.skipped, ["child", "grandchild", "mixed"]);
  for (const e of r.events) if (e.type === "action-skipped") assert.equal(e.because, "bad");
  const failed = r.events.find((e) => e.type === "action-failed") as { message: string; logFile: string } | undefined;
  assert.ok(failed?.message.includes("fake failure of bad"), failed?.message);
  assert.ok(existsSync(failed!.logFile), "the failure's log exists");
  assert.equal(ranIds(ws), ["bad", "good1", "good2"]);
  assert.equal(Object.keys(snapshot(ws)).sort(), ["out/good1.txt", "out/good2.txt"], "the failed action's outputs are not written");
  assert.equal(r.done?.built, 2);
  assert.equal(r.done?.skipped, 3);
  assert.not.ok(stateLines(ws).some((l) => l.includes('"a":"bad"')), "no state entry for the failed action");
  assert.equal(recordIds(ws), ["good1", "good2"], "no action record for it either");

  // The next build retries it (and only it); the skipped ones are still not run.
  const again = build(ws, ["--keep-going"]);
  assert.equal(again.code, 1);
  assert.equal(ranIds(ws), ["bad"]);
  assert.equal(again.starts.get("bad")?.reason_text, "new");

  // Fixed: it and its dependants run; the good ones stay fresh.
  editPipeline(ws, "params: { fail: true }", "params: { fail: false }");
  const fixed = buildOk(ws);
  assert.equal(ranIds(ws), ["bad", "child", "grandchild", "mixed"]);
  assert.equal(fixed.done?.fresh, 2);
});

test("15. a failing rule that wrote a partial output leaves the previous output untouched", () => {
  const ws = makeWs(PIPELINE.replace("params: { fail: true }", "params: { fail: false }"), { files: FILES });
  buildOk(ws);
  ranIds(ws);
  const before = snapshot(ws);
  const st = statSync(join(ws, "out/bad.txt"));
  // The rule now writes "PARTIAL" into both outputs and throws.
  editPipeline(ws, "params: { fail: false }", "params: { fail: true }");
  const r = build(ws, ["--keep-going"]);
  assert.equal(r.code, 1);
  assert.equal(ranIds(ws), ["bad"]);
  assert.equal(r.skipped, ["child", "grandchild", "mixed"]);
  assert.equal(snapshot(ws), before, "every output as it was");
  const st2 = statSync(join(ws, "out/bad.txt"));
  assert.equal([st2.ino, st2.mtimeMs], [st.ino, st.mtimeMs], "out/bad.txt not even replaced");
  const tmp = join(ws, "cache/tmp");
  assert.equal(existsSync(tmp) ? readdirSync(tmp) : [], [], "the staging area was cleaned up");
  // Reverting the params: the previous outputs and records are still valid, nothing runs.
  editPipeline(ws, "params: { fail: true }", "params: { fail: false }");
  const back = buildOk(ws);
  assert.equal(back.executed, []);
  assert.equal(back.restored, []);
  assert.equal(ranIds(ws), []);
});

test("15b. a shell rule that exits non-zero after writing part of its outputs changes nothing", () => {
  const ws = makeWs(`version: 1
targets:
  two:
    outputs: { first: out/first.txt, second: out/second.txt }
    deps: { src: src/in.txt }
    run: "cat {deps} > {out.first} && cat {deps} > {out.second}"
`, { files: FILES, fake: false });
  buildOk(ws);
  const before = snapshot(ws);
  editPipeline(ws, "&& cat {deps} > {out.second}", "&& echo partial > {out.second} && false");
  const r = build(ws);
  assert.equal(r.code, 1);
  assert.equal(r.failed, ["two"]);
  assert.equal(snapshot(ws), before);
});

test.run();

/**
 * The state index survives a torn last line (kill -9 during an append: the next append must
 * not be glued onto it), and an index with another version or a garbage header is never
 * appended to: a newer version is refused, garbage is moved aside and rebuilt, both said.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { appendFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildOk, build, cli, dryRun, makeWs, read, write } from "../helpers/rig.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";

const PIPELINE = `version: 1
targets:
  a:
    outputs: [out/a.txt]
    deps: [src/a.txt]
    run: "cat {deps} > {out}"
  b:
    outputs: [out/b.txt]
    deps: [src/b.txt]
    run: "cat {deps} > {out}"
`;
const FILES = { "src/a.txt": "a1\n", "src/b.txt": "b1\n" };
const STATE = "cache/state.v1.jsonl";

test("a torn last line is terminated before the next append: no entry is lost", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: FILES });
  buildOk(ws);
  appendFileSync(join(ws, STATE), `{"a":"b","k":"deadbe`); // kill -9 in the middle of an append
  write(ws, "src/a.txt", "a2\n");
  const r = buildOk(ws);
  assert.equal(r.executed, ["a"]);
  // The torn line was terminated (so a's entry stands alone) and the damaged log compacted.
  const lines = read(ws, STATE).split("\n").filter(Boolean);
  for (const l of lines) JSON.parse(l);
  assert.ok(lines.some((l) => l.startsWith(`{"a":"a"`)), "a's new entry is in the index");
  const plan = dryRun(ws);
  assert.equal(plan.actions.map((a) => a.id), [], "both actions are fresh after the build");
  const idx = StateIndex.load(join(ws, STATE));
  assert.ok(idx.actions.has("a") && idx.actions.has("b"));
});

test("a garbage header: the index is moved aside and rebuilt, and the build says so", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: FILES });
  buildOk(ws);
  const old = read(ws, STATE);
  writeFileSync(join(ws, STATE), "garbage\n" + old.split("\n").slice(1).join("\n"));
  const r = build(ws);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /state\.v1\.jsonl is not a dagbuild state index/);
  assert.ok(read(ws, STATE).startsWith(`{"format":"dagbuild-state","version":1}\n`), "a fresh header");
  assert.ok(readdirSync(join(ws, "cache")).some((f) => f.startsWith("state.v1.jsonl.bad-")), "the old one is kept aside");
  assert.equal(dryRun(ws).actions.map((a) => a.id), [], "the rebuilt index serves the next build");
});

test("an index of a newer version is refused (exit 2), not appended to", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: FILES });
  buildOk(ws);
  const future = `{"format":"dagbuild-state","version":2}\n{"future":true}\n`;
  writeFileSync(join(ws, STATE), future);
  write(ws, "src/a.txt", "a3\n");
  const r = build(ws);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /version 2/);
  assert.is(read(ws, STATE), future, "left exactly as it was");
  assert.is(cli(ws, ["status"]).code, 2);
  assert.ok(existsSync(join(ws, STATE)));
});

test.run();

/**
 * Commit safety: a failing action leaves every previous output untouched (all outputs are
 * checked and stored first, then swapped in, and a failed swap is rolled back), and a path
 * the engine did not create is never deleted to make room for an output.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, editPipeline, exists, makeWs, read, write } from "../helpers/rig.js";

const stamp = (ws: string, rel: string) => {
  const st = statSync(join(ws, rel));
  return [st.ino, st.mtimeMs];
};

test("a directory output that the rule wrote as a file fails without replacing the good directory", () => {
  const ws = makeWs(`version: 1
targets:
  gen:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "if grep -q file src.txt; then rm -rf {out} && echo oops > {out}; else mkdir -p {out} && cp src.txt {out}/a.txt; fi"
`, { fake: false, files: { "src.txt": "dir\n" } });
  buildOk(ws);
  const before = stamp(ws, "gen/a.txt");
  write(ws, "src.txt", "file\n");
  const r = build(ws);
  assert.is(r.code, 1);
  assert.equal(r.failed, ["gen"]);
  const failed = r.events.find((e) => e.type === "action-failed") as { message: string } | undefined;
  assert.match(failed?.message ?? "", "gen should be a directory");
  assert.ok(statSync(join(ws, "gen")).isDirectory(), "gen/ is still the directory");
  assert.is(read(ws, "gen/a.txt"), "dir\n");
  assert.equal(stamp(ws, "gen/a.txt"), before);
});

test("a two-output action whose second output cannot be placed rolls the first back", () => {
  const ws = makeWs(`version: 1
targets:
  two:
    outputs: { first: out/a.txt, second: side/b.txt }
    deps: [src.txt]
    run: "cp src.txt {out.first} && cp src.txt {out.second}"
`, { fake: false, files: { "src.txt": "v1\n" } });
  buildOk(ws);
  const before = stamp(ws, "out/a.txt");
  // side/ becomes a file: the second output's directory cannot be created.
  rmSync(join(ws, "side"), { recursive: true });
  writeFileSync(join(ws, "side"), "in the way\n");
  write(ws, "src.txt", "v2\n");
  const r = build(ws);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.failed, ["two"]);
  assert.is(read(ws, "out/a.txt"), "v1\n", "the first output is the old one, not v2 beside nothing");
  assert.equal(stamp(ws, "out/a.txt"), before, "not even replaced by a copy");
  assert.is(read(ws, "side"), "in the way\n");
  // Once the obstacle is gone, the action runs and both outputs are v2.
  rmSync(join(ws, "side"));
  buildOk(ws);
  assert.is(read(ws, "out/a.txt"), "v2\n");
  assert.is(read(ws, "side/b.txt"), "v2\n");
});

test("a user's directory at a file output's path is not deleted: the action fails and says why", () => {
  const ws = makeWs(`version: 1
targets:
  x:
    outputs: [out/x]
    deps: [src.txt]
    run: "cp src.txt {out}"
`, { fake: false, files: { "src.txt": "v1\n", "out/x/precious.txt": "mine\n" } });
  const r = build(ws);
  assert.is(r.code, 1);
  const failed = r.events.find((e) => e.type === "action-failed") as { message: string } | undefined;
  assert.match(failed?.message ?? "", /out\/x .*not created by dagbuild/);
  assert.is(read(ws, "out/x/precious.txt"), "mine\n");
});

test("a user's directory at a directory output's path is not deleted either", () => {
  const ws = makeWs(`version: 1
targets:
  gen:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "mkdir -p {out} && cp src.txt {out}/a.txt"
`, { fake: false, files: { "src.txt": "v1\n", "gen/precious.txt": "mine\n" } });
  const r = build(ws);
  assert.is(r.code, 1);
  assert.is(read(ws, "gen/precious.txt"), "mine\n");
});

test("what the engine made may be replaced: an output redeclared from directory to file, a crash's leftover", () => {
  const ws = makeWs(`version: 1
targets:
  x:
    outputs: ["out/x/"]
    deps: [src.txt]
    run: "mkdir -p {out} && cp src.txt {out}/a.txt"
`, { fake: false, files: { "src.txt": "v1\n" } });
  buildOk(ws);
  editPipeline(ws, `outputs: ["out/x/"]`, "outputs: [out/x]");
  editPipeline(ws, `run: "mkdir -p {out} && cp src.txt {out}/a.txt"`, `run: "cp src.txt {out}"`);
  buildOk(ws);
  assert.is(read(ws, "out/x"), "v1\n");
  // An output whose index line was lost (kill -9 after the rename): its content is in the CAS.
  const ws2 = makeWs(`version: 1
targets:
  gen:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "mkdir -p {out} && cp src.txt {out}/a.txt"
`, { fake: false, files: { "src.txt": "v1\n" } });
  buildOk(ws2);
  rmSync(join(ws2, "cache/state.v1.jsonl"));
  write(ws2, "src.txt", "v2\n");
  buildOk(ws2);
  assert.is(read(ws2, "gen/a.txt"), "v2\n");
  assert.ok(exists(ws2, "gen"));
});

test("a symbolic link output (or one inside a directory output) is refused, not copied into the cache", () => {
  const ws = makeWs(`version: 1
targets:
  link:
    outputs: [out/link]
    deps: [src.txt]
    run: "ln -s /etc/hostname {out}"
  dir:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "mkdir -p {out} && cp src.txt {out}/a && ln -s /etc/hostname {out}/b"
`, { fake: false, files: { "src.txt": "v1\n" } });
  const r = build(ws, ["--keep-going"]);
  assert.is(r.code, 1);
  assert.equal(r.failed, ["dir", "link"]);
  const msgs = r.events.filter((e) => e.type === "action-failed").map((e) => (e as { message: string }).message).join("\n");
  assert.match(msgs, "out/link is a symbolic link");
  assert.match(msgs, "gen contains a symbolic link (b)");
  assert.not.ok(exists(ws, "out/link"));
});

test("restoring over a hand-edited output reports the output as changed", () => {
  const ws = makeWs(`version: 1
targets:
  a:
    outputs: [out/a.txt]
    deps: [src.txt]
    run: "cp src.txt {out}"
`, { fake: false, files: { "src.txt": "v1\n" } });
  buildOk(ws);
  write(ws, "out/a.txt", "hand edit\n");
  const r = buildOk(ws);
  const done = r.events.find((e) => e.type === "action-done") as { changed: boolean; outcome: string } | undefined;
  assert.is(done?.outcome, "restored");
  assert.is(done?.changed, true, "not '(outputs unchanged)': the file on disk was replaced");
  assert.is(read(ws, "out/a.txt"), "v1\n");
});

test.run();

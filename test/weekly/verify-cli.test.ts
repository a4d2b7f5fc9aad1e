/**
 * `dagbuild verify` / `verify --rebuild` through the CLI: each kind of failure is caught and
 * said for what it is (a changed byte, a deleted CAS blob, a rule that writes the time), a
 * target's `verify:` tolerance reports "within tolerance", `--json` carries the classification,
 * and the exit code is 1 on any mismatch.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cli, makeWs } from "../helpers/rig.js";

const PIPELINE = `version: 1
hosts:
  gpu: { transport: local }
targets:
  clock:
    outputs: { t: out/clock.txt }
    run: "date +%s%N > {out}"
  noisy:
    outputs: { m: out/metrics.json }
    run: 'printf "{\\"auc\\": 0.6100000%05d, \\"training\\": {\\"seconds\\": %d} }\\n" $RANDOM $RANDOM > {out}'
    verify: { rtol: 1e-6, ignore: [training.seconds] }
  noisy_strict:
    outputs: { m: out/strict.json }
    run: 'printf "{\\"auc\\": 0.61000%05d}\\n" $RANDOM > {out}'
  table:
    outputs: { t: out/table.csv }
    run: 'printf "k,v\\n1,2.5\\n2,3.5\\n" > {out}'
  derived:
    outputs: { d: out/derived.txt }
    deps: { c: out/clock.txt }
    run: "cat {deps} > {out}"
  tree:
    outputs: { d: out/tree/ }
    run: 'mkdir -p {out} && echo one > {out}/a.txt && echo "{\\"n\\": 1}" > {out}/b.json'
`;

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const sha = (s: Buffer) => createHash("sha256").update(s).digest("hex");
const blobPath = (ws: string, digest: string) => join(ws, "cache/cas", digest.slice(0, 2), digest);

function verify(ws: string, ...args: string[]): { code: number | null; out: string; json?: Json } {
  const r = cli(ws, ["verify", ...args], 60_000);
  return { code: r.code, out: r.stdout + r.stderr, ...(args.includes("--json") ? { json: JSON.parse(r.stdout) } : {}) };
}

test("a rule that writes the time is NONDETERMINISTIC, with its first differing byte; tolerance and ignored fields are within tolerance", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, []).code, 0);
  const r = verify(ws, "--rebuild", "--json");
  assert.is(r.code, 1, r.out);
  const byId = (id: string) => r.json.findings.filter((f: Json) => f.id === id);
  const clock = byId("clock");
  assert.is(clock.length, 1);
  assert.is(clock[0].kind, "NONDETERMINISTIC");
  assert.is(clock[0].files[0].format, "bytes");
  assert.ok(Number.isInteger(clock[0].files[0].firstDifferingByte));
  const noisy = byId("noisy");
  assert.is(noisy[0].kind, "WITHIN-TOLERANCE", JSON.stringify(noisy));
  assert.equal(noisy[0].files[0].ignored ?? ["training.seconds"], ["training.seconds"]);
  // The same noise without a verify: block is a mismatch, located and measured.
  const strict = byId("noisy_strict");
  assert.ok(strict.length === 0 || (strict[0].kind === "NONDETERMINISTIC" && strict[0].files[0].numeric.absAt === "auc"), JSON.stringify(strict));
  assert.equal(byId("table"), []);
  assert.equal(byId("tree"), []);
  assert.is(r.json.problems, r.json.findings.filter((f: Json) => f.kind !== "WITHIN-TOLERANCE" && f.kind !== "REPAIRED").length);
  // Text form: the kind, the id, and the classified file under it.
  const text = verify(ws, "--rebuild", "clock");
  assert.is(text.code, 1);
  assert.match(text.out, /NONDETERMINISTIC clock: out\/clock.txt recorded [0-9a-f]{12} rebuilt [0-9a-f]{12}/);
  assert.match(text.out, /out\/clock.txt \[bytes\]: first differing byte at offset \d+/);
  const ok = verify(ws, "--rebuild", "--on", "gpu", "table", "noisy");
  assert.is(ok.code, 0, ok.out);
  assert.match(ok.out, "1 within tolerance");
});

test("--no-deps verifies the named actions only", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, ["derived"]).code, 0);
  const all = verify(ws, "--rebuild", "derived");
  assert.is(all.code, 1, "clock, upstream, is rebuilt too");
  assert.match(all.out, "NONDETERMINISTIC clock");
  const one = verify(ws, "--rebuild", "--no-deps", "derived");
  assert.is(one.code, 0, one.out);
  assert.match(one.out, "1 actions checked, 0 problems");
});

test("one byte changed in an output: MISMATCH, classified by format; a directory file by file", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, ["table", "tree"]).code, 0);
  assert.is(verify(ws, "table", "tree").code, 0);
  const f = join(ws, "out/table.csv");
  writeFileSync(f, readFileSync(f, "utf8").replace("3.5", "3.6"));
  writeFileSync(join(ws, "out/tree/a.txt"), "onE\n");
  const r = verify(ws, "table", "tree", "--json");
  assert.is(r.code, 1);
  const table = r.json.findings.find((x: Json) => x.id === "table");
  assert.is(table.kind, "MISMATCH");
  assert.is(table.files[0].format, "csv");
  assert.is(table.files[0].numeric.absAt, "[1].v");
  const tree = r.json.findings.find((x: Json) => x.id === "tree");
  assert.match(tree.message, "1 file differ");
  assert.is(tree.files[0].path, "out/tree/a.txt");
  assert.is(tree.files[0].firstDifferingByte, 2);
});

test("a deleted CAS blob: REPAIRED from the workspace when it still has the content, else MISSING-BLOB", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, ["table"]).code, 0);
  const content = readFileSync(join(ws, "out/table.csv"));
  rmSync(blobPath(ws, sha(content)));
  const r = verify(ws, "table");
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /REPAIRED table: out\/table.csv: cache blob [0-9a-f]{12} was missing, stored again from the workspace/);
  assert.is(readFileSync(blobPath(ws, sha(content))).equals(content), true);
  rmSync(blobPath(ws, sha(content)));
  writeFileSync(join(ws, "out/table.csv"), "k,v\n");
  const gone = verify(ws, "table", "--json");
  assert.is(gone.code, 1);
  assert.equal(gone.json.findings.map((x: Json) => x.kind), ["MISSING-BLOB", "MISMATCH"]);
  assert.match(gone.json.findings[1].files[0].summary, "recorded content unavailable");
});

test("verify: is checked by the schema; --on needs --rebuild and a known host", () => {
  const ws = makeWs(PIPELINE.replace("rtol: 1e-6", "rtol: -1"), { fake: false });
  const r = cli(ws, ["verify"]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, "verify");
  const ok = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ok, ["verify", "--on", "gpu"]).code, 2);
  const nohost = cli(ok, ["verify", "--rebuild", "--on", "nope"]);
  assert.is(nohost.code, 2);
  assert.match(nohost.stderr, "no such host");
});

test.run();

/**
 * `--set NAME=VALUE` var overrides, var values that are templates, and deps that are empty
 * once vars are substituted (issue 12: switching the candle source is configuration).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, buildOk, cli, makeWs, read, write } from "../helpers/rig.js";

const PIPELINE = `version: 1
vars:
  source: synthetic
  files: ""
axes:
  inst: [A, B]
targets:
  candles:
    partition: [inst]
    outputs: { main: "out/{inst}.txt" }
    deps: { files: "{files}" }
    rule: rules/fake.ts
    params: { source: "{source}" }
`;
const FILES = { "broker/A_M1.csv": "rows of A\n", "broker/B_M1.csv": "rows of B\n" };

test("an empty dep is no dependency; --set fills it from a var template bound per partition", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws);
  assert.not.ok(read(ws, "out/A.txt").includes("broker/"), "synthetic: no files input");
  assert.ok(read(ws, "out/A.txt").includes(`"source":"synthetic"`));

  const r = buildOk(ws, ["--set", "source=files", "--set", "files=broker/{inst}_M1.csv"]);
  assert.equal(r.executed, ["candles[inst=A]", "candles[inst=B]"], "a var change reruns");
  assert.ok(read(ws, "out/A.txt").includes("== broker/A_M1.csv\nrows of A\n"), read(ws, "out/A.txt"));
  assert.ok(read(ws, "out/B.txt").includes("== broker/B_M1.csv\nrows of B\n"));
  assert.not.ok(read(ws, "out/B.txt").includes("A_M1"), "each partition gets its own file");
  assert.ok(read(ws, "out/B.txt").includes(`"source":"files"`));

  // The same command line is a no-op; an edit of a declared file reruns only its partition.
  assert.equal(buildOk(ws, ["--set", "source=files", "--set", "files=broker/{inst}_M1.csv"]).executed, []);
  write(ws, "broker/B_M1.csv", "rows of B, revised\n");
  assert.equal(buildOk(ws, ["--set", "source=files", "--set", "files=broker/{inst}_M1.csv"]).executed, ["candles[inst=B]"]);
});

test("status shows the vars in effect and the last build's --set", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws, ["--set=source=files", "--set", "files=broker/{inst}_M1.csv"]);
  const same = cli(ws, ["status", "--set", "source=files", "--set", "files=broker/{inst}_M1.csv"]);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /^vars: files=broker\/\{inst\}_M1\.csv \(--set\), source=files \(--set\)$/m);
  assert.match(same.stdout, /^last build: --set files=broker\/\{inst\}_M1\.csv --set source=files$/m);
  assert.match(same.stdout, /^candles\s+2\s+0\s+0\s+fresh$/m);
  const plain = cli(ws, ["status"]);
  assert.match(plain.stdout, /^vars: files=, source=synthetic$/m);
  assert.match(plain.stdout, /^last build: --set files=\S+ --set source=files \(differs from this command line/m);
  assert.match(plain.stdout, /^candles\s+0\s+2\s+0\s+stale$/m);
  const j = JSON.parse(cli(ws, ["status", "--json"]).stdout);
  assert.equal(j.last_build.set, { files: "broker/{inst}_M1.csv", source: "files" });
});

test("--set of an undeclared var, a malformed --set and a self-referring var are errors", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  const typo = build(ws, ["--set", "sourse=files"]);
  assert.is(typo.code, 2);
  assert.match(typo.stderr, /--set sourse=\.\.\.: no var `sourse` is declared \(vars: files, source\)/);
  const bad = cli(ws, ["--set", "source"]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--set expects NAME=VALUE/);
  const loop = build(ws, ["--set", "files={files}/x"]);
  assert.is(loop.code, 2);
  assert.match(loop.stderr, /var `files` refers to itself \(files -> files\)/);
});

test("a password in a URL var is redacted in cache/vars.json and in status", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws, ["--set", "source=redis://user:s3cret@127.0.0.1:6379/0"]);
  assert.not.match(read(ws, "cache/vars.json"), /s3cret/);
  assert.match(read(ws, "cache/vars.json"), /redis:\/\/user:\*\*\*@127\.0\.0\.1/);
  assert.not.match(cli(ws, ["status", "--set", "source=redis://user:s3cret@127.0.0.1:6379/0"]).stdout, /s3cret/);
});

test("a credential query parameter in a URL var is redacted too", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws, ["--set", "source=https://api.example/x?token=tok3nvalue&n=1"]);
  assert.not.match(read(ws, "cache/vars.json"), /tok3nvalue/);
  assert.match(read(ws, "cache/vars.json"), /token=\*\*\*&n=1/);
});

test.run();

/**
 * The inspection and maintenance commands (explain, status, graph, clean, gc) and shell rules,
 * all through the CLI on temp workspaces.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, cli, editPipeline, exists, listFiles, makeWs, ranIds, read, runsOf, snapshot, write } from "../helpers/rig.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

const PIPELINE = `version: 1
axes:
  p: [a, b]
targets:
  leaf:
    partition: [p]
    outputs: { main: "out/leaf/{p}.txt" }
    deps: { src: "src/{p}.txt" }
    rule: rules/fake.ts
    params: { x: 1 }
  agg:
    outputs: { main: out/agg.txt }
    deps: { leaves: "out/leaf/{p}.txt" }
    rule: rules/fake.ts
  report:
    outputs: { main: out/report.txt }
    deps: { agg: out/agg.txt }
    rule: rules/fake.ts
`;
const FILES = { "src/a.txt": "source a\n", "src/b.txt": "source b\n" };
const IDS = ["agg", "leaf[p=a]", "leaf[p=b]", "report"];

test("13a. explain shows old vs new digests and the upstream producer", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws);
  let r = cli(ws, ["explain", "agg"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^agg: up to date \(key [0-9a-f]{12}\)$/m);

  write(ws, "src/a.txt", "source a, edited\n");
  r = cli(ws, ["explain", "agg"]);
  assert.equal(r.code, 0, r.stderr);
  const old = sha("source a\n").slice(0, 12);
  const neu = sha("source a, edited\n").slice(0, 12);
  assert.match(r.stdout, /^leaf\[p=a\]: input-changed src\/a\.txt$/m);
  assert.ok(r.stdout.includes(`input src/a.txt: ${old} -> ${neu}`), r.stdout);
  assert.match(r.stdout, /^agg: input-changed out\/leaf\/a\.txt — runs only if that upstream output changes$/m);
  const leafA = sha(read(ws, "out/leaf/a.txt")).slice(0, 12);
  assert.ok(r.stdout.includes(`input out/leaf/a.txt: ${leafA} -> (rebuilt upstream), produced by leaf[p=a]`), `old digest and producer of a pending input:\n${r.stdout}`);
  assert.not.match(r.stdout, /leaf\[p=b\]: /, "the untouched partition is not listed as stale");

  // Upstream rebuilt, agg not: both digests of agg's input are known now.
  buildOk(ws, ["leaf"]);
  const oldLeaf = sha(read(ws, "out/leaf/a.txt").replace("source a, edited", "source a")).slice(0, 12);
  const newLeaf = sha(read(ws, "out/leaf/a.txt")).slice(0, 12);
  r = cli(ws, ["explain", "agg"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^agg: input-changed out\/leaf\/a\.txt$/m);
  assert.ok(r.stdout.includes(`input out/leaf/a.txt: ${oldLeaf} -> ${newLeaf}`), r.stdout);
  assert.ok(r.stdout.includes(`produced by leaf[p=a]`), `explain names the upstream producer:\n${r.stdout}`);
});

test("13b. explain of a param change shows old and new values; --json carries the reason", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws);
  editPipeline(ws, "params: { x: 1 }", "params: { x: 2 }");
  const r = cli(ws, ["explain", "leaf"]);
  assert.match(r.stdout, /^leaf\[p=a\]: param-changed x$/m);
  assert.match(r.stdout, /^ {4}param x: 1 -> 2$/m);
  const j = JSON.parse(cli(ws, ["explain", "--json", "report"]).stdout) as { actions: { id: string; reason_text: string; pending: boolean }[] };
  assert.equal(j.actions.map((a) => [a.id, a.reason_text, a.pending]), [
    ["leaf[p=a]", "param-changed x", false],
    ["leaf[p=b]", "param-changed x", false],
    ["agg", "input-changed out/leaf/a.txt", true],
    ["report", "input-changed out/agg.txt", true],
  ]);
});

test("13c. status shows fresh / stale / missing per target", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  const statusJson = () => {
    const r = cli(ws, ["status", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = (JSON.parse(r.stdout) as { targets: { target: string; fresh: number; stale: number; missing: number }[] }).targets;
    return Object.fromEntries(rows.map((x) => [x.target, [x.fresh, x.stale, x.missing]]));
  };
  assert.equal(statusJson(), { leaf: [0, 0, 2], agg: [0, 0, 1], report: [0, 0, 1] }, "never built: missing");
  buildOk(ws);
  assert.equal(statusJson(), { leaf: [2, 0, 0], agg: [1, 0, 0], report: [1, 0, 0] });
  write(ws, "src/b.txt", "source b, edited\n");
  rmSync(join(ws, "out/report.txt"));
  assert.equal(statusJson(), { leaf: [1, 1, 0], agg: [0, 1, 0], report: [0, 0, 1] });
  const text = cli(ws, ["status"]).stdout;
  assert.match(text, /^leaf\s+1\s+1\s+0\s+stale$/m);
  assert.match(text, /^agg\s+0\s+1\s+0\s+stale$/m);
  assert.match(text, /^report\s+0\s+0\s+1\s+missing$/m);
  buildOk(ws);
  assert.match(cli(ws, ["status"]).stdout, /^report\s+1\s+0\s+0\s+fresh$/m);
});

test("13d. graph --format dot|mermaid|json contain the edges", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  const edges = [["agg", "report"], ["leaf", "agg"]];

  const dot = cli(ws, ["graph", "--format", "dot"]);
  assert.equal(dot.code, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph [^{]*\{[\s\S]*\}\s*$/);
  const dotEdges = [...dot.stdout.matchAll(/^\s*"([^"]+)" -> "([^"]+)";$/gm)].map((m) => [m[1], m[2]]).sort();
  assert.equal(dotEdges, edges);

  const mer = cli(ws, ["graph", "--format", "mermaid"]);
  assert.match(mer.stdout, /^graph (LR|TD)\n/);
  const labels = new Map([...mer.stdout.matchAll(/^\s*(\w+)\["([^"]+)"\]$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.equal([...labels.values()].sort(), ["agg", "leaf", "report"]);
  const merEdges = [...mer.stdout.matchAll(/^\s*(\w+) --> (\w+)$/gm)].map((m) => [labels.get(m[1]!), labels.get(m[2]!)]).sort();
  assert.equal(merEdges, edges);

  const js = JSON.parse(cli(ws, ["graph", "--format", "json"]).stdout) as { nodes: { id: string }[]; edges: { from: string; to: string }[] };
  assert.equal(js.nodes.map((n) => n.id).sort(), ["agg", "leaf", "report"]);
  assert.equal(js.edges.map((e) => [e.from, e.to]).sort(), edges);

  const acts = JSON.parse(cli(ws, ["graph", "--format", "json", "--actions"]).stdout) as { nodes: { id: string }[]; edges: { from: string; to: string }[] };
  assert.equal(acts.nodes.map((n) => n.id).sort(), IDS);
  assert.equal(acts.edges.map((e) => `${e.from} -> ${e.to}`).sort(), ["agg -> report", "leaf[p=a] -> agg", "leaf[p=b] -> agg"]);
  assert.equal(cli(ws, ["graph", "--format", "svg"]).code, 2, "unknown format is a usage error");
});

function blob(ws: string, digest: string): string {
  return join(ws, "cache/cas", digest.slice(0, 2), digest);
}

test("14. clean removes outputs and a rebuild restores them from the CAS; gc --max-size 0 keeps what current records use", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws);
  ranIds(ws);
  const v1 = snapshot(ws);

  let r = cli(ws, ["clean"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(listFiles(ws, "out"), [], "clean removed every output");
  let b = buildOk(ws);
  assert.equal(runsOf(ws).size, 0, "nothing ran");
  assert.equal(b.restored, IDS, "everything restored");
  assert.equal(snapshot(ws), v1);

  // Supersede the leaf outputs (and, through them, agg's and report's).
  editPipeline(ws, "params: { x: 1 }", "params: { x: 2 }");
  buildOk(ws);
  assert.equal(ranIds(ws), IDS);
  const v2 = snapshot(ws);
  const oldBlobs = Object.values(v1).map(sha);
  const liveBlobs = Object.values(v2).map(sha);
  for (const d of [...oldBlobs, ...liveBlobs]) assert.ok(existsSync(blob(ws, d)), "both generations are in the CAS before gc");

  r = cli(ws, ["gc", "--max-size", "0"]);
  assert.equal(r.code, 0, r.stderr);
  for (const d of liveBlobs) assert.ok(existsSync(blob(ws, d)), `live blob ${d.slice(0, 12)} kept`);
  for (const d of oldBlobs) assert.not.ok(existsSync(blob(ws, d)), `superseded blob ${d.slice(0, 12)} deleted`);

  b = buildOk(ws);
  assert.equal([b.executed, b.restored], [[], []], "a build after gc is still a no-op");
  assert.equal(cli(ws, ["clean"]).code, 0);
  b = buildOk(ws);
  assert.equal(b.restored, IDS, "after clean, the current outputs are still restorable");
  assert.equal(runsOf(ws).size, 0);
  assert.equal(snapshot(ws), v2);

  // The superseded records went too: reverting the param runs again.
  editPipeline(ws, "params: { x: 2 }", "params: { x: 1 }");
  b = buildOk(ws);
  assert.equal(b.restored, []);
  assert.equal(ranIds(ws), IDS);
  assert.equal(snapshot(ws), v1);
});

test("14b. clean of one target removes only its outputs; the rebuild restores only it", () => {
  const ws = makeWs(PIPELINE, { files: FILES });
  buildOk(ws);
  ranIds(ws);
  assert.equal(cli(ws, ["clean", "agg"]).code, 0);
  assert.equal(listFiles(ws, "out"), ["out/leaf/a.txt", "out/leaf/b.txt", "out/report.txt"]);
  const b = buildOk(ws);
  assert.equal(b.restored, ["agg"]);
  assert.equal(runsOf(ws).size, 0);
});

const SHELL = `version: 1
axes:
  p: [a, b]
targets:
  cat:
    outputs: { main: "out/with space/cat.txt" }
    deps: { b: src/b.txt, a: src/a.txt }
    run: "echo cat >> runs.log && cat {deps} > {out}"
  split:
    outputs: { head: out/head.txt, tail: out/tail.txt }
    deps: { all: "out/with space/cat.txt" }
    run: "echo split >> runs.log && head -n1 {deps} > {out.head} && tail -n1 {deps} > {out.tail}"
  upper:
    partition: [p]
    outputs: { main: "out/upper/{p}.txt" }
    deps: { src: "src/{p}.txt", other: src/b.txt }
    run: "echo 'upper[p={p}]' >> runs.log && tr a-z A-Z < {deps.src} > {out.main}"
`;

test("16. shell rules with {deps} / {out} / {out.NAME} templates", () => {
  const ws = makeWs(SHELL, { files: { "src/a.txt": "alpha\n", "src/b.txt": "beta\n" }, fake: false });
  buildOk(ws);
  assert.equal(ranIds(ws), ["cat", "split", "upper[p=a]", "upper[p=b]"]);
  assert.equal(read(ws, "out/with space/cat.txt"), "alpha\nbeta\n", "{deps}: every input, sorted by path, quoted");
  assert.equal(read(ws, "out/head.txt"), "alpha\n");
  assert.equal(read(ws, "out/tail.txt"), "beta\n");
  assert.equal(read(ws, "out/upper/a.txt"), "ALPHA\n", "{deps.NAME} is that dep only; {out.NAME}");
  assert.equal(read(ws, "out/upper/b.txt"), "BETA\n");
  assert.equal(buildOk(ws).executed, []);
  assert.equal(runsOf(ws).size, 0);

  write(ws, "src/b.txt", "gamma\n");
  buildOk(ws);
  assert.equal(ranIds(ws), ["cat", "split", "upper[p=a]", "upper[p=b]"], "upper[p=a] declares src/b.txt too");
  assert.equal(read(ws, "out/tail.txt"), "gamma\n");

  // Editing one command reruns that target only, as rule-changed.
  editPipeline(ws, "head -n1 {deps}", "head -n 1 {deps}");
  const r = buildOk(ws);
  assert.equal(ranIds(ws), ["split"]);
  assert.equal(r.starts.get("split")?.reason.kind, "rule-changed");
  // Exactly the declared outputs: staging never lands beside them.
  assert.equal(listFiles(ws, "out"), ["out/head.txt", "out/tail.txt", "out/upper/a.txt", "out/upper/b.txt", "out/with space/cat.txt"]);
});

test.run();

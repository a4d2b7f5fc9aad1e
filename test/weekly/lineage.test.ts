/**
 * `dagbuild lineage`: the chain of recorded actions behind an artifact, joined from the action
 * records and the state index. A small shell pipeline over (instrument, week): per-partition
 * prices → per-week aggregates → one report; the report's lineage must list every action once,
 * with the digests the files really have, its host and duration, and the exact partitions.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cli, makeWs, write } from "../helpers/rig.js";

const PIPELINE = `version: 1
default: [report]
axes:
  instrument: [EUR_USD, USD_JPY]
  week: { span: [2025-05-12, 2025-05-19], step: week }
hosts:
  gpu: { transport: local }
targets:
  prices:
    partition: [instrument, week]
    outputs: { p: "data/{instrument}/{week}.txt" }
    deps: { seed: raw/seed.txt }
    params: { instrument: "{instrument}" }
    run: "cat {deps} > {out}; echo {instrument} {week} >> {out}"
  weekly:
    partition: [week]
    outputs: { w: "out/week_{week}.txt" }
    deps: { prices: "data/{instrument}/{week}.txt" }
    run: "cat {deps} > {out}"
  report:
    outputs: { r: out/report.txt }
    deps: { weeks: "out/week_{week}.txt", seed: raw/seed.txt }
    run: "cat {deps} | sort > {out}"
    host: gpu
`;

const sha = (ws: string, rel: string) => createHash("sha256").update(readFileSync(join(ws, rel))).digest("hex");

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function lineage(ws: string, ...args: string[]): { code: number | null; out: string } {
  const r = cli(ws, ["lineage", ...args]);
  return { code: r.code, out: r.stdout + r.stderr };
}

test("lineage --json: every action of the chain once, with real digests, host, duration and partitions", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "raw/seed.txt": "seed\n" } });
  const b = cli(ws, []);
  assert.is(b.code, 0, b.stderr);
  const r = lineage(ws, "out/report.txt", "--json");
  assert.is(r.code, 0, r.out);
  const l = JSON.parse(r.out) as Json;
  assert.is(l.version, 1);
  assert.equal(l.roots, ["report"]);
  const ids = l.actions.map((a: Json) => a.id);
  assert.is(ids.length, 1 + 2 + 4, ids.join(" "));
  assert.is(new Set(ids).size, ids.length, "each action once");
  assert.is(ids[0], "report");
  const report = l.actions[0];
  assert.is(report.host, "gpu");
  assert.ok(Number.isInteger(report.duration_ms) && report.duration_ms >= 0);
  assert.is(report.rule.kind, "shell");
  assert.match(report.rule.hash, /^[0-9a-f]{64}$/);
  assert.equal(report.input_partitions, { week: ["2025-05-12", "2025-05-19"] });
  // The digests are the files' actual content digests.
  for (const i of report.inputs) assert.is(i.digest, sha(ws, i.path), i.path);
  assert.is(report.outputs[0].digest, sha(ws, "out/report.txt"));
  const seed = report.inputs.find((i: Json) => i.path === "raw/seed.txt");
  assert.ok(seed && seed.producer === undefined, "a source has no producer");
  const w = l.actions.find((a: Json) => a.id === "weekly[week=2025-05-19]");
  assert.is(w.depth, 1);
  assert.equal(w.input_partitions, { instrument: ["EUR_USD", "USD_JPY"], week: ["2025-05-19"] });
  assert.equal(w.parents, ["prices[instrument=EUR_USD,week=2025-05-19]", "prices[instrument=USD_JPY,week=2025-05-19]"]);
  const p = l.actions.find((a: Json) => a.id === "prices[instrument=USD_JPY,week=2025-05-19]");
  assert.equal(p.params, { instrument: "USD_JPY" });
  assert.is(p.host, "local");
  assert.is(p.depth, 2);
});

test("lineage tree: shared ancestors print once, --depth cuts the chain", () => {
  const ws = makeWs(PIPELINE.replace("deps: { seed: raw/seed.txt }", "deps: { seed: raw/seed.txt, common: out/common.txt }") +
    `  common:\n    outputs: { c: out/common.txt }\n    deps: { s: raw/seed.txt }\n    run: "cp {deps} {out}"\n`, { fake: false, files: { "raw/seed.txt": "seed\n" } });
  assert.is(cli(ws, []).code, 0);
  const tree = lineage(ws, "out/report.txt");
  assert.is(tree.code, 0, tree.out);
  // common feeds all four prices actions: printed in full once, referenced three times.
  assert.is(tree.out.split("\n").filter((l) => /[├└]─ common$/.test(l)).length, 1, tree.out);
  assert.is(tree.out.split("\n").filter((l) => l.includes("common  (shown above)")).length, 3, tree.out);
  assert.match(tree.out, `host: gpu`);
  assert.match(tree.out, /rule digest [0-9a-f]{12}/);
  const cut = JSON.parse(lineage(ws, "out/report.txt", "--json", "--depth", "1").out) as Json;
  assert.equal(cut.actions.map((a: Json) => a.depth), [0, 1, 1]);
  assert.is(cut.truncated, true);
  const treeCut = lineage(ws, "out/report.txt", "--depth", "1").out;
  assert.match(treeCut, "(beyond --depth)");
  assert.match(treeCut, "(chain cut at --depth 1)");
});

test("lineage marks a link whose producer was rebuilt since, and never-built actions; runs nothing", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "raw/seed.txt": "seed\n" } });
  assert.is(cli(ws, []).code, 0);
  write(ws, "raw/seed.txt", "seed v2\n");
  // Rebuild only one upstream partition: the report's record still names the old digest.
  assert.is(cli(ws, ["weekly[week=2025-05-12]"]).code, 0);
  const before = readFileSync(join(ws, "out/report.txt"), "utf8");
  const l = JSON.parse(lineage(ws, "out/report.txt", "--json").out) as Json;
  const link = l.actions[0].inputs.find((i: Json) => i.path === "out/week_2025-05-12.txt");
  assert.is(link.superseded, true);
  const other = l.actions[0].inputs.find((i: Json) => i.path === "out/week_2025-05-19.txt");
  assert.is(other.superseded, undefined);
  assert.is(readFileSync(join(ws, "out/report.txt"), "utf8"), before, "lineage did not build");
  const fresh = makeWs(PIPELINE, { fake: false, files: { "raw/seed.txt": "seed\n" } });
  const nb = lineage(fresh, "report", "--json");
  assert.is(nb.code, 1);
  assert.is((JSON.parse(nb.out) as Json).actions[0].status, "never-built");
});

test("--openlineage: one COMPLETE RunEvent per action, stable runId, digests as facets", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "raw/seed.txt": "seed\n" } });
  assert.is(cli(ws, []).code, 0);
  const r = cli(ws, ["lineage", "out/report.txt", "--openlineage"]);
  assert.is(r.stderr, "");
  const lines = r.stdout.trim().split("\n");
  assert.is(lines.length, 7);
  const ev = lines.map((x) => JSON.parse(x) as Json);
  for (const e of ev) {
    assert.is(e.eventType, "COMPLETE");
    assert.match(e.run.runId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.is(ev[0].job.name, "report");
  assert.is(ev[0].outputs[0].facets.dagbuild_digest.sha256, sha(ws, "out/report.txt"));
  const again = lineage(ws, "out/report.txt", "--openlineage").out.trim().split("\n").map((x) => JSON.parse(x) as Json);
  assert.equal(again.map((e) => e.run.runId), ev.map((e) => e.run.runId));
});

test.run();

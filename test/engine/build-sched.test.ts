/**
 * Scheduling: the result must not depend on the order the scheduler picks ready actions
 * (in-process runBuild with a seeded `shuffle` hook, several seeds, -j 1..4), and a host's
 * resource limit must hold under -j 2 (start/end times recorded by the fake rule).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, buildInProcess, makeWs, ranIds, runsOf, seededShuffle, snapshot, traceOf, write } from "../helpers/rig.js";

const WEEKS = ["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"];
const PS = ["a", "b", "c", "d"];
const PIPELINE = `version: 1
axes:
  p: [${PS.join(", ")}]
  week: { span: [${WEEKS[0]}, ${WEEKS[WEEKS.length - 1]}], step: week }
targets:
  leaf:
    partition: [p]
    outputs: { main: "out/leaf/{p}.txt" }
    deps: { src: "src/{p}.txt" }
    rule: rules/fake.ts
  mid:
    partition: [p]
    outputs: { main: "out/mid/{p}.txt", side: "out/mid/{p}.side" }
    deps: { leaf: "out/leaf/{p}.txt" }
    rule: rules/fake.ts
  cut:
    partition: [p]
    outputs: { main: "out/cut/{p}.txt" }
    deps: { leaf: "out/leaf/{p}.txt" }
    rule: rules/fake.ts
    params: { const: "same every time" }
  agg:
    outputs: { main: out/agg.txt }
    deps: { mids: "out/mid/{p}.txt", cuts: "out/cut/{p}.txt" }
    rule: rules/fake.ts
  chain:
    partition: [week]
    outputs: { state: "out/chain/{week}.txt" }
    deps: { src: "src/w-{week}.txt", prev: "out/chain/{week-1}.txt", agg: out/agg.txt }
    rule: rules/fake.ts
  final:
    outputs: { main: out/final.txt }
    deps: { chain: "out/chain/{week.last}.txt", cut: "out/cut/a.txt" }
    rule: rules/fake.ts
`;
const FILES: Record<string, string> = {};
for (const p of PS) FILES[`src/${p}.txt`] = `source ${p}\n`;
for (const w of WEEKS) FILES[`src/w-${w}.txt`] = `week ${w}\n`;

const ALL = [
  "agg",
  ...WEEKS.map((w) => `chain[week=${w}]`),
  ...PS.map((p) => `cut[p=${p}]`),
  "final",
  ...PS.map((p) => `leaf[p=${p}]`),
  ...PS.map((p) => `mid[p=${p}]`),
].sort();
/** After editing src/c.txt and week 3's source: cut[p=c] reruns but is cut off. */
const AFTER_EDIT = ["agg", "chain[week=2025-01-20]", "chain[week=2025-01-27]", "chain[week=2025-01-06]", "chain[week=2025-01-13]", "cut[p=c]", "final", "leaf[p=c]", "mid[p=c]"].sort();

function edit(ws: string): void {
  write(ws, "src/c.txt", "source c, edited\n");
  write(ws, "src/w-2025-01-20.txt", "week 3, edited\n");
}

test("11. shuffled scheduling order gives the same outputs and the same run set (seeds x -j 1..4)", async () => {
  // Reference: unshuffled, one job.
  const ref = makeWs(PIPELINE, { files: FILES });
  const r0 = await buildInProcess(ref, { jobs: 1 });
  assert.ok(r0.summary.ok);
  assert.equal(ranIds(ref), ALL);
  const refClean = snapshot(ref);
  edit(ref);
  await buildInProcess(ref, { jobs: 1 });
  assert.equal(ranIds(ref), AFTER_EDIT);
  const refEdited = snapshot(ref);

  const orders = new Set<string>();
  for (const seed of [1, 7, 42]) {
    for (const jobs of [1, 2, 3, 4]) {
      const what = `seed ${seed}, -j ${jobs}`;
      const ws = makeWs(PIPELINE, { files: FILES });
      const { summary, sink } = await buildInProcess(ws, { jobs, shuffle: seededShuffle(seed * 100 + jobs) });
      assert.ok(summary.ok, `${what}: ok`);
      assert.equal([...summary.built].sort(), ALL, `${what}: built set`);
      assert.equal(ranIds(ws), ALL, `${what}: each action ran once`);
      assert.equal(snapshot(ws), refClean, `${what}: outputs`);
      if (jobs === 1) orders.add(sink.of("action-start").map((e) => e.id).join(" "));

      edit(ws);
      const again = await buildInProcess(ws, { jobs, shuffle: seededShuffle(seed * 1000 + jobs) });
      assert.ok(again.summary.ok);
      assert.equal([...again.summary.built].sort(), AFTER_EDIT, `${what}: incremental built set`);
      assert.equal(ranIds(ws), AFTER_EDIT, `${what}: incremental runs`);
      assert.equal(snapshot(ws), refEdited, `${what}: incremental outputs`);
      const noop = await buildInProcess(ws, { jobs, shuffle: seededShuffle(seed) });
      assert.equal(noop.summary.built, [], `${what}: then a no-op`);
      assert.equal(runsOf(ws).size, 0);
    }
  }
  assert.ok(orders.size > 1, `the shuffle hook changed the execution order (${orders.size} distinct orders)`);
});

const GPU_PIPELINE = (limit: boolean) => `version: 1
axes:
  p: [a, b, c, d]
hosts:
  gpu: { transport: local, resources: { gpu: 1 } }
targets:
  train:
    partition: [p]
    outputs: { main: "out/train/{p}.txt" }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
    params: { sleep_ms: 300 }
    host: gpu
${limit ? "    resources: { gpu: 1 }\n" : ""}  prep:
    partition: [p]
    outputs: { main: "out/prep/{p}.txt" }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
    params: { sleep_ms: 300 }
`;

type Span = { id: string; start: number; end: number };
const overlaps = (a: Span, b: Span) => a.start < b.end && b.start < a.end;
function overlappingPairs(spans: Span[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < spans.length; i++) for (let j = i + 1; j < spans.length; j++) if (overlaps(spans[i]!, spans[j]!)) out.push(`${spans[i]!.id} & ${spans[j]!.id}`);
  return out;
}

test("17. -j 2 with resources {gpu: 1} never runs two gpu actions at once", () => {
  const ws = makeWs(GPU_PIPELINE(true), { files: { "src/in.txt": "x\n" } });
  const r = build(ws, ["-j", "2"]);
  assert.equal(r.code, 0, r.stderr);
  const spans = traceOf(ws);
  assert.equal(spans.length, 8);
  const gpu = spans.filter((s) => s.id.startsWith("train["));
  assert.equal(gpu.length, 4);
  assert.equal(overlappingPairs(gpu), [], "gpu actions overlapped");
  assert.ok(overlappingPairs(spans).length > 0, "-j 2 did run actions in parallel");
  for (const s of r.events) if (s.type === "action-start" && s.id.startsWith("train[")) assert.equal(s.host, "gpu");

  // Control: the same pipeline without the resource request does overlap gpu-host actions,
  // so the check above can fail.
  const ctl = makeWs(GPU_PIPELINE(false), { files: { "src/in.txt": "x\n" } });
  assert.equal(build(ctl, ["-j", "2", "train"]).code, 0);
  assert.ok(overlappingPairs(traceOf(ctl)).length > 0, "without the limit two train actions overlap");
});

test.run();

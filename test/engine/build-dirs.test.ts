// Directory outputs and deps on files inside them; sources edited while their action runs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { buildInProcess, buildOk, dryRun, makeWs, read, write, spawnCli, waitFor, exists } from "../helpers/rig.js";
import { loadGraph } from "../../src/engine/graph.js";
import { Checker, dirAware } from "../../src/engine/plan.js";
import { actionKey } from "../../src/engine/fingerprint.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";
import { ActionCache } from "../../src/engine/cache/action-cache.js";
import { Cas } from "../../src/engine/cache/cas.js";
import { workspacePaths } from "../../src/engine/workspace.js";

const DIRS = `version: 1
targets:
  gen:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "mkdir -p {out}/sub && cp src.txt {out}/a.txt && echo side > {out}/sub/b.txt"
  use:
    outputs: [out/use.txt]
    deps: [gen/a.txt]
    run: "cat {deps} > {out}"
`;

test("a dep on a file inside a directory output builds, stays fresh, and follows changes", () => {
  const ws = makeWs(DIRS, { fake: false, files: { "src.txt": "hello\n" } });
  const first = buildOk(ws);
  assert.equal(first.executed, ["gen", "use"]);
  assert.is(read(ws, "out/use.txt"), "hello\n");
  assert.equal(buildOk(ws).executed, [], "second build is a no-op");
  write(ws, "src.txt", "bye\n");
  assert.equal(dryRun(ws).actions.map((a) => a.id), ["gen", "use"]);
  assert.equal(buildOk(ws).executed, ["gen", "use"]);
  assert.is(read(ws, "out/use.txt"), "bye\n");
});

test("a source edited while its action runs is not recorded under the old content's key", async () => {
  const ws = makeWs(
    `version: 1
targets:
  slow:
    outputs: [out/a.txt]
    deps: [src.txt]
    run: "touch started; while [ -f hold ]; do sleep 0.02; done; cat {deps} > {out}"
`,
    { fake: false, files: { "src.txt": "aaa\n", hold: "" } },
  );
  // The action waits for the edit (removing \`hold\`), not a fixed sleep the edit could miss under load.
  const bg = spawnCli(ws, ["--json"]);
  await waitFor(() => exists(ws, "started"), "the action started");
  write(ws, "src.txt", "bbb\n");
  rmSync(join(ws, "hold"));
  const r = await bg.exited;
  assert.is.not(r.code, 0, "the build reports the changed input");
  assert.match(bg.stdout() + bg.stderr(), "changed during the build");
  // Reverting to the content the action saw must not restore output built from the other one.
  write(ws, "src.txt", "aaa\n");
  buildOk(ws);
  assert.is(read(ws, "out/a.txt"), "aaa\n");
  write(ws, "src.txt", "bbb\n");
  buildOk(ws);
  assert.is(read(ws, "out/a.txt"), "bbb\n");
});

test("the checker's quick key equals the key of the full material for every kind of dep and output", async () => {
  const ws = makeWs(
    `version: 1
axes:
  p: [a, b]
targets:
  gen:
    outputs: ["gen/"]
    deps: [src/a.txt]
    run: "mkdir -p {out} && cp src/a.txt {out}/x.txt"
  leaf:
    partition: [p]
    outputs: { main: "out/leaf/{p}.txt", side: "out/side/{p}.txt" }
    deps: { src: "src/{p}.txt", inside: gen/x.txt, whole: "gen/" }
    run: "cat {deps.src} > {out.main} && cp {deps.src} {out.side}"
  agg:
    outputs: [out/agg.txt]
    deps: ["out/leaf/{p}.txt", "src/*.txt"]
    run: "cat {deps} > {out}"
`,
    { fake: false, files: { "src/a.txt": "a\n", "src/b.txt": "b\n" } },
  );
  await buildInProcess(ws);
  const loaded = await loadGraph(ws);
  if (!loaded.ok) throw new Error("load failed");
  const graph = loaded.graph;
  const paths = workspacePaths(graph.root);
  const checker = new Checker(graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas));
  const lookup = dirAware(graph, (p) => {
    const producer = graph.producers.get(p);
    return producer ? checker.recordedOutput(producer, p) : undefined;
  });
  for (const id of graph.order) {
    const node = graph.actions.get(id)!;
    const m = checker.material(node, lookup);
    if (!("material" in m)) throw new Error(`${id}: inputs unknown`);
    assert.is(checker.quickKey(node, lookup), actionKey(m.material), id);
    assert.is(checker.state.actions.get(id)?.k, actionKey(m.material), `${id}: as recorded`);
  }
});

test.run();

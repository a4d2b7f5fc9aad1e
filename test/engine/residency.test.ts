/**
 * The residency rule (src/engine/residency.ts) on a loaded graph, without any host: which
 * outputs of ssh actions stay where they were made (not a goal; every reader of the loaded
 * graph on the same host), and how the checker treats a resident output (present by its record,
 * missing once its host was found to lack it). The end-to-end behaviour over a real sshd is
 * test/hosts/resident.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadGraph } from "../../src/engine/graph.js";
import type { Graph } from "../../src/engine/graph-types.js";
import { goalsOf, residencyPolicy } from "../../src/engine/residency.js";
import { select } from "../../src/engine/select.js";
import { Checker } from "../../src/engine/plan.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";
import { ActionCache } from "../../src/engine/cache/action-cache.js";
import { Cas } from "../../src/engine/cache/cas.js";
import { workspacePaths } from "../../src/engine/workspace.js";
import { makeWs } from "../helpers/rig.js";

const SSH = (name: string) => `{ transport: ssh, host: 127.0.0.1, user: u, known_hosts: ${name}.known, workdir: /srv/${name} }`;
const PIPELINE = `version: 1
default: [c]
hosts:
  gpu: ${SSH("gpu")}
  droplet: ${SSH("droplet")}
targets:
  a: { outputs: { a: data/a.txt, side: data/side.txt }, deps: { in: raw/in.txt }, run: "cp {deps} {out.a}; cp {deps} {out.side}", host: gpu }
  b: { outputs: { b: data/b.txt }, deps: { a: data/a.txt }, run: "cp {deps} {out}", host: gpu }
  gen: { outputs: { d: data/gen/ }, deps: { in: raw/in.txt }, run: "mkdir -p {out}; cp {deps} {out}/x.txt", host: gpu }
  c: { outputs: { c: out/c.txt }, deps: { b: data/b.txt, x: data/gen/x.txt }, run: "cat {deps} > {out}", host: gpu }
  shared: { outputs: { s: data/s.txt }, deps: { in: raw/in.txt }, run: "cp {deps} {out}", host: gpu }
  here: { outputs: { h: out/h.txt }, deps: { s: data/s.txt }, run: "cp {deps} {out}" }
  there: { outputs: { t: out/t.txt }, deps: { s: data/side.txt }, run: "cp {deps} {out}", host: droplet }
`;

async function load(): Promise<Graph> {
  const ws = makeWs(PIPELINE, { fake: false, files: { "raw/in.txt": "x\n" } });
  const r = await loadGraph(ws);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join("; "));
  return r.graph;
}

const kept = (graph: Graph, goals: Set<string>) => {
  const policy = residencyPolicy(graph, goals);
  const out: Record<string, string[]> = {};
  for (const node of graph.actions.values()) {
    const k = policy(node);
    if (k) out[node.id] = [...k].sort();
  }
  return out;
};

test("what only the same host reads, and is no goal, stays there", async () => {
  const graph = await load();
  const sel = select(graph, ["c"]);
  assert.ok(sel.ok);
  // a's side output is read on droplet, s here: they come back; c is the default target (a goal).
  // `there` (droplet) has no reader and is no goal of this build: it would stay (a build names it to get it).
  assert.equal(kept(graph, goalsOf(graph, sel.ok ? sel.roots : [])), { a: ["a"], b: ["b"], gen: ["d"], there: ["t"] });
  // Named on the command line: b's and there's outputs are goals and come back; the default stays a goal.
  assert.equal(kept(graph, goalsOf(graph, ["b", "there"])), { a: ["a"], gen: ["d"] });
  // gpu made local (`--host gpu=local`): nothing of gpu's is resident.
  assert.equal(kept({ ...graph, hosts: { ...graph.hosts, gpu: { transport: "local" } } } as Graph, goalsOf(graph, [])), { there: ["t"] });
});

test("the checker: a resident output is present by its record until its host is found to lack it", async () => {
  const graph = await load();
  const paths = workspacePaths(graph.root);
  const checker = new Checker(graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas));
  const resident = { p: "data/b.txt", d: "a".repeat(64), z: 3, m: 0, i: 0, c: 0, h: "gpu" };
  assert.is(checker.checkOutput(resident), undefined, "nothing in the workspace, yet present");
  assert.equal(checker.checkOutput({ ...resident, h: undefined }), { kind: "output-missing", path: "data/b.txt" }, "a record without h is a workspace file");
  checker.residentGone.set("data/b.txt", "gpu");
  assert.equal(checker.checkOutput(resident), { kind: "output-missing", path: "data/b.txt", on: "gpu" });
  // The h field round-trips through the state index.
  checker.state.recordAction("b", { k: "k".repeat(64), o: { b: resident } });
  assert.equal(StateIndex.load(paths.state).actions.get("b")?.o.b, resident);
});

test.run();

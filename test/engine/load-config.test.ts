/** Load phase: includes, vars, params_file, hosts, tools and defaults. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadGraph } from "../../src/engine/graph.js";
import type { CommandRunner } from "../../src/engine/tool-versions.js";
import { loadErr, loadOk, RULES, short, workspace } from "../fixtures/pipelines/rig.js";

test("includes: globs expanded sorted, vars shared, targets after the pipeline's", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": ["version: 1", "include: [targets/*.yaml]", "vars: { d: out }", "targets:", "  main: { outputs: [\"{d}/main\"], rule: rules/a.ts }"],
    "targets/b.yaml": ["targets:", "  tb: { outputs: [\"{d}/{e}/b\"], rule: rules/a.ts }"],
    "targets/a.yaml": ["vars: { e: sub }", "targets:", "  ta: { outputs: [\"{d}/a\"], deps: [out/sub/b], rule: rules/a.ts }"],
  });
  assert.equal([...g.actions.keys()], ["main", "ta", "tb"]);
  assert.equal(g.actions.get("tb")!.outputs["0"]!.path, "out/sub/b");
  assert.equal(g.actions.get("tb")!.loc, { file: "targets/b.yaml", line: 2, col: 3 });
  assert.equal(g.order, ["main", "tb", "ta"]);
  assert.equal(g.defaults, ["main", "ta", "tb"], "no default: every target");
});

test("a var defined in two files is an error naming both", async () => {
  const d = await loadErr({
    "pipeline.yaml": ["version: 1", "include: [x.yaml]", "vars: { a: 1 }"],
    "x.yaml": ["vars:", "  a: 2"],
  });
  assert.equal(d.map(short), ["x.yaml:2:3 schema"]);
  assert.equal(d[0]!.notes![0]!.loc, { file: "pipeline.yaml", line: 3, col: 9 });
});

test("params_file keys merge under params", async () => {
  const g = await loadOk({
    ...RULES,
    "config/params.yaml": ["replay: { p: 0.5, tags: [a, b] }", "other: 2"],
    "pipeline.yaml": [
      "version: 1",
      "targets:",
      "  a:",
      "    outputs: [o]",
      "    rule: rules/a.ts",
      "    params: { seed: 1 }",
      "    params_file: { file: config/params.yaml, keys: [replay] }",
    ],
  });
  assert.equal(g.actions.get("a")!.params, { seed: 1, replay: { p: 0.5, tags: ["a", "b"] } });
});

test("hosts: without a hosts section every named host is local", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": ["version: 1", "targets:", "  a: { outputs: [o], rule: rules/a.ts, host: gpu }", "  b: { outputs: [p], rule: rules/a.ts }"],
  });
  assert.equal(g.hosts, { local: { transport: "local" }, gpu: { transport: "local" } });
  assert.equal(g.actions.get("a")!.host, "gpu");
  assert.equal(g.actions.get("b")!.host, "local");
});

const SSH = "{ transport: ssh, host: 127.0.0.1, port: 2222, user: u, known_hosts: k, workdir: /w, resources: { gpu: 1 } }";

test("hosts_file supplies hosts; --host NAME=local keeps resources", async () => {
  const files = {
    ...RULES,
    "config/hosts.yaml": ["hosts:", `  gpu: ${SSH}`],
    "pipeline.yaml": ["version: 1", "hosts_file: config/hosts.yaml", "targets:", "  a: { outputs: [o], rule: rules/a.ts, host: gpu }"],
  };
  const g = await loadOk(files);
  assert.equal(g.hosts.gpu!.transport, "ssh");
  const o = await loadOk(files, { hostOverrides: { gpu: "local" } });
  assert.equal(o.hosts.gpu, { transport: "local", resources: { gpu: 1 } });
});

test("hosts_file: missing file, and schema errors located in it", async () => {
  const d1 = await loadErr({ "pipeline.yaml": ["version: 1", "hosts_file: nope.yaml"] });
  assert.equal(d1.map(short), ["pipeline.yaml:2:13 include-missing"]);
  const d2 = await loadErr({ "pipeline.yaml": ["version: 1", "hosts_file: h.yaml"], "h.yaml": ["hosts:", "  g: { transport: ssh, host: x, user: u, known_hosts: k, workdir: w, pass: p }"] });
  assert.equal(d2.map(short), ["h.yaml:2:70 schema"]);
  assert.match(d2[0]!.message, /unknown key `pass`/);
});

test("tool versions: literal, command first line (run once), failures located", async () => {
  const calls: string[] = [];
  const runner: CommandRunner = {
    async run(cmd) {
      calls.push(cmd);
      if (cmd === "boom") return { ok: false, message: "exit 127: boom: not found" };
      return { ok: true, stdout: "\n  2.1.0  \nsecond line\n" };
    },
  };
  const files = {
    ...RULES,
    "pipeline.yaml": [
      "version: 1",
      "tools:",
      "  xgb: { version: \"1.7.4\" }",
      "  py: { command: \"python3 --version\" }",
      "  unused: { command: boom }",
      "targets:",
      "  a: { outputs: [o], rule: rules/a.ts, tools: [xgb, py] }",
      "  b: { outputs: [p], rule: rules/a.ts, tools: [py] }",
    ],
  };
  const r = await loadGraph(workspace(files), { runner });
  assert.ok(r.ok);
  assert.equal(r.ok && r.graph.actions.get("a")!.tools, { xgb: "1.7.4", py: "2.1.0" });
  assert.equal(calls, ["python3 --version"], "run once, unused tools never run");
  const bad = { ...files, "pipeline.yaml": [...files["pipeline.yaml"].slice(0, 6), "  a: { outputs: [o], rule: rules/a.ts, tools: [unused] }"] };
  const r2 = await loadGraph(workspace(bad), { runner });
  assert.equal(!r2.ok && r2.diagnostics.map(short), ["pipeline.yaml:5:3 unknown-tool"]);
});

test("tool version commands really run (shell runner)", async () => {
  const g = await loadOk({
    ...RULES,
    "pipeline.yaml": ["version: 1", "tools: { echo: { command: \"echo 3.2.1; echo x\" } }", "targets:", "  a: { outputs: [o], rule: rules/a.ts, tools: [echo] }"],
  });
  assert.equal(g.actions.get("a")!.tools, { echo: "3.2.1" });
});

test("default: targets and output paths; a name that matches nothing is located", async () => {
  const base = ["version: 1", "targets:", "  a: { outputs: [out/x/a.txt], rule: rules/a.ts }"];
  const g = await loadOk({ ...RULES, "pipeline.yaml": ["default: [a, out/x/a.txt, out/x]", ...base] });
  assert.equal(g.defaults, ["a", "out/x/a.txt", "out/x"]);
  const d = await loadErr({ ...RULES, "pipeline.yaml": ["default: [a, nope]", ...base] });
  assert.equal(d.map(short), ["pipeline.yaml:1:14 unknown-target"]);
});

test("pipeline file option and a missing pipeline", async () => {
  const root = workspace({ ...RULES, "alt.yaml": ["version: 1", "targets: { a: { outputs: [o], rule: rules/a.ts } }"] });
  const r = await loadGraph(root, { file: "alt.yaml" });
  assert.ok(r.ok && r.graph.pipelineFile === "alt.yaml" && r.graph.root === root);
  const r2 = await loadGraph(root);
  assert.equal(!r2.ok && r2.diagnostics.map(short), ["- include-missing"]);
});

test.run();

/**
 * Edits that land while a build runs never poison the action cache: a rule module edited
 * between an action's decision and its run, an upstream output edited while its consumer
 * runs, a rule edited during an incremental build (whose untouched actions were settled from
 * the no-op manifest without hashing their rules).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { buildOk, cli, exists, makeWs, read, spawnCli, waitFor, write } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";
import { engineFiles, RACY_MS } from "../../src/engine/cache/noop-writer.js";

const verRule = (v: string) => `// test rule ${v}
import { writeFileSync } from "node:fs";
export default {
  describe: "writes its version",
  async run(ctx) {
    for (const o of Object.values(ctx.outputs)) writeFileSync(o, "ver: ${v}\\n");
  },
};
`;

/** Puts every file of the workspace (but cache/ and out*) a few seconds in the past. */
function ageAll(ws: string): void {
  const t = (Date.now() - 5000) / 1000;
  const walk = (rel: string) => {
    for (const e of readdirSync(join(ws, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (r !== "cache" && !r.startsWith("out")) walk(r);
      } else utimesSync(join(ws, r), t, t);
    }
  };
  walk("");
}

async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

test("a rule edited between its action's decision and its run is not recorded under the old rule's key", async () => {
  const ws = makeWs(`version: 1
targets:
  first:
    outputs: { main: out/first.txt }
    deps: [src.txt]
    run: "touch started; while [ -f hold ]; do sleep 0.02; done; cp src.txt {out.main}"
  second:
    outputs: [out/second.txt]
    deps: [src2.txt]
    rule: rules/ver.ts
`, { fake: false, files: { "src.txt": "x\n", "src2.txt": "x\n" } });
  writeModule(ws, "rules/ver.ts", verRule("v1"));
  buildOk(ws);
  // Both stale; with -j 1, second is decided at once but waits for first's slot.
  write(ws, "src.txt", "y\n");
  write(ws, "src2.txt", "y\n");
  write(ws, "hold", "");
  rmSync(join(ws, "started"), { force: true }); // left by the first build
  const bg = spawnCli(ws, ["--json", "-j", "1"]);
  await waitFor(() => exists(ws, "started"), "first started");
  writeModule(ws, "rules/ver.ts", verRule("v2")); // decided with v1's hash; not yet imported
  rmSync(join(ws, "hold"));
  await bg.exited;
  // Whatever this build did, v1's key must never hold v2's output: revert and build.
  writeModule(ws, "rules/ver.ts", verRule("v1"));
  buildOk(ws);
  assert.is(read(ws, "out/second.txt"), "ver: v1\n");
  writeModule(ws, "rules/ver.ts", verRule("v2"));
  buildOk(ws);
  assert.is(read(ws, "out/second.txt"), "ver: v2\n");
});

test("an upstream output edited while its consumer runs fails the consumer; nothing wrong is recorded", async () => {
  const ws = makeWs(`version: 1
targets:
  up:
    outputs: { main: out/up.txt }
    deps: [src.txt]
    run: "cp src.txt {out.main}"
  down:
    outputs: { main: out/down.txt }
    deps: [out/up.txt]
    run: "touch started; while [ -f hold ]; do sleep 0.02; done; cat {deps} > {out.main}"
`, { fake: false, files: { "src.txt": "good\n" } });
  buildOk(ws);
  write(ws, "src.txt", "good2\n");
  write(ws, "hold", "");
  rmSync(join(ws, "started"), { force: true }); // left by the first build
  const bg = spawnCli(ws, ["--json"]);
  await waitFor(() => exists(ws, "started"), "down started");
  write(ws, "out/up.txt", "tampered\n");
  rmSync(join(ws, "hold"));
  const r = await bg.exited;
  assert.is(r.code, 1, bg.stdout());
  assert.match(bg.stdout(), "out/up.txt changed during the build");
  // The next build puts up's output back and rebuilds down from it.
  buildOk(ws);
  assert.is(read(ws, "out/up.txt"), "good2\n");
  assert.is(read(ws, "out/down.txt"), "good2\n");
});

test("a rule edited during an incremental build is rebuilt by the next build (the manifest does not vouch for it)", async () => {
  await engineSettled();
  const ws = makeWs(`version: 1
targets:
  slow:
    outputs: { main: out/slow.txt }
    deps: [src/slow.txt]
    run: "touch started; while [ -f hold ]; do sleep 0.02; done; cp src/slow.txt {out.main}"
  other:
    outputs: [out/other.txt]
    deps: [src/other.txt]
    rule: rules/ver.ts
`, { fake: false, files: { "src/slow.txt": "s1\n", "src/other.txt": "o\n" } });
  writeModule(ws, "rules/ver.ts", verRule("v1"));
  ageAll(ws);
  buildOk(ws);
  assert.match(cli(ws, []).stderr, "nothing to do");
  write(ws, "src/slow.txt", "s2\n"); // only slow's source moved: other is settled from the manifest
  write(ws, "hold", "");
  rmSync(join(ws, "started"), { force: true }); // left by the first build
  const bg = spawnCli(ws, []);
  await waitFor(() => exists(ws, "started"), "slow started");
  writeModule(ws, "rules/ver.ts", verRule("v2"));
  // An edit old enough not to be racy by the time the build ends (a long build).
  const t = (Date.now() - 5000) / 1000;
  for (const f of ["rules/ver.ts", "rules/ver.js"]) utimesSync(join(ws, f), t, t);
  rmSync(join(ws, "hold"));
  const r = await bg.exited;
  assert.is(r.code, 0, bg.stderr());
  // A plain build (the fast path may answer) must not say "nothing to do": other's rule changed.
  const next = cli(ws, []);
  assert.is(next.code, 0, next.stderr);
  assert.not.match(next.stderr, "nothing to do");
  assert.is(read(ws, "out/other.txt"), "ver: v2\n");
});

test("a pipeline edited while the fast path runs tool commands is not judged by the old graph's moved files", async () => {
  await engineSettled();
  const ws = makeWs(`version: 1
tools:
  t: { command: "touch tool-ran; while [ -f hold ]; do sleep 0.02; done; echo v1" }
targets:
  a:
    outputs: [out/a.txt]
    deps: [src/a.txt]
    run: "cp src/a.txt {out}"
    tools: [t]
  b:
    outputs: [out/b.txt]
    deps: [src/b.txt]
    rule: rules/fake.ts
    params: { x: 1 }
`, { files: { "src/a.txt": "a1\n", "src/b.txt": "b\n" } });
  ageAll(ws);
  buildOk(ws);
  assert.match(cli(ws, []).stderr, "nothing to do");
  write(ws, "src/a.txt", "a2\n"); // only a's source moved: b would be settled from the manifest
  rmSync(join(ws, "tool-ran"), { force: true });
  // The tool command waits while `hold` exists: the fast path has checked its stamps and sits
  // in the tool run until the edit is done (no timing window), and the build loads after it.
  write(ws, "hold", "");
  process.env.DAGBUILD_TRACE_NOOP = "1";
  const bg = spawnCli(ws, []);
  delete process.env.DAGBUILD_TRACE_NOOP;
  await waitFor(() => exists(ws, "tool-ran"), "the fast path runs the tool");
  // Edited between the fast path's stamp check and the build's load; an old mtime, so that
  // nothing but the content tells (and the manifest is not refused as racy).
  const text = read(ws, "pipeline.yaml").replace("params: { x: 1 }", "params: { x: 2 }");
  write(ws, "pipeline.yaml", text);
  const t = (Date.now() - 5000) / 1000;
  utimesSync(join(ws, "pipeline.yaml"), t, t);
  rmSync(join(ws, "hold"));
  const r = await bg.exited;
  assert.is(r.code, 0, bg.stderr());
  // That build loaded the edited pipeline, dropped the fast path's moved-files hint, and reran b.
  assert.match(bg.stderr(), /incremental hint dropped: \S*pipeline\.yaml changed/);
  assert.match(read(ws, "out/b.txt"), '"x":2');
  const next = cli(ws, []);
  assert.is(next.code, 0, next.stderr);
  assert.match(read(ws, "out/b.txt"), '"x":2');
});

test.run();
